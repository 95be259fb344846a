package sink

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/delivery"
	"github.com/kubeship/kubeship/internal/destination"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/metrics"
)

// sender answers with status(n) for the n-th request (from 0) and counts records.
type sender struct {
	status  func(n int) int
	calls   atomic.Int64
	records atomic.Int64
}

func (s *sender) Send(ctx context.Context, r delivery.Request) delivery.Response {
	n := int(s.calls.Add(1) - 1)
	code := 204
	if s.status != nil {
		code = s.status(n)
	}
	if code/100 == 2 {
		s.records.Add(int64(r.Records))
	}
	return delivery.Response{Status: code}
}

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) add(level, f string, a []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, level+" "+fmt.Sprintf(f, a...))
}
func (l *logs) Errorf(f string, a ...any) { l.add("error", f, a) }
func (l *logs) Warnf(f string, a ...any)  { l.add("warn", f, a) }
func (l *logs) Infof(f string, a ...any)  { l.add("info", f, a) }
func (l *logs) Debugf(f string, a ...any) { l.add("debug", f, a) }
func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func newSink(t testing.TB, keys config.Map, s delivery.Sender) (*Sink, *logs) {
	t.Helper()
	m := config.Map{"url": "http://127.0.0.1:1/loki/api/v1/push", "retry_budget": "200ms"}
	for k, v := range keys {
		m[k] = v
	}
	cfg, err := config.Parse(m)
	if err != nil {
		t.Fatal(err)
	}
	l := &logs{}
	return NewWithSender(cfg, s, l), l
}

func chunk(n int, prefix string) []byte {
	events := make([]eventtest.Event, n)
	for i := range events {
		events[i] = eventtest.Event{Time: time.Now(), Body: map[string]any{"log": fmt.Sprintf("%s %d", prefix, i)}}
	}
	return eventtest.Chunk(true, events...)
}

func TestFlushStatuses(t *testing.T) {
	tests := []struct {
		name   string
		status func(int) int
		chunk  []byte
		want   Status
		log    string
	}{
		{"accepted", nil, chunk(3, "a"), OK, ""},
		{"server_down_returns_retry", func(int) int { return 503 }, chunk(3, "a"), Retry, "HTTP 503; retry budget spent"},
		{"permanent_rejection_is_acknowledged", func(int) int { return 400 }, chunk(3, "a"), OK, "HTTP 400; up to 3 records refused, not retried"},
		{"malformed_chunk_is_an_error", nil, append(chunk(2, "a"), 0x92, 0xc1), Error, "malformed chunk, 2 readable records delivered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snd := &sender{status: tt.status}
			s, l := newSink(t, nil, snd)
			if got := s.Flush("tag", tt.chunk); got != tt.want {
				t.Errorf("Flush = %v, want %v\n%s", got, tt.want, l)
			}
			if !strings.Contains(l.String(), tt.log) {
				t.Errorf("log lacks %q:\n%s", tt.log, l)
			}
		})
	}
}

// After FLB_RETRY the same chunk comes back: only its unsent requests go out.
func TestRetriedChunkResendsOnlyWhatFailed(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	snd := &sender{status: func(n int) int {
		if n > 0 && down.Load() {
			return 503
		}
		return 204
	}}
	s, _ := newSink(t, config.Map{"batch_size": "1KB"}, snd)
	c := chunk(40, strings.Repeat("x", 100)) // ~5 requests of 1 KB
	if got := s.Flush("tag", c); got != Retry {
		t.Fatalf("first flush %v", got)
	}
	first := snd.records.Load()
	if first == 0 || first == 40 {
		t.Fatalf("first flush delivered %d of 40", first)
	}
	down.Store(false)
	if got := s.Flush("tag", c); got != OK {
		t.Fatalf("second flush %v", got)
	}
	if n := snd.records.Load(); n != 40 {
		t.Errorf("%d records delivered in all, want exactly 40", n)
	}
}

