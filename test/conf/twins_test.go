package conf

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/loki/lokitest"
	"github.com/kubeship/kubeship/test/ddintake"
	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
	"github.com/kubeship/kubeship/test/proc"
)

// pipelines returns the Fluent Bit pipelines shipped at the top of conf/
// (files with inputs: plugins.conf and parsers.conf are not pipelines).
func pipelines(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"*.conf", "*.yaml"} {
		files, _ := filepath.Glob(filepath.Join(root, "conf", pattern))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "[INPUT]") || strings.Contains(string(b), "\npipeline:") {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

// twins returns each classic pipeline of conf/ with its YAML twin.
func twins(t *testing.T, root string) [][2]string {
	t.Helper()
	var out [][2]string
	for _, f := range pipelines(t, root) {
		if strings.HasSuffix(f, ".conf") {
			out = append(out, [2]string{f, strings.TrimSuffix(f, ".conf") + ".yaml"})
		}
	}
	return out
}

// Every pipeline of conf/ comes as a .conf and a .yaml of the same name,
// and each names its role (daemonset-, aggregator-, sidecar-): none is for
// the EKS Fargate log router, which takes no [SERVICE] or [INPUT].
func TestEveryPipelineHasATwin(t *testing.T) {
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files := pipelines(t, root)
	if len(files) < 6 {
		t.Fatalf("want Loki, Datadog and both, as .conf and .yaml, in conf/; found %v", files)
	}
	for _, f := range files {
		base := filepath.Base(f)
		twin := strings.TrimSuffix(f, filepath.Ext(f))
		if filepath.Ext(f) == ".conf" {
			twin += ".yaml"
		} else {
			twin += ".conf"
		}
		if !slices.Contains(files, twin) {
			t.Errorf("conf/%s has no twin conf/%s: ship both forms, or neither", base, filepath.Base(twin))
		}
		if !strings.HasPrefix(base, "daemonset-") && !strings.HasPrefix(base, "aggregator-") && !strings.HasPrefix(base, "sidecar-") {
			t.Errorf("conf/%s: a pipeline's name starts with its role: daemonset-, aggregator- or sidecar-", base)
		}
	}
}

// Each .yaml says what its .conf says: the same sections in the same order
// (filters apply and outputs are numbered in it), the same keys and values
// once spelled alike (key case, On/on/true, plugins_file read).
func TestTwinsSayTheSame(t *testing.T) {
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range twins(t, root) {
		t.Run(filepath.Base(pair[0]), func(t *testing.T) {
			var got [2][]string
			for i, f := range pair {
				secs, err := parseFile(f)
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(f), err)
				}
				if got[i], err = canonical(secs, filepath.Dir(f)); err != nil {
					t.Fatalf("%s: %v", filepath.Base(f), err)
				}
			}
			if d := diff(got[0], got[1]); d != "" {
				t.Errorf("conf/%s and conf/%s differ (- .conf, + .yaml):\n%s", filepath.Base(pair[0]), filepath.Base(pair[1]), d)
			}
		})
	}
}

// diff lists the lines only one side has, in order, or "" when equal.
func diff(a, b []string) string {
	if slices.Equal(a, b) {
		return ""
	}
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			out = append(out, "+ "+l)
		}
	}
	if len(out) == 0 {
		out = append(out, "(the same lines in another order)", "- "+strings.Join(a, "\n- "), "+ "+strings.Join(b, "\n+ "))
	}
	return strings.Join(out, "\n")
}

