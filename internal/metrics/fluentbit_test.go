package metrics

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCMT stands in for an instance's cmetrics context: it keeps each
// series' value (a histogram's count and sum) and fails the test on a call
// that overlaps another or comes after the context was destroyed.
type fakeCMT struct {
	t         *testing.T
	busy      atomic.Int32
	destroyed atomic.Bool
	refuse    string // a metric name whose creation fails
	mu        sync.Mutex
	metrics   []*fakeMetric
}

type fakeMetric struct {
	c       *fakeCMT
	kind    string
	name    string
	keys    []string
	buckets []float64
	series  map[string]*[2]float64 // by label values: value (a histogram's count), sum
}

func (c *fakeCMT) enter() func() {
	if c.destroyed.Load() {
		c.t.Error("cmetrics called after the instance's exit")
	}
	if c.busy.Add(1) != 1 {
		c.t.Error("overlapping cmetrics calls")
	}
	time.Sleep(10 * time.Microsecond) // widen the window for an overlap
	return func() { c.busy.Add(-1) }
}

func (c *fakeCMT) create(kind, ns, sub, name string, buckets []float64, keys []string) (Metric, error) {
	defer c.enter()()
	if name == c.refuse {
		return nil, errors.New("out of memory")
	}
	m := &fakeMetric{c: c, kind: kind, name: ns + "_" + sub + "_" + name, keys: keys, buckets: buckets, series: map[string]*[2]float64{}}
	c.mu.Lock()
	c.metrics = append(c.metrics, m)
	c.mu.Unlock()
	return m, nil
}

func (c *fakeCMT) Counter(ns, sub, name, help string, keys []string) (Metric, error) {
	return c.create("counter", ns, sub, name, nil, keys)
}
func (c *fakeCMT) Gauge(ns, sub, name, help string, keys []string) (Metric, error) {
	return c.create("gauge", ns, sub, name, nil, keys)
}
func (c *fakeCMT) Histogram(ns, sub, name, help string, buckets []float64, keys []string) (Metric, error) {
	return c.create("histogram", ns, sub, name, buckets, keys)
}

func (m *fakeMetric) Series(values ...string) (func(float64), error) {
	defer m.c.enter()()
	if len(values) != len(m.keys) {
		m.c.t.Errorf("%s: %d label values for %d keys", m.name, len(values), len(m.keys))
	}
	var l []string
	for i, k := range m.keys {
		l = append(l, fmt.Sprintf("%s=%q", k, values[i]))
	}
	s := &[2]float64{}
	m.c.mu.Lock()
	m.series[m.name+"{"+strings.Join(l, ",")+"}"] = s
	m.c.mu.Unlock()
	return func(v float64) {
		defer m.c.enter()()
		m.c.mu.Lock()
		defer m.c.mu.Unlock()
		switch m.kind {
		case "counter":
			s[0] += v
		case "gauge":
			s[0] = v
		default:
			s[0]++
			s[1] += v
		}
	}, nil
}

// text lists every series as "name{labels} value" (a histogram's count and
// sum as _count and _sum), sorted.
func (c *fakeCMT) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var lines []string
	for _, m := range c.metrics {
		for k, s := range m.series {
			if m.kind == "histogram" {
				name, labels, _ := strings.Cut(k, "{")
				lines = append(lines, fmt.Sprintf("%s_count{%s %g", name, labels, s[0]), fmt.Sprintf("%s_sum{%s %g", name, labels, s[1]))
				continue
			}
			lines = append(lines, fmt.Sprintf("%s %g", k, s[0]))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

type testLog struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *testLog) add(level, f string, a []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, level+" "+fmt.Sprintf(f, a...))
}
func (l *testLog) Errorf(f string, a ...any) { l.add("error", f, a) }
func (l *testLog) Warnf(f string, a ...any)  { l.add("warn", f, a) }
func (l *testLog) Infof(f string, a ...any)  { l.add("info", f, a) }