func TestNotesAreLoggedOnceAndTotalledAtExit(t *testing.T) {
	s, l := newSink(t, config.Map{"max_line_size": "10"}, &sender{})
	for i := 0; i < 3; i++ {
		if got := s.Flush("tag", chunk(2, "a long line")); got != OK {
			t.Fatal(got)
		}
	}
	s.Close()
	out := l.String()
	if n := strings.Count(out, "lines longer than max_line_size (10 bytes) are truncated"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, out)
	}
	if !strings.Contains(out, "exit: lines_truncated=6 records_sent=6") {
		t.Errorf("no totals:\n%s", out)
	}
}

// Joined split lines are counted (a count, not a loss: logged at info).
func TestJoinedLinesAreCounted(t *testing.T) {
	for _, dest := range []config.Map{{}, {"destination": "datadog", "apikey": "k", "url": "http://127.0.0.1:1/api/v2/logs"}} {
		t.Run(dest.Get("destination")+"_", func(t *testing.T) {
			s, l := newSink(t, dest, &sender{status: func(int) int { return 202 }})
			c := eventtest.Chunk(true,
				eventtest.Event{Time: time.Now(), Body: map[string]any{"log": "2026-11-22T10:00:00Z stdout P he"}},
				eventtest.Event{Time: time.Now(), Body: map[string]any{"log": "2026-11-22T10:00:00Z stdout P ll"}},
				eventtest.Event{Time: time.Now(), Body: map[string]any{"log": "2026-11-22T10:00:00Z stdout F o"}})
			if got := s.Flush("tag", c); got != OK {
				t.Fatal(got)
			}
			s.Close()
			out := l.String()
			if !strings.Contains(out, "info split lines (P parts) joined into one ") || !strings.Contains(out, "lines_joined=2") {
				t.Errorf("joined lines not logged at info and counted:\n%s", out)
			}
		})
	}
}

func TestConcurrentFlushes(t *testing.T) {
	snd := &sender{}
	s, _ := newSink(t, nil, snd)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if got := s.Flush(fmt.Sprint("tag", g), chunk(5, fmt.Sprint(g, i))); got != OK {
					t.Errorf("flush %d/%d: %v", g, i, got)
				}
			}
		}(g)
	}
	wg.Wait()
	if n := snd.records.Load(); n != 8*20*5 {
		t.Errorf("%d records, want %d", n, 8*20*5)
	}
}

