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
