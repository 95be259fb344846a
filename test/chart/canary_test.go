package chart

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/lokiserver"
	"github.com/kubeship/kubeship/test/proc"
)

// canaryBin is Grafana's loki-canary, built from the Loki module test/loki
// pins ($LOKI_CANARY_BIN, else build/loki-canary, which `make
// loki-canary` builds).
func canaryBin(t *testing.T, root string) string {
	t.Helper()
	bin := os.Getenv("LOKI_CANARY_BIN")
	if bin == "" {
		bin = filepath.Join(root, "build", "loki-canary")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("SKIPPED: no loki-canary at %s: run `make loki-canary` (or set LOKI_CANARY_BIN)", bin)
	}
	return bin
}

// The canary of the Loki example, as its rendered Deployment runs it (the
// same query flags), its stdout written as the container runtime writes a
// Fargate pod's log: its numbered lines go through the rendered router and
// aggregator into Loki, it reads them back, and it counts none missing,
// none unexpected.
func TestCanaryFindsEveryLine(t *testing.T) {
	e := newEnv(t)
	bin := canaryBin(t, e.root)
	rd, err := Read(e.root, "fargate-loki")
	if err != nil {
		t.Fatal(err)
	}
	args, err := rd.CanaryArgs()
	if err != nil {
		t.Fatal(err)
	}
	s := lokiserver.Shared(t, lokiserver.Options{})
	port, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	metricsPort, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pod := fargate.Pod{Namespace: "logging", Name: fmt.Sprintf("kubeship-canary-7c9d8b6f5-%05d", time.Now().UnixNano()%1e5), Container: "loki-canary",
		UID: "6e5d4c3b-2a19-4807-9f6e-5d4c3b2a1908", ContainerID: strings.Repeat("ca", 32),
		Image: "docker.io/grafana/loki-canary:3.7.8", Node: "fargate-ip-10-0-7-7.ec2.internal",
		Labels: map[string]string{"app.kubernetes.io/name": "kubeship", "app.kubernetes.io/component": "canary"}}
	if err := fargate.WriteMeta(e.meta, []fargate.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.dir, "aggregator")
	e.startAggregator("aggregator", e.aggregatorConfig("fargate-loki", dir, port, s.PushURL(), "", ""))
	e.startRouter(firstRouter(t), "fargate-loki", port)

	// The rendered flags (a line a second), the pod's name where the
	// kubelet puts it, Loki's address the test's; its checks sooner than
	// production's minutes so the test ends in one.
	for i, a := range args {
		a = strings.ReplaceAll(a, "$(POD_NAME)", pod.Name)
		if strings.HasPrefix(a, "-addr=") {
			a = "-addr=" + strings.TrimPrefix(s.URL, "http://")
		}
		args[i] = a
	}
	args = append(args, "-wait=10s", "-max-wait=30s", "-pruneinterval=10s", "-port="+strconv.Itoa(metricsPort),
		"-metric-test-interval=1h", "-spot-check-interval=1h", "-cache-test-interval=1h")
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	canary, err := proc.Start(cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		canary.Stop(os.Interrupt, 10*time.Second)
		if t.Failed() {
			t.Logf("loki-canary's own log:\n%s", canary.Logs())
		}
	})
	// The container runtime: each stdout line a CRI line in the pod's file.
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			_ = fargate.WriteLogs(e.logs, pod, []fargate.Line{{Time: time.Now(), Stream: "stdout", Text: sc.Text()}})
		}
	}()

	time.Sleep(60 * time.Second)
	m, err := scrape(metricsPort)
	if err != nil {
		t.Fatal(err)
	}
	written, received := m["loki_canary_entries_total"], m["loki_canary_response_latency_seconds_count"]
	t.Logf("loki-canary: %g lines written, %g read back over the websocket, %g missing, %g unexpected, %g duplicate",
		written, received, m["loki_canary_missing_entries_total"], m["loki_canary_unexpected_entries_total"], m["loki_canary_duplicate_entries_total"])
	if written < 50 {
		t.Errorf("the canary wrote %g lines in 60s", written)
	}
	if received < written*0.9 {
		t.Errorf("the canary read back %g of %g lines over its websocket", received, written)
	}
	for _, k := range []string{"loki_canary_missing_entries_total", "loki_canary_unexpected_entries_total",
		"loki_canary_websocket_missing_entries_total", "loki_canary_duplicate_entries_total"} {
		if m[k] != 0 {
			t.Errorf("%s = %g", k, m[k])
		}
	}
}

// scrape reads the canary's counters (sums over labels).
func scrape(port int) (map[string]float64, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		name, _, _ := strings.Cut(f[0], "{")
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			m[name] += v
		}
	}
	return m, nil
}