// Close during an outage ends a flush that is waiting to retry.
func TestCloseStopsRetries(t *testing.T) {
	s, _ := newSink(t, config.Map{"retry_budget": "1m"}, &sender{status: func(int) int { return 503 }})
	done := make(chan Status)
	go func() { done <- s.Flush("tag", chunk(1, "a")) }()
	time.Sleep(100 * time.Millisecond)
	s.Close()
	select {
	case got := <-done:
		if got != Retry {
			t.Errorf("Flush = %v, want Retry", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("flush still retrying 5 s after Close")
	}
}

// One huge record grows a batch's buffers to its size; they are not kept
// for the next flushes (the line itself is cut to max_line_size), so the
// memory goes back once the record is delivered.
func TestHugeRecordBuffersAreNotKept(t *testing.T) {
	for _, dest := range []config.Map{{}, {"destination": "datadog", "apikey": "k", "url": "http://127.0.0.1:1/api/v2/logs"}} {
		t.Run(dest.Get("destination")+"_", func(t *testing.T) {
			s, _ := newSink(t, dest, &sender{status: func(int) int { return 202 }})
			chunk := eventtest.Chunk(true, eventtest.Event{Time: time.Now(), Body: map[string]any{"log": strings.Repeat("x", 32<<20)}})
			if st := s.Flush("app", chunk); st != OK {
				t.Fatalf("flush: %v", st)
			}
			chunk = nil
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > 16<<20 {
				t.Errorf("%d MB of heap live after the huge record was delivered: its buffers were kept", m.HeapAlloc>>20)
			}
			runtime.KeepAlive(s)
		})
	}
}

// panicky panics on its first warning (a note, logged while the sink's
// counters are locked), as a broken logger might.
type panicky struct {
	logs
	once sync.Once
}

func (p *panicky) Warnf(string, ...any) { p.once.Do(func() { panic("logger") }) }

// A panic while the sink holds its lock (recovered by the plugin) must not
// leave the lock held: the next flush would hang for good.
func TestPanicDoesNotLeaveTheSinkLocked(t *testing.T) {
	cfg, err := config.Parse(config.Map{"url": "http://127.0.0.1:1/loki/api/v1/push", "max_line_size": "1", "retry_budget": "200ms"})
	if err != nil {
		t.Fatal(err)
	}
	p := &panicky{}
	s := NewWithSender(cfg, &sender{}, p)
	func() {
		defer func() { _ = recover() }()
		s.Flush("app", chunk(1, "a"))
	}()
	done := make(chan Status)
	go func() { done <- s.Flush("app", chunk(1, "b")) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the second flush hangs: the sink's lock was left held")
	}
}

// Records the pod's rules exclude are counted as filtered, not dropped; a
// pod's broken rule is logged once per pod, naming it, and counted.
func TestFilteredAndIgnoredAnnotationsAreCounted(t *testing.T) {
	s, l := newSink(t, config.Map{"destination": "datadog", "apikey": "k", "url": "http://127.0.0.1:1/api/v2/logs"}, &sender{status: func(int) int { return 202 }})
	podChunk := func(pod string) []byte {
		k := map[string]any{"namespace_name": "shop", "pod_name": pod, "container_name": "app", "annotations": map[string]any{
			"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[{"type":"exclude_at_match","name":"health","pattern":"healthz"},
				{"type":"include_at_match","name":"broken","pattern":"("}]}]`}}
		return eventtest.Chunk(true,
			eventtest.Event{Time: time.Now(), Body: map[string]any{"log": "GET /healthz", "kubernetes": k}},
			eventtest.Event{Time: time.Now(), Body: map[string]any{"log": "GET /cart", "kubernetes": k}})
	}
	for _, pod := range []string{"web-1", "web-1", "web-2"} {
		if got := s.Flush("tag", podChunk(pod)); got != OK {
			t.Fatal(got)
		}
	}
	s.Close()
	out := l.String()
	for _, want := range []string{"records_filtered=3", "records_sent=3", "annotations_ignored=6",
		"info records excluded by their pod's log processing rules"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, pod := range []string{"web-1", "web-2"} {
		if n := strings.Count(out, "warn pod shop/"+pod+`, container app: ad.datadoghq.com/app.logs: rule "broken"`); n != 1 {
			t.Errorf("%s's broken rule logged %d times, want once:\n%s", pod, n, out)
		}
	}
	if strings.Contains(out, "records_dropped") {
		t.Errorf("filtered records counted as dropped:\n%s", out)
	}
}

// recorder answers 204 (or fail's status) and keeps each request's records.
type recorder struct {
	mu      sync.Mutex
	records []int
	fail    int
}

func (r *recorder) Send(_ context.Context, req delivery.Request) delivery.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, req.Records)
	if r.fail != 0 {
		return delivery.Response{Status: r.fail, RetryAfter: time.Hour}
	}
	return delivery.Response{Status: 204}
}

// With batch_wait, flushes that run at the same time go as one push, and
// each is answered for its own records.
func TestGroupCommit(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail int
		want Status
	}{
		{"joined", 0, OK},
		{"all_retried", 503, Retry},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{fail: tt.fail}
			s, _ := newSink(t, config.Map{"batch_wait": "1h"}, r)
			// Four of Fluent Bit's workers busy, whatever the order in which
			// their flushes get here: the group goes once all four joined.
			for range 4 {
				s.group.enter()
			}
			var wg sync.WaitGroup
			got := make([]Status, 4)
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i] = s.Flush("tag", chunk(3, fmt.Sprint("flush ", i)))
				}()
			}
			// Once the four flushes are in flight too, the busy workers
			// finish.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				s.group.mu.Lock()
				n := s.group.inflight
				s.group.mu.Unlock()
				if n == 8 || time.Now().After(deadline) {
					break
				}
			}
			for range 4 {
				s.group.leave()
			}
			wg.Wait()
			s.Close()
			for i, st := range got {
				if st != tt.want {
					t.Errorf("flush %d: %v, want %v", i, st, tt.want)
				}
			}
			if fmt.Sprint(r.records) != "[12]" {
				t.Errorf("requests of %v records, want one of 12", r.records)
			}
		})
	}
}

// A group is sent as soon as every flush in flight joined it: no other can
// join before it is delivered (each holds one of Fluent Bit's workers), so
// waiting out batch_wait would only stall them. One flush alone waits for
// company, unless flushes never ran at once (Workers 0 or 1).
func TestGroupReady(t *testing.T) {
	deliver := func(c *committer, n int) []delivery.Result {
		results := make([]delivery.Result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[i] = c.deliver(context.Background(), delivery.Member{Key: func() uint64 { return uint64(i) }})
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the group waits for batch_wait")
		}
		return results
	}
	newCommitter := func() *committer {
		return &committer{d: &delivery.Deliverer{Sender: &recorder{}, Budget: time.Second, Log: &logs{}}, wait: time.Hour, maxBytes: 1 << 20}
	}

	c := newCommitter()
	for range 3 {
		c.enter() // three flushes in flight, joining in any order
	}
	if got := deliver(c, 3); fmt.Sprint(got) != fmt.Sprint([]delivery.Result{delivery.OK, delivery.OK, delivery.OK}) {
		t.Errorf("results %v", got)
	}

	c = newCommitter() // Workers 1: one flush at a time, never waiting
	for range 3 {
		c.enter()
		deliver(c, 1)
		c.leave()
	}
}

// A group is sent once it holds batch_size, without waiting for batch_wait.
func TestGroupSentWhenFull(t *testing.T) {
	r := &recorder{}
	s, _ := newSink(t, config.Map{"batch_wait": "1h", "batch_size": "1KB"}, r)
	done := make(chan Status)
	go func() { done <- s.Flush("tag", chunk(40, strings.Repeat("x", 100))) }()
	select {
	case st := <-done:
		if st != OK {
			t.Errorf("status %v", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a full group waits for batch_wait")
	}
}

// Close closes the sink's connections: an instance retired by a hot reload
// keeps no sockets open.
func TestCloseClosesConnections(t *testing.T) {
	closed := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	s, err := New(config.Map{"url": srv.URL + "/loki/api/v1/push"}, &logs{}, "test", "kubeship.0", metrics.FluentBit{})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Flush("kube.x", chunk(3, "line")); st != OK {
		t.Fatalf("flush: %v", st)
	}
	s.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection is still open after Close")
	}
}

// fakeClock moves only when waited on, so that a retry budget is counted,
// not spent.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1700000000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.Advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// tenants answers by X-Scope-OrgID: 429 to the tenants in limited, 204 to
// the others; it counts each tenant's requests and records. retried, when
// set, is called before each answer to a request sent again.
type tenants struct {
	mu       sync.Mutex
	limited  map[string]bool
	requests map[string]int
	records  map[string]int
	retried  func()
}

func newTenants(limited ...string) *tenants {
	t := &tenants{limited: map[string]bool{}, requests: map[string]int{}, records: map[string]int{}}
	for _, l := range limited {
		t.limited[l] = true
	}
	return t
}

func (s *tenants) Send(_ context.Context, r delivery.Request) delivery.Response {
	tenant := r.Header["X-Scope-OrgID"]
	s.mu.Lock()
	s.requests[tenant]++
	again, retried := s.requests[tenant] > 1, s.retried
	limited := s.limited[tenant]
	if !limited {
		s.records[tenant] += r.Records
	}
	s.mu.Unlock()
	if again && retried != nil {
		retried()
	}
	if limited {
		return delivery.Response{Status: 429}
	}
	return delivery.Response{Status: 204}
}

func (s *tenants) counts() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("requests %v records %v", s.requests, s.records)
}

// tenantChunk is n records of each tenant named, in turn.
func tenantChunk(n int, names ...string) []byte {
	var events []eventtest.Event
	for i := range n {
		for _, name := range names {
			events = append(events, eventtest.Event{Time: time.Now(), Body: map[string]any{"log": fmt.Sprint("line ", i), "team": name}})
		}
	}
	return eventtest.Chunk(true, events...)
}

// joinAll runs one flush per chunk as one group (as Fluent Bit's workers
// would, all in flight at once) and returns their answers.
func joinAll(s *Sink, chunks [][]byte) []Status {
	s.group.enter() // a busy worker: the group waits for every flush
	var wg sync.WaitGroup
	got := make([]Status, len(chunks))
	for i, c := range chunks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = s.Flush(fmt.Sprint("tag", i), c)
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.group.mu.Lock()
		n := 0
		if s.group.open != nil {
			n = len(s.group.open.members)
		}
		s.group.mu.Unlock()
		if n == len(chunks) || time.Now().After(deadline) {
			break
		}
	}
	s.group.leave()
	wg.Wait()
	return got
}

// One tenant Loki keeps refusing (429) fails alone, whether its records
// come in a flush of their own, joined with others (batch_wait), or in one
// flush with other tenants' records: the others are sent once and
// acknowledged, it is retried within the budget and handed back, and its
// chunk, when it returns, sends only what was refused.
func TestFailingTenantFailsAlone(t *testing.T) {
	const budget = 10 * time.Second
	tests := []struct {
		name   string
		chunks [][]byte
		want   []Status
	}{
		{"group_of_three", [][]byte{tenantChunk(2, "a"), tenantChunk(2, "b"), tenantChunk(2, "c")}, []Status{Retry, OK, OK}},
		{"one_flush_of_three_tenants", [][]byte{tenantChunk(2, "a", "b", "c")}, []Status{Retry}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snd := newTenants("a")
			keys := config.Map{"tenant_id_key": "$team", "retry_budget": budget.String()}
			if len(tt.chunks) > 1 {
				keys["batch_wait"] = "1h"
			}
			s, l := newSink(t, keys, snd)
			clock := newFakeClock()
			s.deliver.Clock = clock
			start := clock.Now()
			var got []Status
			if s.group != nil {
				got = joinAll(s, tt.chunks)
			} else {
				got = []Status{s.Flush("tag0", tt.chunks[0])}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("answers %v, want %v\n%s", got, tt.want, l)
			}
			if got := snd.counts(); snd.requests["b"] != 1 || snd.requests["c"] != 1 || snd.records["b"] != 2 || snd.records["c"] != 2 {
				t.Errorf("%s; want one request of 2 records each for b and c", got)
			}
			if took := clock.Now().Sub(start); took > budget || snd.requests["a"] < 2 {
				t.Errorf("a sent %d times over %s; want retries within the %s budget", snd.requests["a"], took, budget)
			}

			// a's chunk returns, its tenant now accepted: only its records go.
			snd.mu.Lock()
			snd.limited = nil
			snd.mu.Unlock()
			if s.group != nil {
				s.group.wait = time.Millisecond // alone, it waits out batch_wait
			}
			if got := s.Flush("tag0", tt.chunks[0]); got != OK {
				t.Errorf("returning chunk: %v", got)
			}
			if got := snd.counts(); snd.requests["b"] != 1 || snd.requests["c"] != 1 || snd.records["a"] != 2 {
				t.Errorf("after the return: %s; want a's 2 records, and nothing more for b and c", got)
			}
			s.Close()
			if !strings.Contains(l.String(), "records_sent=6") {
				t.Errorf("totals:\n%s", l)
			}
		})
	}
}

// The flushes of a group whose records were accepted answer Fluent Bit at
// once, while the group still retries a tenant Loki refuses: one tenant's
// 429s must not hold every worker for the retry budget.
func TestGroupAnswersDoneFlushesAtOnce(t *testing.T) {
	snd := newTenants("a")
	s, _ := newSink(t, config.Map{"batch_wait": "1h", "tenant_id_key": "$team", "retry_budget": "1m"}, snd)
	s.deliver.Clock = newFakeClock()
	var others sync.WaitGroup
	others.Add(2)
	othersDone := make(chan struct{})
	go func() { others.Wait(); close(othersDone) }()
	early := make(chan bool, 1)
	var once sync.Once
	snd.retried = func() { // a is retried: have b and c answered?
		once.Do(func() {
			select {
			case <-othersDone:
				early <- true
			case <-time.After(5 * time.Second):
				early <- false
			}
		})
	}
	// a's flush leads the group (it opens it): it delivers, and waits.
	s.group.enter()
	aDone := make(chan Status)
	go func() { aDone <- s.Flush("tag-a", tenantChunk(1, "a")) }()
	waitMembers := func(n int) {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			s.group.mu.Lock()
			ok := s.group.open != nil && len(s.group.open.members) == n
			s.group.mu.Unlock()
			if ok {
				return
			}
		}
		t.Fatalf("the group never had %d members", n)
	}
	waitMembers(1)
	for _, name := range []string{"b", "c"} {
		go func() {
			defer others.Done()
			if got := s.Flush("tag-"+name, tenantChunk(1, name)); got != OK {
				t.Errorf("%s: %v", name, got)
			}
		}()
	}
	waitMembers(3)
	s.group.leave()
	if got := <-aDone; got != Retry {
		t.Errorf("a: %v, want Retry", got)
	}
	select {
	case ok := <-early:
		if !ok {
			t.Error("b and c answered only once the group was done retrying a")
		}
	default:
		t.Error("a was not retried")
	}
	<-othersDone
}

// Pod churn brings ever new problem lines (one per pod, up to the size of
// an annotation): the counters' memory stays bounded whatever their
// number, the totals stay right, and each new line is logged the first
// time until 1024 were, then one a minute, with how many were held back.
func TestNoteLinesDoNotGrowMemory(t *testing.T) {
	l := &logs{}
	c := newCounters(l)
	clock := newFakeClock()
	c.now = clock.Now
	const pods = 100_000
	line := func(i int) destination.Count {
		return destination.Count{Note: destination.Note{Name: "annotations_ignored", Msg: fmt.Sprintf("pod shop/web-%d, container app: rule %q broken", i, "x")}, N: 2}
	}
	for i := range pods {
		c.add(line(i))
		c.add(line(i % 10)) // the first pods' lines, again: logged once
	}
	c.add(destination.Count{Note: destination.Dropped("status_400"), N: 5})
	if len(c.totals) != 2 || len(c.logged) > lineMemory || c.throttle.Kinds() > 1 {
		t.Errorf("%d totals, %d lines remembered, %d throttled kinds: want 2, at most %d, 1", len(c.totals), len(c.logged), c.throttle.Kinds(), lineMemory)
	}
	if got := c.summary(); got != fmt.Sprintf("annotations_ignored=%d records_dropped_status_400=5 records_sent=0", 4*pods) {
		t.Errorf("summary %q", got)
	}
	l.mu.Lock()
	logged := len(l.lines)
	last := l.lines[logged-1]
	l.mu.Unlock()
	if logged != lineMemory+1 || !strings.Contains(last, "web-1024,") ||
		!strings.HasSuffix(last, "; more like this: one line a minute)") {
		t.Errorf("%d lines logged, the last %q; want %d, the last of web-1024 saying more are throttled", logged, last, lineMemory+1)
	}
	clock.Advance(time.Minute)
	c.add(line(pods))
	want := fmt.Sprintf("; %d more like this since the last line)", pods-lineMemory-1)
	if out := l.String(); !strings.HasSuffix(out, want) {
		t.Errorf("a minute later, the log ends %q, want %q", out[len(out)-200:], want)
	}
}
