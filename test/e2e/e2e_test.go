// Package e2e runs a real Fluent Bit over Fargate-shaped container logs —
// tail → CRI parser → kubernetes filter (fed from a preload cache, no API
// server) → kubeship — into a real Loki, and reads back what arrived.
// Fluent Bit is found through $FLUENT_BIT or PATH; without it every test
// here says SKIPPED (and fails under `make e2e`).
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/ddintake"
	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/faultinject"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
	"github.com/kubeship/kubeship/test/lokiserver"
)

var ctx = context.Background()

func TestMain(m *testing.M) {
	if bin, err := fluentbit.Find(); err == nil {
		fmt.Printf("e2e: using %s (%s)\n", bin, fluentbit.Version(bin))
	} else {
		fmt.Printf("e2e: SKIPPING every real-Fluent-Bit test: %v\n", err)
	}
	code := m.Run()
	lokiserver.StopShared() // the tests that do not restart Loki share one
	os.Exit(code)
}

// env is one test's Fluent Bit inputs: log files, pod metadata, storage.
type env struct {
	t                  *testing.T
	bin, so, root      string
	dir, logs, meta    string
	run                string // label value that tells this test's streams apart
	router             fargate.Router
	pods               []fargate.Pod
	lines              map[string]fargate.Line // by text
	podOf              map[string]fargate.Pod  // by text
	nextLine, longLine int
	rawCRI             bool // the router runs without the CRI parser filter
}

