package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	fg "github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/faultinject"
	"github.com/kubeship/kubeship/test/host"
)

// metrics_listen serves each instance's Prometheus metrics, labelled by
// instance and destination: records, requests by class, retries, flushes
// and drops by reason.
func TestMetricsPerInstance(t *testing.T) {
	s := loki(t)
	proxy, ddURL := faulty(t, intake(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	h := host.Start(t,
		host.Instance{"url": s.PushURL(), "labels": "test=" + t.Name(), "metrics_listen": addr},
		host.Instance{"destination": "datadog", "apikey": apiKey, "url": ddURL, "metrics_listen": addr, "retry_budget": "5s"})

	if rc := h.Flush(0, tag, eventtest.Chunk(true, fargate(t.Name(), 7)...)); rc != host.FLB_OK {
		t.Fatalf("loki flush: rc %d\n%s", rc, h.Logs())
	}
	p := fg.Pods()[0]
	if err := proxy.Set(faultinject.Mode{Status: 503}, 1); err != nil {
		t.Fatal(err)
	}
	if rc := h.Flush(1, p.Tag(), podChunk(p, 4, func(i int) string { return fmt.Sprint("m", i) })); rc != host.FLB_OK {
		t.Fatalf("datadog flush: rc %d\n%s", rc, h.Logs())
	}
	if err := proxy.Set(faultinject.Mode{Status: 400}, 1); err != nil {
		t.Fatal(err)
	}
	if rc := h.Flush(1, p.Tag(), podChunk(p, 2, func(i int) string { return fmt.Sprint("n", i) })); rc != host.FLB_OK {
		t.Fatalf("datadog flush: rc %d\n%s", rc, h.Logs())
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`kubeship_records_sent_total{destination="loki",instance="kubeship.0"} 7`,
		`kubeship_flushes_total{destination="loki",instance="kubeship.0",result="ok"} 1`,
		`kubeship_requests_total{destination="loki",instance="kubeship.0",status_class="2xx"} 1`,
		`kubeship_records_sent_total{destination="datadog",instance="kubeship.1"} 4`,
		`kubeship_requests_total{destination="datadog",instance="kubeship.1",status_class="5xx"} 1`,
		`kubeship_requests_total{destination="datadog",instance="kubeship.1",status_class="4xx"} 1`,
		`kubeship_retries_total{destination="datadog",instance="kubeship.1"} 1`,
		`kubeship_records_dropped_total{destination="datadog",instance="kubeship.1",reason="status_400"} 2`,
		`kubeship_flushes_total{destination="datadog",instance="kubeship.1",result="ok"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(body), apiKey) {
		t.Error("the API key appears in the metrics")
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
	h.Close()
	// The listener closes with the last instance.
	c := http.Client{Timeout: time.Second}
	if resp, err := c.Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		t.Errorf("metrics still served after exit")
	}
}

// Where Fluent Bit gives each output instance a cmetrics context (2.0 and
// later; the host as 5.1 and 4.2 do), kubeship's metrics are in it, which
// Fluent Bit serves on /api/v2/metrics/prometheus: named
// fluentbit_kubeship_*, labelled with Fluent Bit's name of the instance
// (its alias, else kubeship.N) and the destination, every known series from
// the start, moving with traffic; without metrics_listen. Concurrent
// flushes never call cmetrics at once, and none calls it after the exit
// that lets Fluent Bit destroy the context (a hot reload).
func TestMetricsOnFluentBitsEndpoint(t *testing.T) {
	s := loki(t)
	for _, abi := range []string{"5.1", "4.2"} {
		t.Run(abi, func(t *testing.T) {
			proxy, ddURL := faulty(t, intake(t))
			test := "fbmetrics_" + strings.ReplaceAll(abi, ".", "_")
			h, err := host.StartOpts(t, host.Options{ABI: abi},
				host.Instance{"url": s.PushURL(), "labels": "test=" + test},
				host.Instance{"alias": "dd", "destination": "datadog", "apikey": apiKey, "url": ddURL, "retry_budget": "5s"})
			if err != nil {
				t.Fatal(err)
			}
			const loki0, dd = `name="kubeship.0",destination="loki"`, `name="dd",destination="datadog"`
			want(t, h.Metrics(),
				`fluentbit_output_proc_records_total{name="kubeship.0"} 0`, // Fluent Bit's own, in the same context
				`fluentbit_kubeship_records_sent_total{`+loki0+`} 0`,
				`fluentbit_kubeship_requests_total{`+dd+`,status_class="5xx"} 0`,
				`fluentbit_kubeship_flushes_total{`+dd+`,result="retry"} 0`,
				`fluentbit_kubeship_request_duration_seconds_count{`+loki0+`} 0`,
				`fluentbit_kubeship_build_info{name="dd",version="`,
				"# kubeship-host overlapping=0 after_destroy=0 bad=0")

			if rc := h.Flush(0, tag, eventtest.Chunk(true, fargate(test, 7)...)); rc != host.FLB_OK {
				t.Fatalf("loki flush: rc %d\n%s", rc, h.Logs())
			}
			p := fg.Pods()[0]
			if err := proxy.Set(faultinject.Mode{Status: 503}, 1); err != nil {
				t.Fatal(err)
			}
			if rc := h.Flush(1, p.Tag(), podChunk(p, 4, func(i int) string { return fmt.Sprint("m", i) })); rc != host.FLB_OK {
				t.Fatalf("datadog flush: rc %d\n%s", rc, h.Logs())
			}
			if err := proxy.Set(faultinject.Mode{Status: 400}, 1); err != nil {
				t.Fatal(err)
			}
			if rc := h.Flush(1, p.Tag(), podChunk(p, 2, func(i int) string { return fmt.Sprint("n", i) })); rc != host.FLB_OK {
				t.Fatalf("datadog flush: rc %d\n%s", rc, h.Logs())
			}
			for _, rc := range h.FlushConcurrent(0, tag, eventtest.Chunk(true, fargate(test+"_workers", 5)...), 8) {
				if rc != host.FLB_OK {
					t.Fatalf("concurrent flush: rc %d\n%s", rc, h.Logs())
				}
			}
			got := h.Metrics()
			want(t, got,
				`fluentbit_kubeship_records_sent_total{`+loki0+`} 47`,
				`fluentbit_kubeship_flushes_total{`+loki0+`,result="ok"} 9`,
				`fluentbit_kubeship_requests_total{`+loki0+`,status_class="2xx"} `, // 1 to 9: concurrent flushes may share a request
				`fluentbit_kubeship_request_duration_seconds_bucket{le="+Inf",`+loki0+`} `,
				`fluentbit_kubeship_records_sent_total{`+dd+`} 4`,
				`fluentbit_kubeship_requests_total{`+dd+`,status_class="5xx"} 1`,
				`fluentbit_kubeship_requests_total{`+dd+`,status_class="4xx"} 1`,
				`fluentbit_kubeship_retries_total{`+dd+`} 1`,
				`fluentbit_kubeship_records_dropped_total{`+dd+`,reason="status_400"} 2`,
				`fluentbit_kubeship_flushes_total{`+dd+`,result="ok"} 2`,
				`fluentbit_kubeship_request_duration_seconds_count{`+dd+`} 3`,
				`fluentbit_kubeship_request_records_count{`+dd+`} 1`,
				"# kubeship-host overlapping=0 after_destroy=0 bad=0")
			if strings.Contains(got, apiKey) {
				t.Error("the API key appears in the metrics")
			}
			if strings.Contains(h.Logs(), "metrics:") {
				t.Errorf("a metrics line logged with Fluent Bit's context at hand:\n%s", h.Logs())
			}

			// A hot reload: each instance exits (Fluent Bit then destroys its
			// context) and starts in a new one, from 0.
			h.Reload()
			if rc := h.Flush(0, tag, eventtest.Chunk(true, fargate(test+"_reload", 3)...)); rc != host.FLB_OK {
				t.Fatalf("flush after reload: rc %d\n%s", rc, h.Logs())
			}
			want(t, h.Metrics(),
				`fluentbit_kubeship_records_sent_total{`+loki0+`} 3`,
				`fluentbit_kubeship_records_sent_total{`+dd+`} 0`,
				"# kubeship-host overlapping=0 after_destroy=0 bad=0")
		})
	}
}

