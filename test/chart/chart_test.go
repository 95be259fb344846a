// Package chart runs the chart's rendered configurations (conf/k8s, helm
// template's output for conf/helm/examples) with real Fluent Bits: the
// EKS Fargate router's FILTER, OUTPUT and PARSER sections from the rendered
// aws-logging ConfigMap, behind a tail input over Fargate-named CRI files
// (standing in for the managed input), on each router Fluent Bit given
// (1.9.10, what aws-for-fluent-bit 2.x runs, and 5.1), into the rendered
// aggregator configuration (its paths and addresses mapped to the test's)
// with kubeship, into a real Loki and the Datadog intake. Then a rolling
// restart: SIGTERM the aggregator while lines flow, start its replacement,
// and count what arrived.
//
// The aggregator is $FLUENT_BIT (or fluent-bit on PATH); the routers are the
// binaries of $FLUENT_BITS, else the aggregator's. Without a Fluent Bit each
// test says SKIPPED.
package chart

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/ddintake"
	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
	"github.com/kubeship/kubeship/test/lokiserver"
)

var ctx = context.Background()

func TestMain(m *testing.M) {
	if bin, err := fluentbit.Find(); err == nil {
		fmt.Printf("chart: aggregator %s (%s)\n", bin, fluentbit.Version(bin))
		for _, r := range routerBins(bin) {
			fmt.Printf("chart: router %s (%s)\n", r, fluentbit.Version(r))
		}
	} else {
		fmt.Printf("chart: SKIPPING every real-Fluent-Bit test: %v\n", err)
	}
	code := m.Run()
	lokiserver.StopShared()
	os.Exit(code)
}

// routerBins are the Fluent Bits to run as the Fargate router: those of
// $FLUENT_BITS, else the aggregator's.
func routerBins(aggregator string) []string {
	if bins := strings.Fields(os.Getenv("FLUENT_BITS")); len(bins) > 0 {
		return bins
	}
	return []string{aggregator}
}

// router is one router Fluent Bit and its version line ("1.9", "5.1").
type router struct {
	bin, version, line string
}

// routers returns the router Fluent Bits and the versions the Fargate
// router may run (1.9, what aws-for-fluent-bit 2.x runs, and 5.1, what 3.x
// runs) that none of them is.
func routers(aggregator string) (have []router, missing []string) {
	for _, bin := range routerBins(aggregator) {
		v := strings.TrimPrefix(fluentbit.Version(bin), "Fluent Bit ")
		parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
		line := parts[0]
		if len(parts) > 1 {
			line += "." + parts[1]
		}
		have = append(have, router{bin, v, line})
	}
	for _, want := range []string{"1.9", "5.1"} {
		if !slices.ContainsFunc(have, func(r router) bool { return r.line == want }) {
			missing = append(missing, want)
		}
	}
	return have, missing
}

// eachRouter runs f for each router Fluent Bit, and skips, saying so, a
// subtest for each version the Fargate router may run that is not given.
func eachRouter(t *testing.T, f func(t *testing.T, r router)) {
	have, missing := routers(fluentbit.Need(t))
	for _, r := range have {
		t.Run("router_"+r.version, func(t *testing.T) { f(t, r) })
	}
	for _, v := range missing {
		t.Run("router_"+v, func(t *testing.T) {
			t.Skipf("SKIPPED: no Fluent Bit %s among $FLUENT_BITS (%q) to run as the router; the hop ran on %v", v, os.Getenv("FLUENT_BITS"), versions(have))
		})
	}
}

func versions(rs []router) []string {
	var v []string
	for _, r := range rs {
		v = append(v, r.version)
	}
	return v
}

// env is one test's files: Fargate-named logs, pod metadata, directories.
type env struct {
	t             *testing.T
	root, so, dir string
	aggregatorBin string
	logs, meta    string
	run           string
	pods          []fargate.Pod
	lines         map[string]fargate.Line
	podOf         map[string]fargate.Pod
	self          fargate.Pod // the aggregator's own pod, on a Fargate node
	selfLines     int
	next          int
}