// Both forms of each pipeline, run by a real Fluent Bit over the same
// container logs (CRI files named as on a node, pods from the kubernetes
// filter's preload cache), deliver the same entries to Loki and the same
// logs to Datadog: every line once, identical streams, labels, structured
// metadata, timestamps, tags and attributes. Only what a test must change is
// changed, the same way in both: where files, state and ports are, the
// destinations' addresses, and tags derived from the files' names.
func TestTwinsDeliverTheSame(t *testing.T) {
	bin := fluentbit.Need(t)
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(root, "build", "out_kubeship.so")
	if _, err := os.Stat(so); err != nil {
		t.Fatalf("%s missing: run `make build`", so)
	}
	fx := writeFixture(t)
	for _, pair := range twins(t, root) {
		t.Run(filepath.Base(pair[0]), func(t *testing.T) {
			var got [2]delivered
			for i, f := range pair {
				got[i] = runPipeline(t, bin, so, f, fx)
			}
			conf, yaml := filepath.Base(pair[0]), filepath.Base(pair[1])
			for i, name := range []string{conf, yaml} {
				if got[i].lokiOutputs > 0 && len(got[i].loki) != fx.lines {
					t.Errorf("%s delivered %d entries to Loki, want the %d lines written, once each", name, len(got[i].loki), fx.lines)
				}
				// Fluent Bit reads a time's fraction as a double: within a
				// microsecond of what was written.
				for text, ts := range got[i].lines {
					if want, ok := fx.written[text]; !ok || ts < want-1000 || ts > want+1000 {
						t.Errorf("%s sent Loki the line %.80q at %d: want the application's lines as written, at their time", name, text, ts)
						break
					}
				}
				if got[i].datadogOutputs > 0 && len(got[i].datadog) != fx.lines-fx.excluded {
					t.Errorf("%s delivered %d logs to Datadog, want the %d lines written less the %d their pod's rules exclude",
						name, len(got[i].datadog), fx.lines, fx.excluded)
				}
			}
			if got[0].lokiOutputs+got[0].datadogOutputs == 0 {
				t.Fatalf("%s has no kubeship output", conf)
			}
			if d := diff(got[0].loki, got[1].loki); d != "" {
				t.Errorf("Loki received different entries from %s and %s (- .conf, + .yaml):\n%s", conf, yaml, d)
			}
			if d := diff(got[0].datadog, got[1].datadog); d != "" {
				t.Errorf("Datadog received different logs from %s and %s (- .conf, + .yaml):\n%s", conf, yaml, d)
			}
		})
	}
}

type fixture struct {
	logs, meta string
	lines      int              // logical lines written (a split line counts once)
	excluded   int              // lines their pod's Datadog log processing rules exclude
	written    map[string]int64 // each line's text and time (ns); the texts are distinct
}

// writeFixture writes each test pod's container log: plain and JSON lines,
// stdout and stderr, a line over 16 KiB that the runtime splits, and the
// annotated pod's lines (one of which its rules exclude).
func writeFixture(t *testing.T) fixture {
	dir := t.TempDir()
	fx := fixture{logs: filepath.Join(dir, "containers"), meta: filepath.Join(dir, "meta"), written: map[string]int64{}}
	for _, d := range []string{fx.logs, fx.meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pods := append(fargate.Pods(), fargate.AnnotatedPod())
	if err := fargate.WriteMeta(fx.meta, pods); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * 1001 * time.Microsecond) }
	n := 0
	for _, p := range pods {
		var lines []fargate.Line
		texts := []string{
			"GET /api/orders 200 " + p.Name,
			`{"level":"warn","msg":"slow query","pod":"` + p.Name + `"}`,
			"error: connection refused to " + p.Name,
			"long " + p.Name + " " + strings.Repeat("x", fargate.MaxCRILine+500),
		}
		if p.Name == fargate.AnnotatedPod().Name {
			texts = fargate.AnnotatedLines
			fx.excluded = 1 // GET /healthz
		}
		for i, text := range texts {
			stream := "stdout"
			if i == 2 {
				stream = "stderr"
			}
			lines = append(lines, fargate.Line{Time: at(n), Stream: stream, Text: text})
			fx.written[text] = at(n).UnixNano()
			n++
		}
		if err := fargate.WriteLogs(fx.logs, p, lines); err != nil {
			t.Fatal(err)
		}
	}
	fx.lines = n
	return fx
}

type delivered struct {
	loki, datadog               []string         // one line per entry or log, sorted
	lines                       map[string]int64 // each Loki line and its time
	lokiOutputs, datadogOutputs int
}