// Where Fluent Bit has no context to give, kubeship logs one line saying
// why and where its metrics are, and runs as before: metrics_listen serves
// them if set. Never a crash: with a Fluent Bit built without metrics, the
// API table's output_get_cmt_instance is uninitialised and never called.
func TestMetricsFallback(t *testing.T) {
	s := loki(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	tests := []struct {
		name   string
		opts   host.Options
		listen string
		line   string
	}{
		{"hidden", host.Options{ABI: "hidden"}, addr,
			"[info] [output:kubeship:kubeship.0] metrics: not on Fluent Bit's endpoint (this Fluent Bit exports no functions to plugins): on metrics_listen " + addr + " only"},
		{"built_without_metrics", host.Options{Metrics: "off"}, "",
			"[warn] [output:kubeship:kubeship.0] metrics: not on Fluent Bit's endpoint (its plugin API has no output_get_cmt_instance: built without metrics), and metrics_listen is off: set it to serve them"},
		{"no_context", host.Options{Metrics: "null", ABI: "4.2"}, addr,
			"[info] [output:kubeship:kubeship.0] metrics: not on Fluent Bit's endpoint (the output instance has no metrics context): on metrics_listen " + addr + " only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := host.Instance{"url": s.PushURL(), "labels": "test=fbmetrics_" + tt.name}
			if tt.listen != "" {
				keys["metrics_listen"] = tt.listen
			}
			h, err := host.StartOpts(t, tt.opts, keys)
			if err != nil {
				t.Fatal(err)
			}
			if rc := h.Flush(0, tag, eventtest.Chunk(true, fargate("fbmetrics_"+tt.name, 5)...)); rc != host.FLB_OK {
				t.Fatalf("flush rc %d\n%s", rc, h.Logs())
			}
			if n := strings.Count(h.Logs(), "metrics: "); n != 1 || !strings.Contains(h.Logs(), tt.line) {
				t.Errorf("want one line %q, got:\n%s", tt.line, h.Logs())
			}
			if tt.opts.ABI != "hidden" && strings.Contains(h.Metrics(), "fluentbit_kubeship_") {
				t.Errorf("kubeship's metrics in a context it should not have used:\n%s", h.Metrics())
			}
			if tt.listen != "" {
				resp, err := http.Get("http://" + tt.listen + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want(t, string(body), `kubeship_records_sent_total{destination="loki",instance="kubeship.0"} 5`)
			}
			h.Close()
		})
	}
}

// want fails the test for each line of lines that no line of text starts
// with.
func want(t *testing.T, text string, lines ...string) {
	t.Helper()
	var missing []string
	for _, l := range lines {
		if !strings.HasPrefix(text, l) && !strings.Contains(text, "\n"+l) {
			missing = append(missing, l)
		}
	}
	if len(missing) > 0 {
		t.Errorf("metrics lack:\n%s\nin:\n%s", strings.Join(missing, "\n"), text)
	}
}
