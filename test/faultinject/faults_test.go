package faultinject

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/test/ddintake"
	"github.com/kubeship/kubeship/test/host"
	"github.com/kubeship/kubeship/test/lokiserver"
	"github.com/kubeship/kubeship/test/proc"
)

// KUBESHIP_FAULTS_FULL=1 (make test-faults) runs the long forms: a minute
// of 429s, five minutes of outage under steady input.
var full = os.Getenv("KUBESHIP_FAULTS_FULL") != ""

var (
	rowsMu sync.Mutex
	rows   []row
)

// row is one scenario's line in the results table.
type row struct {
	scenario                  string
	sent, arrived, duplicates int
	maxRSSMB                  float64
}

func TestMain(m *testing.M) {
	code := m.Run()
	lokiserver.StopShared()
	if len(rows) > 0 {
		table := "| scenario | records sent | records arrived | duplicates | max RSS MB |\n|---|---|---|---|---|\n"
		sort.Slice(rows, func(i, j int) bool { return rows[i].scenario < rows[j].scenario })
		for _, r := range rows {
			table += fmt.Sprintf("| %s | %d | %d | %d | %.0f |\n", r.scenario, r.sent, r.arrived, r.duplicates, r.maxRSSMB)
		}
		fmt.Print("\n" + table)
		if root, err := host.RepoRoot(); err == nil {
			dir := filepath.Join(root, "build", "faults")
			_ = os.MkdirAll(dir, 0o755)
			_ = os.WriteFile(filepath.Join(dir, "results.md"), []byte(table), 0o644)
		}
	}
	os.Exit(code)
}

// destination is what a scenario's records go to behind the proxy.
type destination interface {
	upstream(t *testing.T) string                             // base URL the proxy forwards to
	keys(proxyURL, scenario string) host.Instance             // the output's keys to reach it through the proxy
	arrived(t *testing.T, scenario string, want int) []string // lines that arrived, duplicates included
}

// lokiDest is a real Loki, shared by the tests; scenarios tell their
// streams apart by a label.
type lokiDest struct{}

func (lokiDest) upstream(t *testing.T) string { return lokiserver.Shared(t, lokiserver.Options{}).URL }

func (lokiDest) keys(proxyURL, scenario string) host.Instance {
	return host.Instance{"url": proxyURL + "/loki/api/v1/push", "labels": "scenario=" + scenario}
}