// With a context from Fluent Bit, an instance's metrics are there, named
// fluentbit_kubeship_<name> and labelled by Fluent Bit's name of the
// instance and the destination, each known series from the start.
func TestOnFluentBitsEndpoint(t *testing.T) {
	SetBuild("0.1.0-dev.g0123456789ab", "2.0+")
	t.Cleanup(func() { SetBuild("dev", "unknown") })
	c := &fakeCMT{t: t}
	log := &testLog{t: t}
	s, release, err := Open(Options{Instance: "kubeship.0", Destination: "loki", Log: log,
		FluentBit: FluentBit{CMT: c, Name: "kubeship.2"}})
	if err != nil || s == nil {
		t.Fatalf("Open: %v, %v", s, err)
	}
	const l = `name="kubeship.2",destination="loki"`
	at0 := c.text()
	for _, want := range []string{
		`fluentbit_kubeship_records_sent_total{` + l + `} 0`,
		`fluentbit_kubeship_requests_total{` + l + `,status_class="2xx"} 0`,
		`fluentbit_kubeship_requests_total{` + l + `,status_class="error"} 0`,
		`fluentbit_kubeship_flushes_total{` + l + `,result="retry"} 0`,
		`fluentbit_kubeship_records_filtered_total{` + l + `} 0`,
		`fluentbit_kubeship_request_duration_seconds_count{` + l + `} 0`,
		`fluentbit_kubeship_build_info{name="kubeship.2",version="0.1.0-dev.g0123456789ab",goversion="` + runtime.Version() +
			`",fluentbit_abi="2.0+",arch="` + runtime.GOARCH + `"} 1`,
	} {
		if !strings.Contains(at0, want+"\n") {
			t.Errorf("at start, want %s in:\n%s", want, at0)
		}
	}
	if strings.Contains(at0, "records_dropped_total{") {
		t.Errorf("a drop reason before any drop:\n%s", at0)
	}

	s.Request(204, 20*time.Millisecond, 10, 300)
	s.Request(503, time.Second, 10, 300)
	s.Request(0, time.Second, 10, 300)
	s.Retries(2)
	s.Filtered(4)
	s.Flush("ok")
	s.Dropped("status_400", 3)
	s.Dropped("status_400", 1)
	got := c.text()
	for _, want := range []string{
		`fluentbit_kubeship_records_sent_total{` + l + `} 10`,
		`fluentbit_kubeship_bytes_sent_total{` + l + `} 300`,
		`fluentbit_kubeship_requests_total{` + l + `,status_class="2xx"} 1`,
		`fluentbit_kubeship_requests_total{` + l + `,status_class="5xx"} 1`,
		`fluentbit_kubeship_requests_total{` + l + `,status_class="error"} 1`,
		`fluentbit_kubeship_retries_total{` + l + `} 2`,
		`fluentbit_kubeship_records_filtered_total{` + l + `} 4`,
		`fluentbit_kubeship_flushes_total{` + l + `,result="ok"} 1`,
		`fluentbit_kubeship_records_dropped_total{` + l + `,reason="status_400"} 4`,
		`fluentbit_kubeship_request_duration_seconds_count{` + l + `} 3`,
		`fluentbit_kubeship_request_duration_seconds_sum{` + l + `} 2.02`,
		`fluentbit_kubeship_request_records_count{` + l + `} 1`,
	} {
		if !strings.Contains(got+"\n", want+"\n") {
			t.Errorf("want %s in:\n%s", want, got)
		}
	}
	if len(log.lines) != 0 {
		t.Errorf("logged %q", log.lines)
	}
	release()
	c.destroyed.Store(true) // Fluent Bit destroys the context after the exit
	s.Request(204, time.Millisecond, 1, 1)
	s.Dropped("too_large", 1)
}

// Where Fluent Bit has no context to give, one line says why and where the
// metrics are: on metrics_listen, or nowhere until it is set.
func TestFallbackIsOneLine(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	const why = "this Fluent Bit exports no cmt_counter_create"
	tests := []struct {
		name   string
		listen string
		fb     FluentBit
		want   string // the line logged; "" for none
		nilSet bool
	}{
		{"listen", addr, FluentBit{Missing: why},
			"info metrics: not on Fluent Bit's endpoint (" + why + "): on metrics_listen " + addr + " only", false},
		{"nowhere", "", FluentBit{Missing: why},
			"warn metrics: not on Fluent Bit's endpoint (" + why + "), and metrics_listen is off: set it to serve them", true},
		{"refused", "", FluentBit{CMT: &fakeCMT{t: t, refuse: "request_duration_seconds"}, Name: "kubeship.0"},
			"warn metrics: not on Fluent Bit's endpoint (cmetrics refused fluentbit_kubeship_request_duration_seconds: out of memory), and metrics_listen is off: set it to serve them", true},
		{"not asked", "", FluentBit{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &testLog{t: t}
			s, release, err := Open(Options{Instance: "kubeship.0", Destination: "loki", Listen: tt.listen, FluentBit: tt.fb, Log: log})
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			if (s == nil) != tt.nilSet {
				t.Errorf("set %v, want nil %t", s, tt.nilSet)
			}
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if fmt.Sprint(log.lines) != fmt.Sprint(want) {
				t.Errorf("logged %q, want %q", log.lines, want)
			}
			s.Request(204, time.Millisecond, 1, 1) // a nil set records nothing
			if tt.listen != "" && !strings.Contains(scrape(t, addr), `kubeship_records_sent_total{destination="loki",instance="kubeship.0"} 1`) {
				t.Error("metrics_listen lacks the record")
			}
		})
	}
}

// With both, each record goes to both.
func TestFluentBitAndListen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := &fakeCMT{t: t}
	s, release, err := Open(Options{Instance: "kubeship.0", Destination: "datadog", Listen: addr, Log: &testLog{t: t},
		FluentBit: FluentBit{CMT: c, Name: "dd"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Dropped("too_large", 2)
	if want := `fluentbit_kubeship_records_dropped_total{name="dd",destination="datadog",reason="too_large"} 2`; !strings.Contains(c.text(), want) {
		t.Errorf("want %s in:\n%s", want, c.text())
	}
	if want := `kubeship_records_dropped_total{destination="datadog",instance="kubeship.0",reason="too_large"} 2`; !strings.Contains(scrape(t, addr), want) {
		t.Errorf("metrics_listen lacks %s", want)
	}
	release()
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("metrics_listen still open after release")
	}
}

// Concurrent flushes (Fluent Bit's Workers) never call cmetrics at once.
func TestCallsDoNotOverlap(t *testing.T) {
	c := &fakeCMT{t: t}
	s, release, err := Open(Options{Destination: "loki", Log: &testLog{t: t}, FluentBit: FluentBit{CMT: c, Name: "kubeship.0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				s.Request(204, time.Millisecond, 1, 10)
				s.Dropped(fmt.Sprintf("status_%d", 400+(g*50+i)%7), 1)
				s.Flush("ok")
			}
		}()
	}
	wg.Wait()
	got := c.text()
	for _, want := range []string{
		`fluentbit_kubeship_records_sent_total{name="kubeship.0",destination="loki"} 400`,
		`fluentbit_kubeship_flushes_total{name="kubeship.0",destination="loki",result="ok"} 400`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %s in:\n%s", want, got)
		}
	}
}