func newEnv(t *testing.T) *env {
	bin := fluentbit.Need(t)
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(root, "build", "out_kubeship.so")
	if _, err := os.Stat(so); err != nil {
		t.Fatalf("%s missing: run `make build`", so)
	}
	dir := t.TempDir()
	e := &env{t: t, bin: bin, so: so, root: root, dir: dir,
		logs: filepath.Join(dir, "containers"), meta: filepath.Join(dir, "meta"),
		run:  fmt.Sprintf("%s-%d", strings.ToLower(t.Name()), time.Now().UnixNano()%1e6),
		pods: fargate.Pods(), lines: map[string]fargate.Line{}, podOf: map[string]fargate.Pod{}}
	for _, d := range []string{e.logs, e.meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := fargate.WriteMeta(e.meta, e.pods); err != nil {
		t.Fatal(err)
	}
	if e.router, err = fargate.ReadRouter(filepath.Join(root, "conf", "k8s", "fargate-loki.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "parsers.conf"), []byte(e.router.Parsers), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// write appends n lines to every pod's log: plain and JSON lines, stdout and
// stderr, and, when long, one line over 16 KiB that the runtime splits.
func (e *env) write(n int, long bool) {
	e.t.Helper()
	base := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	for _, p := range e.pods {
		var lines []fargate.Line
		for range n {
			i := e.nextLine
			e.nextLine++
			l := fargate.Line{Time: base.Add(time.Duration(i) * time.Millisecond), Stream: "stdout",
				Text: fmt.Sprintf("run=%s pod=%s line=%d GET /api/orders 200", e.run, p.Name, i)}
			if i%3 == 1 {
				l.Text = fmt.Sprintf(`{"level":"warn","msg":"slow query","run":%q,"line":%d}`, e.run, i)
			}
			if i%5 == 4 {
				l.Stream = "stderr"
			}
			lines = append(lines, l)
		}
		if long {
			e.longLine++
			text := fmt.Sprintf("run=%s long=%d ", e.run, e.longLine) + strings.Repeat("x", 2*fargate.MaxCRILine+100)
			lines = append(lines, fargate.Line{Time: base.Add(time.Duration(e.nextLine) * time.Millisecond), Stream: "stdout", Text: text})
			e.nextLine++
		}
		for _, l := range lines {
			e.lines[l.Text] = l
			e.podOf[l.Text] = p
		}
		if err := fargate.WriteLogs(e.logs, p, lines); err != nil {
			e.t.Fatal(err)
		}
	}
}

// config is the Fargate router's pipeline — its fixed tail input and the
// filters of conf/k8s/fargate-loki.yaml's aws-logging (without the CRI parser filter when
// rawCRI) — then out.
func (e *env) config(service string, rawCRI bool, out string) string {
	filters := e.router.Filters
	e.rawCRI = rawCRI
	if rawCRI {
		filters = fargate.DropFilter(filters, "parser")
	}
	return "[SERVICE]\n    Flush         0.5\n    Grace         5\n    Log_Level     info\n" +
		"    Parsers_File  parsers.conf\n" + service + "\n" +
		fargate.TailInput(e.logs) + "\n" + fargate.OfflineKubernetes(filters, e.meta) + "\n" + out
}

func (e *env) start(config string) *fluentbit.Process {
	e.t.Helper()
	return e.runIn(e.dir, config)
}

func (e *env) runIn(dir, config string) *fluentbit.Process {
	e.t.Helper()
	fb, err := fluentbit.Start(e.bin, e.so, dir, config)
	if err != nil {
		fluentbit.SkipIfMissing(e.t, err)
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := fb.Stop(5 * time.Second); err != nil {
			e.t.Errorf("%v\n%s", err, fb.Logs())
		}
		if e.t.Failed() {
			e.t.Logf("fluent bit output (%s):\n%s", dir, fb.Logs())
		}
	})
	return fb
}

func kubeshipOutput(url, run, extra string) string {
	return fmt.Sprintf("[OUTPUT]\n    Name         kubeship\n    Match        kube.*\n    Workers      2\n    url          %s\n"+
		"    labels       cluster=e2e,run=%s\n    retry_budget 2s\n    timeout      2s\n%s", url, run, extra)
}

// checkLoki waits for every written line and checks each arrived exactly
// once with its pod's labels, structured metadata and time.
func (e *env) checkLoki(s *lokiserver.Server, timeout time.Duration) {
	e.t.Helper()
	streams, err := s.WaitFor(ctx, "", fmt.Sprintf(`{run=%q}`, e.run), len(e.lines), timeout)
	if err != nil {
		e.t.Fatalf("%v", err)
	}
	seen := map[string]int{}
	for _, st := range streams {
		for _, en := range st.Entries {
			seen[en.Line]++
			l, ok := e.lines[en.Line]
			if !ok {
				e.t.Errorf("unexpected line (%d bytes): %.200s", len(en.Line), en.Line)
				continue
			}
			p := e.podOf[en.Line]
			want := map[string]string{"cluster": "e2e", "run": e.run, "namespace": p.Namespace, "container": p.Container}
			if app := appOf(p); app != "" {
				want["app"] = app
			}
			for k, v := range want {
				if st.Labels[k] != v {
					e.t.Errorf("%s line %.60q: label %s=%q, want %q (labels %v)", p.Name, en.Line, k, st.Labels[k], v, st.Labels)
				}
			}
			wantMeta := map[string]string{"pod": p.Name, "pod_id": p.UID, "container_id": p.ContainerID, "node": p.Node, "image": p.Image, "stream": l.Stream}
			for k, v := range wantMeta {
				if en.Metadata[k] != v {
					e.t.Errorf("%s line %.60q: structured metadata %s=%q, want %q", p.Name, en.Line, k, en.Metadata[k], v)
				}
			}
			if strings.HasPrefix(l.Text, "{") && en.Metadata["level"] != "warn" {
				e.t.Errorf("JSON line %.60q: level %q, want warn", en.Line, en.Metadata["level"])
			}
			// Fluent Bit's regex parser computes nanoseconds as a double
			// times 1e9, truncated (src/flb_parser_regex.c), so a parsed
			// time can be 1ns early; raw CRI lines, which kubeship parses,
			// are exact.
			if d := l.Time.Sub(en.Time); d < 0 || d > time.Nanosecond || (e.rawCRI && d != 0) {
				e.t.Errorf("line %.60q: time %s, want %s", en.Line, en.Time.Format(time.RFC3339Nano), l.Time.Format(time.RFC3339Nano))
			}
		}
	}
	for text := range e.lines {
		if n := seen[text]; n != 1 {
			e.t.Errorf("line (%d bytes) %.80q arrived %d times, want once", len(text), text, n)
		}
	}
}

func appOf(p fargate.Pod) string {
	if v := p.Labels["app.kubernetes.io/name"]; v != "" {
		return v
	}
	return p.Labels["app"]
}

// The Fargate router's pipeline delivers every line once, with its pod's
// labels, metadata and nanosecond time, including a line the runtime split.
// Without the CRI parser filter the router leaves raw CRI lines in `log`;
// kubeship reads their time, stream and message and joins split lines.
func TestFargatePipelineToLoki(t *testing.T) {
	for _, tt := range []struct {
		name   string
		rawCRI bool
		lines  int
	}{{"parsed", false, 40}, {"raw_cri_lines", true, 20}} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			s := lokiserver.Shared(t, lokiserver.Options{})
			e.write(tt.lines, true)
			e.start(e.config("", tt.rawCRI, kubeshipOutput(s.PushURL(), e.run, "")))
			e.checkLoki(s, 60*time.Second)
		})
	}
}

