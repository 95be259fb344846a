package metrics

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServesPerInstanceMetrics(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	a, closeA, err := Listen(addr, "kubeship.0", "loki", t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	b, closeB, err := Listen(addr, "kubeship.1", "loki", t.Errorf) // same address: shared
	if err != nil {
		t.Fatal(err)
	}
	a.Request(204, 20*time.Millisecond, 10, 300)
	a.Request(503, time.Second, 10, 300)
	a.Request(0, time.Second, 10, 300)
	a.Retries(2)
	a.Filtered(4)
	a.Flush("ok")
	a.Dropped("status_400", 3)
	b.Flush("retry")
	var nilSet *Set
	nilSet.Request(204, 0, 1, 1) // a nil Set records nothing and does not panic

	body := scrape(t, addr)
	for _, want := range []string{
		`kubeship_records_sent_total{destination="loki",instance="kubeship.0"} 10`,
		`kubeship_bytes_sent_total{destination="loki",instance="kubeship.0"} 300`,
		`kubeship_requests_total{destination="loki",instance="kubeship.0",status_class="2xx"} 1`,
		`kubeship_requests_total{destination="loki",instance="kubeship.0",status_class="5xx"} 1`,
		`kubeship_requests_total{destination="loki",instance="kubeship.0",status_class="error"} 1`,
		`kubeship_retries_total{destination="loki",instance="kubeship.0"} 2`,
		`kubeship_records_filtered_total{destination="loki",instance="kubeship.0"} 4`,
		`kubeship_flushes_total{destination="loki",instance="kubeship.0",result="ok"} 1`,
		`kubeship_flushes_total{destination="loki",instance="kubeship.1",result="retry"} 1`,
		`kubeship_records_dropped_total{destination="loki",instance="kubeship.0",reason="status_400"} 3`,
		`kubeship_request_duration_seconds_count{destination="loki",instance="kubeship.0"} 3`,
		`kubeship_request_records_count{destination="loki",instance="kubeship.0"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	closeA()
	scrape(t, addr) // still served for the other instance
	closeB()
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("listener still open after the last instance closed")
	}
}

func TestBusyAddressIsAClearError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, _, err := Listen(l.Addr().String(), "kubeship.0", "loki", t.Errorf); err == nil || !strings.Contains(err.Error(), "metrics_listen") {
		t.Errorf("err = %v", err)
	}
}

// A listener that stops serving before its last instance closes it (its
// Accept failed for good) is logged through an instance still using it.
func TestStoppedListenerIsLogged(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, closeA, err := Listen(addr, "kubeship.0", "loki", func(string, ...any) { t.Error("logged through an exited instance") })
	if err != nil {
		t.Fatal(err)
	}
	logged := make(chan string, 1)
	_, closeB, err := Listen(addr, "kubeship.1", "loki", func(format string, args ...any) { logged <- fmt.Sprintf(format, args...) })
	if err != nil {
		t.Fatal(err)
	}
	defer closeB()
	closeA() // the instance that opened the listener exits
	mu.Lock()
	_ = listeners[addr].ln.Close() // Accept fails: not a Close of the server
	mu.Unlock()
	select {
	case line := <-logged:
		if want := "metrics_listen " + addr + ": no longer serving /metrics: "; !strings.HasPrefix(line, want) {
			t.Errorf("logged %q, want it to start with %q", line, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing logged")
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