// runPipeline runs one shipped pipeline over the fixture and returns what
// arrived once every expected line did (and a second more, so that a
// duplicate would show).
func runPipeline(t *testing.T, bin, so, file string, fx fixture) delivered {
	t.Helper()
	dir := t.TempDir()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	secs, err := parseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	plugins, err := os.ReadFile(filepath.Join(filepath.Dir(file), "plugins.conf"))
	if err != nil {
		t.Fatal(err)
	}
	plugins = []byte(strings.ReplaceAll(string(plugins), "/fluent-bit/plugins/out_kubeship.so", so))
	if err := os.WriteFile(filepath.Join(dir, "plugins.conf"), plugins, 0o644); err != nil {
		t.Fatal(err)
	}
	if parsers, err := os.ReadFile(filepath.Join(filepath.Dir(file), "parsers.conf")); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(filepath.Join(dir, "parsers.conf"), parsers, 0o644); err != nil {
		t.Fatal(err)
	}
	const key = "0123456789abcdef0123456789abcdef"
	keyFile := filepath.Join(dir, "api-key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lk := newLokiCapture()
	defer lk.Close()
	dd, err := ddintake.Start(ddintake.Options{APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()

	var d delivered
	for _, s := range secs {
		switch {
		case s.kind != "output" || s.name() != "kubeship":
		case isDatadog(s):
			d.datadogOutputs++
		default:
			d.lokiOutputs++
		}
	}
	metrics := "127.0.0.1:" + freePort(t)
	hasMetrics := func(s section) bool { return s.get("metrics_listen") != "" }
	out := apply(string(text), secs, []edit{
		{kind: "service", set: [][2]string{{"storage.path", filepath.Join(dir, "storage")}, {"http_listen", "127.0.0.1"},
			{"http_port", freePort(t)}, {"grace", "5"}}},
		{kind: "input", name: "tail", set: [][2]string{{"path", fx.logs + "/*.log"}, {"db", filepath.Join(dir, "tail.db")},
			{"tag", "kube.var.log.containers.<pod_name>_<namespace_name>_<container_name>-<docker_id>.log"},
			{"tag_regex", `^.*/(?<pod_name>[a-z0-9][-a-z0-9.]*)_(?<namespace_name>[^_]+)_(?<container_name>.+)-(?<docker_id>[a-z0-9]{64})\.log$`},
			{"read_from_head", "on"}, {"refresh_interval", "1"}}},
		{kind: "filter", name: "kubernetes", set: [][2]string{{"kube_url", "http://127.0.0.1:1"}, {"kube_meta_preload_cache_dir", fx.meta}}},
		{kind: "output", name: "kubeship", when: func(s section) bool { return !isDatadog(s) },
			set: [][2]string{{"url", lk.URL + "/loki/api/v1/push"}}},
		{kind: "output", name: "kubeship", when: isDatadog, set: [][2]string{{"url", dd.URL()}, {"apikey_file", keyFile}}},
		{kind: "output", name: "kubeship", when: hasMetrics, set: [][2]string{{"metrics_listen", metrics}}},
	})
	conf := filepath.Join(dir, filepath.Base(file))
	if err := os.WriteFile(conf, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-c", conf)
	cmd.Dir = dir
	p, err := proc.Start(cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantLoki, wantDD := 0, 0
	if d.lokiOutputs > 0 {
		wantLoki = fx.lines
	}
	if d.datadogOutputs > 0 {
		wantDD = fx.lines - fx.excluded
	}
	deadline := time.Now().Add(60 * time.Second)
	for (len(lk.Entries()) < wantLoki || len(dd.Entries()) < wantDD) && time.Now().Before(deadline) && !p.Exited() {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if p.Stop(syscall.SIGTERM, 15*time.Second) {
		t.Errorf("%s: Fluent Bit did not stop on SIGTERM", filepath.Base(file))
	}
	if t.Failed() || len(lk.Entries()) < wantLoki || len(dd.Entries()) < wantDD {
		t.Logf("%s as run:\n%s\nFluent Bit:\n%s", filepath.Base(file), out, p.Logs())
	}
	d.loki, d.lines = lk.Entries(), lk.Lines()
	for _, e := range dd.Entries() {
		b, _ := json.Marshal(e.Attrs)
		d.datadog = append(d.datadog, string(b))
	}
	slices.Sort(d.loki)
	slices.Sort(d.datadog)
	return d
}

func isDatadog(s section) bool { return strings.EqualFold(s.get("destination"), "datadog") }

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// lokiCapture is a Loki push endpoint that keeps every entry it is sent as
// one line: tenant, stream labels, timestamp, line and structured metadata.
type lokiCapture struct {
	*httptest.Server
	mu      sync.Mutex
	entries []string
	lines   map[string]int64
}

func newLokiCapture() *lokiCapture {
	c := &lokiCapture{lines: map[string]int64{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		pr, _, err := lokitest.Decode(r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, s := range pr.Streams {
			for _, e := range s.Entries {
				var md []string
				for _, m := range e.StructuredMetadata {
					md = append(md, m.Name+"="+m.Value)
				}
				c.entries = append(c.entries, fmt.Sprintf("tenant=%q %s %d %q %v",
					r.Header.Get("X-Scope-OrgID"), s.Labels, e.Timestamp.UnixNano(), e.Line, md))
				c.lines[e.Line] = e.Timestamp.UnixNano()
			}
		}
		c.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	return c
}

func (c *lokiCapture) Lines() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int64{}
	for k, v := range c.lines {
		out[k] = v
	}
	return out
}

func (c *lokiCapture) Entries() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.entries)
}