// The aggregator topology of conf/k8s: the router's `es` output (from the
// rendered aws-logging ConfigMap) → a second Fluent Bit's `elasticsearch` input →
// kubeship. The original tag and event time cross the hop.
func TestAggregatorToLoki(t *testing.T) {
	e := newEnv(t)
	s := lokiserver.Shared(t, lokiserver.Options{})
	port, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	e.write(20, false)

	aggregator := fmt.Sprintf("[SERVICE]\n    Flush 0.5\n    Grace 5\n    Log_Level info\n\n"+
		"[INPUT]\n    Name elasticsearch\n    Listen 127.0.0.1\n    Port %d\n    Tag_Key flb_tag\n    Buffer_Max_Size 8M\n\n%s",
		port, kubeshipOutput(s.PushURL(), e.run, ""))
	e.startIn("aggregator", aggregator)

	routerOut := strings.NewReplacer("kubeship-aggregator.logging.svc.cluster.local", "127.0.0.1", "9200", fmt.Sprint(port)).Replace(e.router.Output)
	if !strings.Contains(routerOut, fmt.Sprintf("Port               %d", port)) {
		t.Fatalf("fargate-loki.yaml's output.conf no longer has the expected Host/Port lines:\n%s", e.router.Output)
	}
	e.startIn("router", e.config("", false, routerOut))
	e.checkLoki(s, 60*time.Second)
}

// Loki restarted mid-stream, with Fluent Bit's filesystem storage on:
// chunks that failed while Loki was down are retried by Fluent Bit and
// every line arrives (Loki drops exact duplicates of resent requests).
func TestLokiRestartLosesNothing(t *testing.T) {
	e := newEnv(t)
	port, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	lokiDir := filepath.Join(e.dir, "loki")
	s, err := lokiserver.Start(lokiserver.Options{Dir: lokiDir, HTTPPort: port})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Stop() }()

	service := "    storage.path " + filepath.Join(e.dir, "storage") + "\n    scheduler.base 1\n    scheduler.cap 2\n"
	conf := strings.Replace(e.config(service, false, kubeshipOutput(s.PushURL(), e.run, "    Retry_Limit  no_limits\n")),
		"    Name              tail\n", "    Name              tail\n    storage.type      filesystem\n", 1)
	e.write(20, false)
	fb := e.start(conf)
	e.checkLoki(s, 60*time.Second)

	s.Stop()
	e.write(20, false)
	if !fb.WaitLog("connection refused", 30*time.Second) {
		t.Fatalf("kubeship never saw Loki down")
	}
	e.write(20, false)
	time.Sleep(2 * time.Second) // more failed flushes pile up in Fluent Bit's retries
	if s, err = lokiserver.Start(lokiserver.Options{Dir: lokiDir, HTTPPort: port}); err != nil {
		t.Fatal(err)
	}
	e.checkLoki(s, 90*time.Second)
}

// startIn runs a Fluent Bit with its own files in a subdirectory.
func (e *env) startIn(name, config string) *fluentbit.Process {
	e.t.Helper()
	dir := filepath.Join(e.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "parsers.conf"), []byte(e.router.Parsers), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return e.runIn(dir, config)
}