func newEnv(t *testing.T) *env {
	bin := fluentbit.Need(t)
	if major, err := fluentbit.Major(bin); err == nil && major < 2 {
		t.Skipf("SKIPPED: the aggregator loads kubeship, which needs Fluent Bit 2.0+; $FLUENT_BIT is %s", fluentbit.Version(bin))
	}
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(root, "build", "out_kubeship.so")
	if _, err := os.Stat(so); err != nil {
		t.Fatalf("%s missing: run `make build`", so)
	}
	dir := t.TempDir()
	e := &env{t: t, root: root, so: so, dir: dir, aggregatorBin: bin,
		logs: filepath.Join(dir, "containers"), meta: filepath.Join(dir, "meta"),
		run:  fmt.Sprintf("%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano()%1e6),
		pods: fargate.Pods(), lines: map[string]fargate.Line{}, podOf: map[string]fargate.Pod{}}
	// The aggregator's own pod as the router sees it on its Fargate node
	// (release kubeship in namespace logging, as the examples render).
	e.self = fargate.Pod{Namespace: "logging", Name: "kubeship-aggregator-6d8f7b9c4-q7x2z", Container: "fluent-bit",
		UID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", ContainerID: strings.Repeat("a9", 32),
		Image: "ghcr.io/kubeship/fluent-bit-kubeship:0.1.0-fluent-bit-5.1.1", Node: "fargate-ip-10-0-9-9.ec2.internal",
		Labels: map[string]string{"app.kubernetes.io/name": "kubeship", "app.kubernetes.io/component": "aggregator"}}
	for _, d := range []string{e.logs, e.meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := fargate.WriteMeta(e.meta, append(slices.Clone(e.pods), e.self)); err != nil {
		t.Fatal(err)
	}
	return e
}

// write appends n lines to every pod's log (plain and JSON, stdout and
// stderr), and n lines to the aggregator's own, which must not arrive.
func (e *env) write(n int) {
	e.t.Helper()
	base := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	for _, p := range e.pods {
		var lines []fargate.Line
		for range n {
			i := e.next
			e.next++
			l := fargate.Line{Time: base.Add(time.Duration(i) * time.Microsecond), Stream: "stdout",
				Text: fmt.Sprintf("run=%s pod=%s line=%d GET /api/orders 200", e.run, p.Name, i)}
			if i%3 == 1 {
				l.Text = fmt.Sprintf(`{"level":"warn","msg":"slow query","run":%q,"line":%d}`, e.run, i)
			}
			if i%5 == 4 {
				l.Stream = "stderr"
			}
			lines = append(lines, l)
			e.lines[l.Text] = l
			e.podOf[l.Text] = p
		}
		if err := fargate.WriteLogs(e.logs, p, lines); err != nil {
			e.t.Fatal(err)
		}
	}
	var self []fargate.Line
	for range n {
		e.selfLines++
		self = append(self, fargate.Line{Time: base, Stream: "stderr",
			Text: fmt.Sprintf("[warn] [output:kubeship:kubeship.0] run=%s self=%d retry budget spent", e.run, e.selfLines)})
	}
	if err := fargate.WriteLogs(e.logs, e.self, self); err != nil {
		e.t.Fatal(err)
	}
}

// startRouter runs bin as the Fargate router: a tail input over e.logs as
// the managed input reads /var/log/containers, then the FILTER, OUTPUT and
// PARSER sections of the example's rendered aws-logging ConfigMap, the es
// output's Host and Port mapped to 127.0.0.1:port.
func (e *env) startRouter(r router, example string, port int) *fluentbit.Process {
	e.t.Helper()
	rd, err := Read(e.root, example)
	if err != nil {
		e.t.Fatal(err)
	}
	parsers, err := rd.ConfigMap("aws-logging", "parsers.conf")
	if err != nil {
		e.t.Fatal(err)
	}
	filters, err := rd.ConfigMap("aws-logging", "filters.conf")
	if err != nil {
		e.t.Fatal(err)
	}
	output, err := rd.ConfigMap("aws-logging", "output.conf")
	if err != nil {
		e.t.Fatal(err)
	}
	output, err = Apply(output, []Mapping{
		{"OUTPUT", "es", "host", Set("127.0.0.1")},
		{"OUTPUT", "es", "port", Set(fmt.Sprint(port))},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	dir := filepath.Join(e.dir, "router-"+r.version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "parsers.conf"), []byte(parsers), 0o644); err != nil {
		e.t.Fatal(err)
	}
	conf := "[SERVICE]\n    Flush         1\n    Grace         5\n    Log_Level     info\n    Parsers_File  parsers.conf\n\n" +
		fargate.TailInput(e.logs) + "\n" + fargate.OfflineKubernetes(filters, e.meta) + "\n" + output
	return e.start(r.bin, "", dir, conf)
}

// aggregatorConfig is the example's rendered aggregator configuration with
// the pod's paths and addresses mapped to the test's: storage under dir,
// both listeners on 127.0.0.1 (Fluent Bit's HTTP server, where kubeship's
// metrics are, and the elasticsearch input), the destination URLs
// the test's servers', the Datadog API key file a test file, and a run
// label added to the Loki labels so tests sharing a Loki tell theirs apart.
func (e *env) aggregatorConfig(example, dir string, port int, lokiURL, ddURL, apikeyFile string) string {
	e.t.Helper()
	rd, err := Read(e.root, example)
	if err != nil {
		e.t.Fatal(err)
	}
	free := func() int {
		p, err := lokiserver.FreePort()
		if err != nil {
			e.t.Fatal(err)
		}
		return p
	}
	conf, err := rd.Aggregator(Local{Dir: dir, Port: port, HTTPPort: free(),
		LokiURL: lokiURL, LokiLabels: ",run=" + e.run, DatadogURL: ddURL, APIKeyFile: apikeyFile})
	if err != nil {
		e.t.Fatal(err)
	}
	return conf
}

func (e *env) startAggregator(name, conf string) *fluentbit.Process {
	e.t.Helper()
	dir := filepath.Join(e.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	return e.start(e.aggregatorBin, e.so, dir, conf)
}

func (e *env) start(bin, so, dir, conf string) *fluentbit.Process {
	e.t.Helper()
	fb, err := fluentbit.Start(bin, so, dir, conf)
	if err != nil {
		fluentbit.SkipIfMissing(e.t, err)
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := fb.Stop(20 * time.Second); err != nil {
			e.t.Errorf("%s: %v\n%s", dir, err, fb.Logs())
		}
		if e.t.Failed() {
			e.t.Logf("fluent bit output (%s):\n%s", dir, fb.Logs())
		}
	})
	return fb
}

// checkLoki waits for every line written, then checks each arrived once
// with its pod's labels, structured metadata and time, and that none of
// the aggregator's own lines did.
func (e *env) checkLoki(s *lokiserver.Server, timeout time.Duration) {
	e.t.Helper()
	streams, err := s.WaitFor(ctx, "", fmt.Sprintf(`{run=%q}`, e.run), len(e.lines), timeout)
	if err != nil {
		e.t.Fatalf("%v", err)
	}
	seen := map[string]int{}
	badTimes, firstBad := 0, ""
	defer func() {
		if badTimes > 0 {
			e.t.Errorf("%d lines arrived without their event time, e.g. %s", badTimes, firstBad)
		}
	}()
	for _, st := range streams {
		for _, en := range st.Entries {
			seen[en.Line]++
			l, ok := e.lines[en.Line]
			if !ok {
				e.t.Errorf("unexpected line (labels %v): %.200s", st.Labels, en.Line)
				continue
			}
			p := e.podOf[en.Line]
			want := map[string]string{"cluster": "my-eks-cluster", "run": e.run, "namespace": p.Namespace, "container": p.Container}
			if app := p.Labels["app.kubernetes.io/name"]; app != "" {
				want["app"] = app
			} else if app := p.Labels["app"]; app != "" {
				want["app"] = app
			}
			for k, v := range want {
				if st.Labels[k] != v {
					e.t.Errorf("%s line %.60q: label %s=%q, want %q (labels %v)", p.Name, en.Line, k, st.Labels[k], v, st.Labels)
				}
			}
			for k, v := range map[string]string{"pod": p.Name, "pod_id": p.UID, "container_id": p.ContainerID, "node": p.Node, "image": p.Image, "stream": l.Stream} {
				if en.Metadata[k] != v {
					e.t.Errorf("%s line %.60q: structured metadata %s=%q, want %q", p.Name, en.Line, k, en.Metadata[k], v)
				}
			}
			if strings.HasPrefix(l.Text, "{") && en.Metadata["level"] != "warn" {
				e.t.Errorf("JSON line %.60q: level %q, want warn", en.Line, en.Metadata["level"])
			}
			// The router's regex parser computes nanoseconds through a
			// double (src/flb_parser_regex.c): up to 1µs early here.
			if d := l.Time.Sub(en.Time); d < 0 || d > time.Microsecond {
				if badTimes == 0 {
					firstBad = fmt.Sprintf("line %.60q: time %s, want %s", en.Line, en.Time.Format(time.RFC3339Nano), l.Time.Format(time.RFC3339Nano))
				}
				badTimes++
			}
		}
	}
	for text := range e.lines {
		if n := seen[text]; n != 1 {
			e.t.Errorf("line %.80q arrived %d times, want once", text, n)
		}
	}
}

// noSelfLines checks, a few flushes after the rest arrived, that none of
// the aggregator's own lines reached Loki.
func (e *env) noSelfLines(s *lokiserver.Server) {
	e.t.Helper()
	time.Sleep(3 * time.Second)
	streams, err := s.Query(ctx, "", fmt.Sprintf(`{run=%q, namespace=%q}`, e.run, e.self.Namespace))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, st := range streams {
		e.t.Errorf("the aggregator's own logs came back through the hop: %d lines, e.g. %.120q", len(st.Entries), st.Entries[0].Line)
	}
}

// The Fargate router's rendered configuration, on each router Fluent Bit,
// into the rendered aggregator, into Loki: every line once with its
// metadata, none of the aggregator's own.
func TestRenderedHopToLoki(t *testing.T) {
	eachRouter(t, func(t *testing.T, r router) {
		e := newEnv(t)
		s := lokiserver.Shared(t, lokiserver.Options{})
		port, err := lokiserver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		e.write(30)
		dir := filepath.Join(e.dir, "aggregator")
		e.startAggregator("aggregator", e.aggregatorConfig("fargate-loki", dir, port, s.PushURL(), "", ""))
		e.startRouter(r, "fargate-loki", port)
		e.checkLoki(s, 90*time.Second)
		e.noSelfLines(s)
	})
}

// firstRouter is the oldest router given: 1.9.10 when it is there.
func firstRouter(t *testing.T) router {
	have, _ := routers(fluentbit.Need(t))
	slices.SortFunc(have, func(a, b router) int { return strings.Compare(a.line, b.line) })
	t.Logf("router %s", have[0].version)
	return have[0]
}

const apiKey = "chart0123456789abcdef0123456789a"

func (e *env) apikeyFile() string {
	e.t.Helper()
	f := filepath.Join(e.dir, "api-key")
	if err := os.WriteFile(f, []byte(apiKey+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return f
}

// checkDatadog checks every line arrived once at the intake, with the
// Agent's Kubernetes tags and the example's cluster name.
func (e *env) checkDatadog(dd *ddintake.Server) {
	e.t.Helper()
	if _, err := dd.WaitEntries(len(e.lines), 90*time.Second); err != nil {
		e.t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // a late duplicate or self line
	seen := map[string]int{}
	badTimes, firstBad := 0, ""
	for _, en := range dd.Entries() {
		seen[en.Message]++
		p, ok := e.podOf[en.Message]
		if !ok {
			e.t.Errorf("unexpected message: %.200s", en.Message)
			continue
		}
		for k, v := range map[string]string{"kube_cluster_name": "my-eks-cluster", "kube_namespace": p.Namespace, "pod_name": p.Name,
			"kube_container_name": p.Container, "container_id": p.ContainerID} {
			if got, _ := en.Tag(k); got != v {
				e.t.Errorf("%s %.40q: tag %s=%q, want %q", p.Name, en.Message, k, got, v)
			}
		}
		if en.Hostname != p.Node {
			e.t.Errorf("%s: hostname %q, want %q", p.Name, en.Hostname, p.Node)
		}
		if ms := e.lines[en.Message].Time.Add(500 * time.Microsecond).UnixMilli(); en.Timestamp != ms {
			if badTimes == 0 {
				firstBad = fmt.Sprintf("%.60q: timestamp %d, want %d", en.Message, en.Timestamp, ms)
			}
			badTimes++
		}
	}
	if badTimes > 0 {
		e.t.Errorf("%d logs arrived without their event time, e.g. %s", badTimes, firstBad)
	}
	for text := range e.lines {
		if n := seen[text]; n != 1 {
			e.t.Errorf("line %.80q arrived %d times at the intake, want once", text, n)
		}
	}
}

// The Datadog example's router and aggregator: every line once at the
// intake, the API key read from the file its Secret is mounted as.
func TestRenderedHopToDatadog(t *testing.T) {
	e := newEnv(t)
	r := firstRouter(t)
	dd, err := ddintake.Start(ddintake.Options{APIKey: apiKey})
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	port, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	e.write(30)
	dir := filepath.Join(e.dir, "aggregator")
	e.startAggregator("aggregator", e.aggregatorConfig("fargate-datadog", dir, port, "", dd.URL(), e.apikeyFile()))
	e.startRouter(r, "fargate-datadog", port)
	e.checkDatadog(dd)
}

// The both-destinations example (Loki with basic auth from the
// environment, as its Secret fills it, and Datadog) behind the Loki
// example's router: every line once in each, and kubeship's metrics on
// Fluent Bit's endpoint, without metrics_listen, counting them sent.
func TestRenderedHopToBoth(t *testing.T) {
	e := newEnv(t)
	r := firstRouter(t)
	s := lokiserver.Shared(t, lokiserver.Options{})
	dd, err := ddintake.Start(ddintake.Options{APIKey: apiKey})
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	port, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBESHIP_LOKI_SECRET", "s3cret")
	e.write(20)
	dir := filepath.Join(e.dir, "aggregator")
	conf := e.aggregatorConfig("fargate-both", dir, port, s.PushURL(), dd.URL(), e.apikeyFile())
	if !strings.Contains(conf, "${KUBESHIP_LOKI_SECRET}") {
		t.Fatalf("the both example no longer reads Loki's password from the environment:\n%s", conf)
	}
	if strings.Contains(conf, "metrics_listen") {
		t.Fatalf("the both example sets metrics_listen: kubeship's metrics are on Fluent Bit's endpoint without it:\n%s", conf)
	}
	e.startAggregator("aggregator", conf)
	// kubeship's metrics on Fluent Bit's endpoint: there at 0 before the
	// router sends, then every record sent to each destination.
	httpPort := httpPortOf(t, conf)
	e.waitSent(httpPort, map[string]float64{"loki": 0, "datadog": 0}, 30*time.Second)
	e.startRouter(r, "fargate-loki", port)
	e.checkLoki(s, 90*time.Second)
	e.checkDatadog(dd)
	n := float64(len(e.lines))
	e.waitSent(httpPort, map[string]float64{"loki": n, "datadog": n}, 10*time.Second)
}

// waitSent scrapes the aggregator's Fluent Bit endpoint
// (/api/v2/metrics/prometheus) until fluentbit_kubeship_records_sent_total
// is want for each destination, and fails the test if it is not within
// timeout.
func (e *env) waitSent(httpPort int, want map[string]float64, timeout time.Duration) {
	e.t.Helper()
	var have map[string]float64
	var err error
	for deadline := time.Now().Add(timeout); ; time.Sleep(200 * time.Millisecond) {
		var found bool
		have, found, err = KubeshipMetric(httpPort, "records_sent_total")
		if err == nil && found && maps.Equal(have, want) {
			e.t.Logf("Fluent Bit's /api/v2/metrics/prometheus: fluentbit_kubeship_records_sent_total %v", have)
			return
		}
		if err == nil && !found {
			err = errors.New("no fluentbit_kubeship_records_sent_total")
		}
		if time.Now().After(deadline) {
			break
		}
	}
	e.t.Fatalf("Fluent Bit's /api/v2/metrics/prometheus: fluentbit_kubeship_records_sent_total by destination %v (%v), want %v", have, err, want)
}

// httpPortOf reads [SERVICE] HTTP_Port of a configuration.
func httpPortOf(t *testing.T, conf string) int {
	t.Helper()
	for _, l := range strings.Split(conf, "\n") {
		if f := strings.Fields(l); len(f) == 2 && strings.EqualFold(f[0], "http_port") {
			if n, err := strconv.Atoi(f[1]); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no HTTP_Port in the configuration:\n%s", conf)
	return 0
}
