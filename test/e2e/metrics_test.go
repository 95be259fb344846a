package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
	"github.com/kubeship/kubeship/test/lokiserver"
)

// A real Fluent Bit serves kubeship's metrics on its own endpoint,
// /api/v2/metrics/prometheus, beside its fluentbit_output_* ones and with
// the same name label (Fluent Bit's name of the instance: kubeship.1 behind
// a null output, or the alias), and they move with traffic: dummy records
// into a real Loki, and into an endpoint that refuses them all (400). No
// metrics_listen anywhere. The scrapes are kept in build/e2e/ (make e2e).
func TestFluentBitEndpointMetrics(t *testing.T) {
	bin := fluentbit.Need(t)
	if major, err := fluentbit.Major(bin); err != nil || major < 2 {
		t.Skipf("SKIPPED: %s: kubeship refuses Fluent Bit before 2.0 (TestVersionSupport)", fluentbit.Version(bin))
	}
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := lokiserver.Shared(t, lokiserver.Options{})
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		// A stream-level refusal: every record of the request is dropped.
		http.Error(w, "stream '{run=\"x\"}' has 16 label names; limit 15", http.StatusBadRequest)
	}))
	defer refusing.Close()
	port, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	run := fmt.Sprintf("fbmetrics-%d", time.Now().UnixNano()%1e6)
	config := fmt.Sprintf(`[SERVICE]
    Flush        0.5
    Grace        2
    Log_Level    info
    HTTP_Server  On
    HTTP_Listen  127.0.0.1
    HTTP_Port    %d

[INPUT]
    Name   dummy
    Tag    kube.metrics
    Rate   20
    Dummy  {"log":"GET /api/orders 200","kubernetes":{"namespace_name":"shop","pod_name":"web-0","container_name":"app"}}

[OUTPUT]
    Name   null
    Match  nothing

[OUTPUT]
    Name    kubeship
    Match   kube.*
    url     %s
    labels  run=%s

[OUTPUT]
    Name          kubeship
    Alias         refused
    Match         kube.*
    Workers       2
    url           %s/loki/api/v1/push
    retry_budget  1s
`, port, s.PushURL(), run, refusing.URL)
	p, err := fluentbit.Start(bin, filepath.Join(root, "build", "out_kubeship.so"), t.TempDir(), config)
	fluentbit.SkipIfMissing(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(2 * time.Second); err != nil {
			t.Errorf("%v\n%s", err, p.Logs())
		}
		if t.Failed() {
			t.Logf("fluent bit output:\n%s", p.Logs())
		}
	}()

	const (
		sent    = `fluentbit_kubeship_records_sent_total{name="kubeship.1",destination="loki"}`
		dropped = `fluentbit_kubeship_records_dropped_total{name="refused",destination="loki",reason="status_400"}`
	)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d/api/v2/metrics/prometheus", port)
	// Fluent Bit refreshes what it serves every second.
	scrapeWhen := func(ok func(string) bool) string {
		t.Helper()
		var last string
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			if last = scrapeText(endpoint); ok(last) {
				return last
			}
		}
		t.Fatalf("%s: no such scrape in 30s; the last:\n%s", endpoint, last)
		return ""
	}
	first := scrapeWhen(func(m string) bool { return value(m, sent) > 0 && value(m, dropped) > 0 })
	second := scrapeWhen(func(m string) bool {
		return value(m, sent) >= value(first, sent)+20 && value(m, dropped) >= value(first, dropped)+20
	})
	for _, series := range []string{
		sent, dropped,
		`fluentbit_kubeship_requests_total{name="kubeship.1",destination="loki",status_class="2xx"}`,
		`fluentbit_kubeship_requests_total{name="refused",destination="loki",status_class="4xx"}`,
		`fluentbit_kubeship_flushes_total{name="kubeship.1",destination="loki",result="ok"}`,
		`fluentbit_kubeship_bytes_sent_total{name="kubeship.1",destination="loki"}`,
		`fluentbit_kubeship_request_duration_seconds_count{name="kubeship.1",destination="loki"}`,
		`fluentbit_kubeship_request_duration_seconds_bucket{le="+Inf",name="kubeship.1",destination="loki"}`,
		`fluentbit_kubeship_request_records_count{name="kubeship.1",destination="loki"}`,
		`fluentbit_output_proc_records_total{name="kubeship.1"}`, // Fluent Bit's own, same name
	} {
		if a, b := value(first, series), value(second, series); !(b > a && a > 0) {
			t.Errorf("%s: %v then %v, want it present and moving", series, a, b)
		}
	}
	for _, series := range []string{
		`fluentbit_kubeship_records_sent_total{name="refused",destination="loki"}`,
		`fluentbit_kubeship_records_filtered_total{name="kubeship.1",destination="loki"}`,
		`fluentbit_kubeship_retries_total{name="kubeship.1",destination="loki"}`,
	} {
		if v := value(second, series); v != 0 {
			t.Errorf("%s: %v, want 0", series, v)
		}
	}
	if !regexp.MustCompile(`(?m)^fluentbit_kubeship_build_info\{name="refused",version="[^"]+",goversion="go[^"]+",fluentbit_abi="2.0\+",arch="[a-z0-9]+"\} 1$`).MatchString(second) {
		t.Errorf("no fluentbit_kubeship_build_info for refused in:\n%s", second)
	}
	if strings.Contains(p.Logs(), "metrics: not on Fluent Bit's endpoint") {
		t.Errorf("kubeship fell back from Fluent Bit's endpoint:\n%s", p.Logs())
	}
	// What was counted sent is in Loki.
	if _, err := s.WaitFor(ctx, "", fmt.Sprintf(`{run=%q}`, run), int(value(first, sent)), 30*time.Second); err != nil {
		t.Error(err)
	}

	version := strings.TrimPrefix(fluentbit.Version(bin), "Fluent Bit ")
	excerpt := fmt.Sprintf("# Fluent Bit %s, %s\n# a scrape\n%s# a later one\n%s", version, endpoint,
		kubeshipLines(first), kubeshipLines(second))
	t.Logf("scrapes of %s:\n%s", endpoint, excerpt)
	if dir := filepath.Join(root, "build", "e2e"); os.MkdirAll(dir, 0o755) == nil {
		name := "metrics-" + strings.ReplaceAll(version, " ", "_") + ".txt"
		_ = os.WriteFile(filepath.Join(dir, name), []byte(excerpt), 0o644)
	}
}

func scrapeText(url string) string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// value returns the value of the series named exactly (name and labels, as
// Fluent Bit prints them), or -1 when it is absent.
func value(scrape, series string) float64 {
	for _, l := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// kubeshipLines keeps kubeship's series and Fluent Bit's records of the
// instances, without histogram buckets.
func kubeshipLines(scrape string) string {
	var b strings.Builder
	for _, l := range strings.Split(scrape, "\n") {
		if (strings.HasPrefix(l, "fluentbit_kubeship_") && !strings.Contains(l, "_bucket{")) ||
			strings.HasPrefix(l, "fluentbit_output_proc_records_total{name=\"kubeship.1\"}") ||
			strings.HasPrefix(l, "fluentbit_output_proc_records_total{name=\"refused\"}") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