// The router's pipeline into Datadog: every line once, with the Agent's
// Kubernetes tags, its pod's source and service, and its time.
func TestFargatePipelineToDatadog(t *testing.T) {
	e := newEnv(t)
	const key = "e2e0123456789abcdef0123456789abc"
	s, err := ddintake.Start(ddintake.Options{APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e.write(30, true)
	e.start(e.config("", false, fmt.Sprintf("[OUTPUT]\n    Name kubeship\n    Match kube.*\n    Workers 2\n"+
		"    destination datadog\n    apikey %s\n    url %s\n    dd_tags kube_cluster_name:e2e\n", key, s.URL())))
	entries, err := s.WaitEntries(len(e.lines), 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, en := range entries {
		seen[en.Message]++
		l, ok := e.lines[en.Message]
		if !ok {
			t.Errorf("unexpected message (%d bytes): %.200s", len(en.Message), en.Message)
			continue
		}
		p := e.podOf[en.Message]
		for k, v := range map[string]string{"kube_cluster_name": "e2e", "kube_namespace": p.Namespace, "pod_name": p.Name,
			"kube_container_name": p.Container, "container_id": p.ContainerID} {
			if got, _ := en.Tag(k); got != v {
				t.Errorf("%s %.40q: tag %s=%q, want %q (tags %v)", p.Name, en.Message, k, got, v, en.DDTags)
			}
		}
		if en.Hostname != p.Node {
			t.Errorf("%s: hostname %q, want %q", p.Name, en.Hostname, p.Node)
		}
		wantStatus := map[string]string{"stdout": "info", "stderr": "error"}[l.Stream]
		if strings.HasPrefix(l.Text, "{") {
			wantStatus = "warn"
		}
		if en.Status != wantStatus {
			t.Errorf("%s %.40q: status %q, want %q", p.Name, en.Message, en.Status, wantStatus)
		}
		if ms := l.Time.Add(500 * time.Microsecond).UnixMilli(); en.Timestamp != ms { // rounded, as Fluent Bit's datadog output
			t.Errorf("%.40q: timestamp %d, want %d", en.Message, en.Timestamp, ms)
		}
	}
	for text := range e.lines {
		if n := seen[text]; n != 1 {
			t.Errorf("line (%d bytes) %.60q arrived %d times, want once", len(text), text, n)
		}
	}
	if len(entries) > 0 {
		t.Logf("a sample entry as the intake received it: %+v", entries[0].Attrs)
	}
}

// A pod written for the Datadog Agent, through the Fargate router's real
// pipeline (tail, CRI parser, kubernetes filter) to both destinations: its
// log processing rules keep the health check and the secret out of both,
// and its trace ids arrive in each destination's form.
func TestAnnotatedPodThroughFluentBit(t *testing.T) {
	e := newEnv(t)
	p := fargate.AnnotatedPod()
	e.pods = []fargate.Pod{p}
	if err := fargate.WriteMeta(e.meta, e.pods); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	var lines []fargate.Line
	for i, text := range fargate.AnnotatedLines {
		lines = append(lines, fargate.Line{Time: base.Add(time.Duration(i) * time.Millisecond), Stream: "stdout", Text: text})
	}
	if err := fargate.WriteLogs(e.logs, p, lines); err != nil {
		t.Fatal(err)
	}
	const key = "e2e0123456789abcdef0123456789abc"
	dd, err := ddintake.Start(ddintake.Options{APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	s := lokiserver.Shared(t, lokiserver.Options{})
	e.start(e.config("", false, kubeshipOutput(s.PushURL(), e.run, "    pod_log_rules on\n")+
		fmt.Sprintf("[OUTPUT]\n    Name kubeship\n    Match kube.*\n    destination datadog\n    apikey %s\n    url %s\n    cluster_name e2e\n", key, dd.URL())))

	masked := "login ok for user 42 token=[masked]"
	streams, err := s.WaitFor(ctx, "", fmt.Sprintf(`{run=%q}`, e.run), 2, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range streams {
		for _, en := range st.Entries {
			got = append(got, en.Line)
			if strings.HasPrefix(en.Line, "{") && en.Metadata["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Errorf("Loki: trace metadata %v", en.Metadata)
			}
		}
	}
	if !slices.Equal(got, []string{masked, fargate.AnnotatedLines[2]}) {
		t.Errorf("Loki lines %q, want the masked line and the JSON line", got)
	}
	entries, err := dd.WaitEntries(2, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the health check must not follow
	if n := len(dd.Entries()); n != 2 || entries[0].Message != masked || entries[1].Attrs["dd.trace_id"] != "11803532876627986230" {
		t.Errorf("Datadog: %d logs, first %q, second's dd.trace_id %v", n, entries[0].Message, entries[1].Attrs["dd.trace_id"])
	}
	if v, _ := entries[0].Tag("version"); v != "2.0.1" {
		t.Errorf("Datadog: version %q, want the container's 2.0.1 (tags %v)", v, entries[0].DDTags)
	}
}

// Group commit through a real Fluent Bit: one small chunk per container
// and flush, as on an aggregator, with Workers 8. batch_wait joins the
// flushes that run at the same time into far fewer pushes, and every line
// still arrives exactly once.
func TestGroupCommitThroughFluentBit(t *testing.T) {
	requests := map[string]int{}
	for _, wait := range []string{"0", "500ms"} {
		t.Run("batch_wait_"+wait, func(t *testing.T) {
			e := newEnv(t)
			base := e.pods[0]
			e.pods = nil
			for i := range 60 {
				p := base
				p.Name = fmt.Sprintf("checkout-7d9f8c6b5-%05d", i)
				p.UID = fmt.Sprintf("5b3a7c1e-0f3c-4a9b-8d7e-%012d", i)
				p.ContainerID = fmt.Sprintf("%064x", i+1)
				e.pods = append(e.pods, p)
			}
			if err := fargate.WriteMeta(e.meta, e.pods); err != nil {
				t.Fatal(err)
			}
			e.write(5, false)
			s := lokiserver.Shared(t, lokiserver.Options{})
			proxy, err := faultinject.Start(s.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			out := strings.Replace(kubeshipOutput(proxy.URL()+"/loki/api/v1/push", e.run, "    batch_wait   "+wait+"\n"),
				"Workers      2", "Workers      8", 1)
			e.start(e.config("", false, out))
			e.checkLoki(s, 60*time.Second)
			requests[wait] = len(proxy.Requests())
			t.Logf("%d lines of %d containers in %d pushes", len(e.lines), len(e.pods), requests[wait])
		})
	}
	if requests["500ms"]*2 > requests["0"] {
		t.Errorf("batch_wait 500ms: %d pushes, not under half of the %d without", requests["500ms"], requests["0"])
	}
}