func (lokiDest) arrived(t *testing.T, scenario string, want int) []string {
	t.Helper()
	query := fmt.Sprintf(`{scenario=%q}`, scenario)
	loki := lokiserver.Shared(t, lokiserver.Options{})
	streams, err := loki.WaitFor(context.Background(), "", query, want, 30*time.Second)
	if want == 0 {
		time.Sleep(time.Second)
		streams, err = loki.Query(context.Background(), "", query)
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, st := range streams {
		for _, e := range st.Entries {
			lines = append(lines, e.Line)
		}
	}
	return lines
}

// ddDest is the Datadog intake of test/ddintake, shared by the tests;
// scenarios tell their logs apart by the message's first word.
type ddDest struct{}

const ddKey = "faultinject0123456789abcdef012345"

var (
	ddOnce sync.Once
	dd     *ddintake.Server
	ddErr  error
)

func (ddDest) upstream(t *testing.T) string {
	ddOnce.Do(func() { dd, ddErr = ddintake.Start(ddintake.Options{APIKey: ddKey}) })
	if ddErr != nil {
		t.Fatalf("Datadog intake: %v", ddErr)
	}
	return strings.TrimSuffix(dd.URL(), ddintake.Path)
}

func (ddDest) keys(proxyURL, _ string) host.Instance {
	return host.Instance{"destination": "datadog", "apikey": ddKey, "url": proxyURL + ddintake.Path}
}

func (ddDest) arrived(t *testing.T, scenario string, want int) []string {
	if want == 0 { // nothing should come: look once, after a second
		time.Sleep(time.Second)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var lines []string
		distinct := map[string]bool{}
		for _, e := range dd.Entries() {
			if strings.HasPrefix(e.Message, scenario+" ") {
				lines = append(lines, e.Message)
				distinct[e.Message] = true
			}
		}
		if len(distinct) >= want || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dests runs a scenario against each destination.
func dests(t *testing.T, run func(t *testing.T, d destination)) {
	t.Run("loki", func(t *testing.T) { run(t, lokiDest{}) })
	t.Run("datadog", func(t *testing.T) { run(t, ddDest{}) })
}

// scenario is one test's world: a destination behind a fault proxy, and
// the C host with the real .so sending to the proxy.
type scenario struct {
	t     *testing.T
	name  string
	dest  destination
	proxy *Proxy
	host  *host.Host
	lines map[string]bool
	chunk int
}

func newScenario(t *testing.T, d destination, keys host.Instance) *scenario {
	t.Helper()
	p, err := Start(d.upstream(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	name := scenarioName(t)
	in := d.keys(p.URL(), name)
	in["retry_budget"], in["timeout"] = "2s", "1s"
	for k, v := range keys {
		in[k] = v
	}
	return &scenario{t: t, name: name, dest: d, proxy: p, host: host.Start(t, in), lines: map[string]bool{}}
}

// scenarioName makes TestAnswerLost/datadog read answer_lost_datadog.
func scenarioName(t *testing.T) string {
	var b strings.Builder
	for i, r := range strings.TrimPrefix(t.Name(), "Test") {
		switch {
		case r == '/':
			r = '_'
		case unicode.IsUpper(r):
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// nextChunk is n records with lines unique to the scenario, timestamped
// just before now.
func (s *scenario) nextChunk(n int) []byte {
	s.chunk++
	now := time.Now().Add(-time.Minute)
	events := make([]eventtest.Event, n)
	for i := range events {
		body := eventtest.FargateBody(i)
		line := fmt.Sprintf("%s chunk=%d record=%d", s.name, s.chunk, i)
		body["log"] = line
		s.lines[line] = true
		events[i] = eventtest.Event{Time: now.Add(time.Duration(s.chunk*n+i) * time.Microsecond), Body: body}
	}
	return eventtest.Chunk(true, events...)
}

// deliver flushes chunk as Fluent Bit does: again and again, byte for byte,
// while the plugin answers FLB_RETRY. onRetry runs before each new attempt.
func (s *scenario) deliver(chunk []byte, onRetry func(attempt int)) int {
	s.t.Helper()
	for attempt := 1; ; attempt++ {
		rc := s.host.Flush(0, "kube.var.log.containers.x", chunk)
		if rc != host.FLB_RETRY || attempt == 50 {
			return rc
		}
		if onRetry != nil {
			onRetry(attempt)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check waits for want of the scenario's lines at the destination, reports
// lines missing or unexpected, and records the scenario's row. It returns
// the duplicates that arrived.
func (s *scenario) check(want int) int {
	s.t.Helper()
	distinct, dups := countArrived(s.t, s.dest.arrived(s.t, s.name, want), s.lines, want)
	s.record(len(s.lines), distinct, dups)
	return dups
}

// countArrived checks that exactly the lines in sent arrived, want of them,
// and returns how many distinct lines arrived and how many extra copies.
func countArrived(t *testing.T, lines []string, sent map[string]bool, want int) (distinct, dups int) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range lines {
		seen[l]++
		if !sent[l] {
			t.Errorf("unexpected line %q", l)
		}
	}
	if len(seen) != want {
		t.Errorf("%d distinct lines arrived, want %d", len(seen), want)
	}
	return len(seen), len(lines) - len(seen)
}

func (s *scenario) record(sent, arrived, duplicates int) {
	rss, _ := proc.MemoryMB(s.host.PID(), "VmHWM")
	addRow(row{s.name, sent, arrived, duplicates, rss})
}

func addRow(r row) {
	rowsMu.Lock()
	rows = append(rows, r)
	rowsMu.Unlock()
}

// The destination is down at start, then comes back: the chunk handed back
// with FLB_RETRY arrives once when Fluent Bit retries it.
func TestDownAtStartThenBack(t *testing.T) {
	dests(t, func(t *testing.T, d destination) {
		s := newScenario(t, d, nil)
		if err := s.proxy.Set(Mode{Refuse: true}, 0); err != nil {
			t.Fatal(err)
		}
		chunk := s.nextChunk(200)
		rc := s.deliver(chunk, func(attempt int) {
			if attempt == 2 {
				if err := s.proxy.Set(Mode{}, 0); err != nil {
					t.Fatal(err)
				}
			}
		})
		if rc != host.FLB_OK {
			t.Fatalf("rc %d after the destination came back\n%s", rc, s.host.Logs())
		}
		s.check(200)
	})
}

// Down for a while in the middle of a stream of chunks: the chunks flushed
// meanwhile are handed back, Fluent Bit goes on with the next ones and
// retries those later, as its scheduler does.
func TestOutageMidStream(t *testing.T) {
	dests(t, func(t *testing.T, d destination) {
		s := newScenario(t, d, host.Instance{"retry_budget": "500ms"})
		var pending [][]byte
		for i := range 9 {
			switch i {
			case 3:
				if err := s.proxy.Set(Mode{Refuse: true}, 0); err != nil {
					t.Fatal(err)
				}
			case 6:
				if err := s.proxy.Set(Mode{}, 0); err != nil {
					t.Fatal(err)
				}
				for _, c := range pending {
					if rc := s.deliver(c, nil); rc != host.FLB_OK {
						t.Fatalf("retried chunk: rc %d\n%s", rc, s.host.Logs())
					}
				}
			}
			chunk := s.nextChunk(100)
			switch rc := s.host.Flush(0, "kube.var.log.containers.x", chunk); {
			case rc == host.FLB_RETRY && i >= 3 && i < 6:
				pending = append(pending, chunk)
			case rc != host.FLB_OK:
				t.Fatalf("chunk %d: rc %d\n%s", i, rc, s.host.Logs())
			}
		}
		if len(pending) != 3 {
			t.Errorf("%d chunks handed back during the outage, want 3", len(pending))
		}
		s.check(900)
	})
}

// Resets mid-request and bursts of 500/502/503 are retried inside the flush.
func TestTransientFaultsRetriedInFlush(t *testing.T) {
	dests(t, func(t *testing.T, d destination) {
		for _, f := range []struct {
			name  string
			modes []Mode
		}{
			{"reset", []Mode{{Reset: true}, {Reset: true}}},
			{"5xx_burst", []Mode{{Status: 500}, {Status: 502}, {Status: 503}}},
			{"429_without_retry_after", []Mode{{Status: 429}, {Status: 429}}},
		} {
			t.Run(f.name, func(t *testing.T) {
				s := newScenario(t, d, host.Instance{"retry_budget": "10s"})
				chunk := s.nextChunk(100)
				// Each fault answers one request, in order.
				done := make(chan int)
				go func() { done <- s.host.Flush(0, "kube.var.log.containers.x", chunk) }()
				for _, m := range f.modes {
					if err := s.proxy.Set(m, 1); err != nil {
						t.Fatal(err)
					}
					waitRequests(s.proxy, len(s.proxy.Requests())+1, 5*time.Second)
				}
				_ = s.proxy.Set(Mode{}, 0)
				if rc := <-done; rc != host.FLB_OK {
					t.Fatalf("rc %d\n%s", rc, s.host.Logs())
				}
				s.check(100)
			})
		}
	})
}

// The destination stores a request but its answer is lost: the plugin
// cannot know and sends the request again. At-least-once means a copy:
// Loki drops an exact duplicate (same stream, time and line), Datadog keeps
// both.
func TestAnswerLost(t *testing.T) {
	dests(t, func(t *testing.T, d destination) {
		s := newScenario(t, d, nil)
		if err := s.proxy.Set(Mode{LoseAnswer: true}, 1); err != nil {
			t.Fatal(err)
		}
		if rc := s.deliver(s.nextChunk(100), nil); rc != host.FLB_OK {
			t.Fatalf("rc %d\n%s", rc, s.host.Logs())
		}
		if got := s.proxy.Outcomes()["answer_lost"]; got != 1 {
			t.Fatalf("%d answers lost, want 1", got)
		}
		want := 0
		if _, ok := d.(ddDest); ok {
			want = 100
		}
		if dups := s.check(100); dups != want {
			t.Errorf("%d duplicates seen, want %d", dups, want)
		}
	})
}

func waitRequests(p *Proxy, n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for len(p.Requests()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// A retry storm: 429 with Retry-After: 1 for a while. The plugin waits as
// told (never two requests within a second), then catches up.
func TestRetryStorm(t *testing.T) {
	dests(t, func(t *testing.T, d destination) {
		storm := 4 * time.Second
		if full {
			storm = time.Minute
		}
		s := newScenario(t, d, host.Instance{"retry_budget": (storm + 10*time.Second).String()})
		if err := s.proxy.Set(Mode{Status: 429, RetryAfter: "1"}, 0); err != nil {
			t.Fatal(err)
		}
		chunk := s.nextChunk(100)
		done := make(chan int)
		go func() { done <- s.host.Flush(0, "kube.var.log.containers.x", chunk) }()
		time.Sleep(storm)
		stormRequests := s.proxy.Requests()
		_ = s.proxy.Set(Mode{}, 0)
		if rc := <-done; rc != host.FLB_OK {
			t.Fatalf("rc %d\n%s", rc, s.host.Logs())
		}
		for i := 1; i < len(stormRequests); i++ {
			if gap := stormRequests[i].Sub(stormRequests[i-1]); gap < 950*time.Millisecond {
				t.Errorf("request %d came %s after the one before: Retry-After: 1 not honoured", i, gap)
			}
		}
		if max := int(storm/time.Second) + 1; len(stormRequests) > max {
			t.Errorf("%d requests in a %s storm, want at most %d", len(stormRequests), storm, max)
		}
		s.check(100)
	})
}

// A slow destination: each request stalls past `timeout`; the flush gives
// up within retry_budget (plus one request timeout) and hands the chunk back.
func TestSlowDestination(t *testing.T) {
	dests(t, func(t *testing.T, d destination) {
		s := newScenario(t, d, host.Instance{"timeout": "1s", "retry_budget": "2s"})
		if err := s.proxy.Set(Mode{Stall: 10 * time.Second}, 0); err != nil {
			t.Fatal(err)
		}
		chunk := s.nextChunk(50)
		start := time.Now()
		rc := s.host.Flush(0, "kube.var.log.containers.x", chunk)
		took := time.Since(start)
		if rc != host.FLB_RETRY {
			t.Errorf("rc %d, want FLB_RETRY", rc)
		}
		if limit := 2*time.Second + time.Second + 2*time.Second; took > limit {
			t.Errorf("the flush took %s, want at most retry_budget + timeout + 2s = %s", took, limit)
		}
		_ = s.proxy.Set(Mode{}, 0)
		if rc := s.deliver(chunk, nil); rc != host.FLB_OK {
			t.Fatalf("rc %d once the destination is fast again", rc)
		}
		s.check(50)
	})
}

// Permanent rejections are never retried: one request, records dropped and
// counted by reason.
func TestPermanentErrorsAreNotRetried(t *testing.T) {
	dests(t, func(t *testing.T, d destination) {
		for _, f := range []struct {
			status  int
			records int
			reason  string
		}{
			{400, 20, "status_400"},
			{401, 20, "status_401"},
			{403, 20, "status_403"},
			{413, 1, "too_large"}, // a single record cannot be split
		} {
			t.Run(strconv.Itoa(f.status), func(t *testing.T) {
				s := newScenario(t, d, nil)
				if err := s.proxy.Set(Mode{Status: f.status}, 0); err != nil {
					t.Fatal(err)
				}
				if rc := s.host.Flush(0, "kube.var.log.containers.x", s.nextChunk(f.records)); rc != host.FLB_OK {
					t.Errorf("rc %d, want FLB_OK (nothing to retry)", rc)
				}
				if n := len(s.proxy.Requests()); n != 1 {
					t.Errorf("%d requests, want 1", n)
				}
				s.record(f.records, 0, 0)
				s.host.Close()
				if want := fmt.Sprintf("records_dropped_%s=%d", f.reason, f.records); !strings.Contains(s.host.Logs(), want) {
					t.Errorf("exit line lacks %s:\n%s", want, s.host.Logs())
				}
			})
		}
	})
}

// Memory stays bounded through an outage under steady input: every chunk
// is handed back (FLB_RETRY) and kept by Fluent Bit, not by the plugin.
func TestMemoryDuringOutage(t *testing.T) {
	dur := 20 * time.Second
	if full {
		dur = 5 * time.Minute
	}
	s := newScenario(t, lokiDest{}, host.Instance{"retry_budget": "100ms", "timeout": "100ms"})
	if err := s.proxy.Set(Mode{Refuse: true}, 0); err != nil {
		t.Fatal(err)
	}
	var chunks [][]byte
	var nums []int // their numbers, see nextChunk
	var samples []float64
	start := time.Now()
	for time.Since(start) < dur {
		chunk := s.nextChunk(1000)
		chunks, nums = append(chunks, chunk), append(nums, s.chunk)
		if rc := s.host.Flush(0, "kube.var.log.containers.x", chunk); rc != host.FLB_RETRY {
			t.Fatalf("rc %d during the outage", rc)
		}
		rss, err := proc.MemoryMB(s.host.PID(), "VmRSS")
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, rss)
		if len(chunks) > 4 { // Fluent Bit keeps them all on disk; the test resends the last 4 (LogQL reads 5000 entries at most)
			chunks, nums = chunks[1:], nums[1:]
		}
	}
	writePlot(t, samples, dur)
	// A bound with room: the Go runtime, the plugin's pools and one chunk in
	// flight; a plugin that kept every failed chunk would pass it within seconds.
	if peak := maxOf(samples); peak > 150 {
		t.Errorf("RSS reached %.0f MB during the outage, want under 150 MB", peak)
	}
	if late, early := samples[len(samples)-1], samples[len(samples)/4]; late > early*1.5+20 {
		t.Errorf("RSS grew from %.0f to %.0f MB during the outage", early, late)
	}
	t.Logf("%d chunks of 1000 records handed back during %s; RSS %.0f → %.0f MB", s.chunk, dur, samples[0], samples[len(samples)-1])
	// Fluent Bit resends what it kept; it all arrives.
	s.lines = map[string]bool{}
	for _, n := range nums {
		for i := range 1000 {
			s.lines[fmt.Sprintf("%s chunk=%d record=%d", s.name, n, i)] = true
		}
	}
	_ = s.proxy.Set(Mode{}, 0)
	for _, c := range chunks {
		if rc := s.deliver(c, nil); rc != host.FLB_OK {
			t.Fatalf("rc %d after the outage", rc)
		}
	}
	s.check(len(chunks) * 1000)
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// writePlot writes the RSS samples as CSV and an SVG line under build/faults.
func writePlot(t *testing.T, samples []float64, dur time.Duration) {
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "build", "faults")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	csv := "sample,rss_mb\n"
	const w, h = 600, 200
	top := maxOf(samples) * 1.1
	var pts []string
	for i, v := range samples {
		csv += fmt.Sprintf("%d,%.1f\n", i, v)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", 40+float64(i)/float64(max(1, len(samples)-1))*w, 20+h-v/top*h))
	}
	svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">
<text x="40" y="14">kubeship host RSS (MB) during a %s outage, one sample per 1000-record chunk handed back</text>
<text x="4" y="%d">%.0f</text><text x="4" y="%d">0</text>
<polyline fill="none" stroke="#2b7bb9" stroke-width="2" points="%s"/>
</svg>
`, w+60, h+40, dur, 24, top, h+20, strings.Join(pts, " "))
	_ = os.WriteFile(filepath.Join(dir, "memory.csv"), []byte(csv), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "memory.svg"), []byte(svg), 0o644)
}
