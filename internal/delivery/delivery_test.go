package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// script answers each Send with the next response; it records what was sent.
type script struct {
	mu        sync.Mutex
	responses []Response
	sent      []string
}

func (s *script) Send(_ context.Context, r Request) Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, string(r.Body))
	if len(s.responses) == 0 {
		return Response{Status: 204}
	}
	resp := s.responses[0]
	s.responses = s.responses[1:]
	return resp
}

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Warnf(f string, a ...any)  { l.add("warn: " + fmt.Sprintf(f, a...)) }
func (l *logs) Errorf(f string, a ...any) { l.add("error: " + fmt.Sprintf(f, a...)) }
func (l *logs) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func req(body string, records int) Request { return Request{Body: []byte(body), Records: records} }

func newDeliverer(s Sender, budget time.Duration) (*Deliverer, *logs) {
	l := &logs{}
	return &Deliverer{Sender: s, Budget: budget, Log: l, NewBackOff: func() backoff.BackOff {
		return backoff.NewConstantBackOff(time.Millisecond)
	}}, l
}

func TestDeliver(t *testing.T) {
	refused := Response{Err: errors.New("connection refused")}
	tests := []struct {
		name      string
		responses []Response
		reqs      []Request
		result    Result
		sentRecs  int
		dropped   map[string]int
		wantSent  []string
	}{
		{"all_accepted", nil, []Request{req("a", 2), req("b", 3)}, OK, 5, nil, []string{"a", "b"}},
		{"retries_5xx_then_ok", []Response{{Status: 503}, {Status: 500}, {Status: 204}}, []Request{req("a", 1)}, OK, 1, nil, []string{"a", "a", "a"}},
		{"retries_429_and_408", []Response{{Status: 429}, {Status: 408}}, []Request{req("a", 1)}, OK, 1, nil, []string{"a", "a", "a"}},
		{"retries_network_errors", []Response{refused, refused}, []Request{req("a", 1)}, OK, 1, nil, []string{"a", "a", "a"}},
		{"400_is_dropped_not_retried", []Response{{Status: 400, Message: "entry too far behind"}}, []Request{req("a", 4), req("b", 1)}, OK, 1, map[string]int{"status_400": 4}, []string{"a", "b"}},
		{"401_is_permanent", []Response{{Status: 401}}, []Request{req("a", 2)}, OK, 0, map[string]int{"status_401": 2}, []string{"a"}},
		{"413_splits", []Response{{Status: 413}}, []Request{{Body: []byte("ab"), Records: 2, Split: func() []Request { return []Request{req("a", 1), req("b", 1)} }}}, OK, 2, nil, []string{"ab", "a", "b"}},
		{"unsendable_is_dropped_not_retried", []Response{{Err: errors.New(`net/http: invalid header field value for "X-Scope-Orgid"`), Permanent: true}}, []Request{req("a", 2), req("b", 1)}, OK, 1, map[string]int{"unsendable": 2}, []string{"a", "b"}},
		{"2xx_not_stored_is_dropped", []Response{{Status: 260, Message: "ingestion blocked"}}, []Request{req("a", 3)}, OK, 0, map[string]int{"blocked": 3}, []string{"a"}},
		{"413_single_record_dropped", []Response{{Status: 413}}, []Request{req("a", 1)}, OK, 0, map[string]int{"too_large": 1}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{responses: tt.responses}
			d, _ := newDeliverer(s, time.Second)
			d.Stored = func(status int) bool { return status == 200 || status == 204 } // Loki's
			out := d.Deliver(context.Background(), constKey(1), tt.reqs)
			if out.Result != tt.result || out.Sent != tt.sentRecs {
				t.Errorf("result %v sent %d, want %v %d", out.Result, out.Sent, tt.result, tt.sentRecs)
			}
			if fmt.Sprint(out.Dropped) != fmt.Sprint(orEmpty(tt.dropped)) {
				t.Errorf("dropped %v, want %v", out.Dropped, tt.dropped)
			}
			if strings.Join(s.sent, ",") != strings.Join(tt.wantSent, ",") {
				t.Errorf("sent %v, want %v", s.sent, tt.wantSent)
			}
		})
	}
}

func orEmpty(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

func TestBudgetSpentReturnsRetryAndSkipsDoneRequestsNextTime(t *testing.T) {
	down := make([]Response, 1000)
	for i := range down {
		down[i] = Response{Status: 503}
	}
	s := &script{responses: append([]Response{{Status: 204}}, down...)}
	d, l := newDeliverer(s, 50*time.Millisecond)
	reqs := []Request{req("first", 1), req("second", 1)}
	if out := d.Deliver(context.Background(), constKey(42), reqs); out.Result != Retry || out.Sent != 1 {
		t.Fatalf("first flush: %+v", out)
	}
	if !strings.Contains(strings.Join(l.lines, "\n"), "HTTP 503; retry budget spent") {
		t.Errorf("no budget line in %q", l.lines)
	}
	s.mu.Lock()
	s.responses, s.sent = nil, nil
	s.mu.Unlock()
	out := d.Deliver(context.Background(), constKey(42), reqs)
	if out.Result != OK || strings.Join(s.sent, ",") != "second" {
		t.Errorf("second flush %+v sent %v; want only the pending request", out, s.sent)
	}
	// Acknowledged: the chunk is forgotten, a third flush sends both again.
	s.sent = nil
	d.Deliver(context.Background(), constKey(42), reqs)
	if strings.Join(s.sent, ",") != "first,second" {
		t.Errorf("after ack sent %v", s.sent)
	}
}

// A 400 that says how many records it refused counts only those as
// dropped; the rest were stored. When it doesn't say, all are counted,
// logged as "up to".
func TestPartly400(t *testing.T) {
	tests := []struct {
		name       string
		answer     string
		sent, lost int
		log        string
	}{
		{"says_how_many", "2 refused", 3, 2, "2 of 5 records refused (the rest were stored)"},
		{"does_not_say", "?", 0, 5, "up to 5 records refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{responses: []Response{{Status: 400, Message: tt.answer, Answer: tt.answer}}}
			d, l := newDeliverer(s, time.Second)
			d.Rejected = func(answer string, records int) (int, bool) {
				if answer == "2 refused" {
					return 2, true
				}
				return records, false
			}
			out := d.Deliver(context.Background(), constKey(1), []Request{req("a", 5)})
			if out.Result != OK || out.Sent != tt.sent || out.Dropped["status_400"] != tt.lost {
				t.Errorf("%+v, want %d sent, %d dropped", out, tt.sent, tt.lost)
			}
			if !strings.Contains(strings.Join(l.lines, "\n"), tt.log) {
				t.Errorf("log %q, want %q", l.lines, tt.log)
			}
		})
	}
}

// A blocked ingestion, an unsendable request or refused credentials say
// the same on every flush: logged once, with the destination's advice, and
// counted every time.
func TestSameRefusalLoggedOnce(t *testing.T) {
	for _, resp := range []Response{{Status: 260, Answer: "blocked"}, {Err: errors.New("bad header"), Permanent: true},
		{Status: 401, Answer: "no"}, {Status: 403, Answer: "no"}} {
		s := &script{responses: []Response{resp, resp, resp}}
		d, l := newDeliverer(s, time.Second)
		d.Stored = func(status int) bool { return status == 204 }
		d.Advice = func(status int, _ string) string { return fmt.Sprintf("advice for %d", status) }
		dropped := 0
		for range 3 {
			out := d.Deliver(context.Background(), constKey(1), []Request{req("a", 2)})
			for _, n := range out.Dropped {
				dropped += n
			}
		}
		if len(l.lines) != 1 || dropped != 6 || !strings.Contains(l.lines[0], "logged once") ||
			resp.Err == nil && !strings.Contains(l.lines[0], fmt.Sprintf("advice for %d", resp.Status)) {
			t.Errorf("%+v: %d lines %q, %d dropped; want 1 line, 6 dropped", resp, len(l.lines), l.lines, dropped)
		}
	}
}

// After a 413 split, a half that was accepted is not sent again when the
// chunk returns, nor counted again; only the half still pending is.
func TestSplitHalvesAcceptedAreNotResent(t *testing.T) {
	down := make([]Response, 1000)
	for i := range down {
		down[i] = Response{Status: 503}
	}
	s := &script{responses: append([]Response{{Status: 413}, {Status: 204}}, down...)}
	d, _ := newDeliverer(s, 50*time.Millisecond)
	split := func() []Request { return []Request{req("A", 1), req("B", 2)} }
	reqs := []Request{{Body: []byte("AB"), Records: 3, Split: split}}
	if out := d.Deliver(context.Background(), constKey(7), reqs); out.Result != Retry || out.Sent != 1 {
		t.Fatalf("first flush: %+v", out)
	}
	s.mu.Lock()
	s.responses, s.sent = nil, nil
	s.mu.Unlock()
	out := d.Deliver(context.Background(), constKey(7), reqs)
	if out.Result != OK || out.Sent != 2 || strings.Join(s.sent, ",") != "B" {
		t.Errorf("second flush %+v sent %v; want only B, 2 records", out, s.sent)
	}
}

func TestRetryAfterBeyondBudgetHandsBackAtOnce(t *testing.T) {
	s := &script{responses: []Response{{Status: 429, RetryAfter: time.Hour}}}
	d, _ := newDeliverer(s, 5*time.Second)
	start := time.Now()
	out := d.Deliver(context.Background(), constKey(1), []Request{req("a", 1)})
	if out.Result != Retry || time.Since(start) > time.Second {
		t.Errorf("result %v after %s; want Retry at once", out.Result, time.Since(start))
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	s := &script{responses: []Response{{Status: 429, RetryAfter: 300 * time.Millisecond}}}
	d, _ := newDeliverer(s, 5*time.Second)
	start := time.Now()
	out := d.Deliver(context.Background(), constKey(1), []Request{req("a", 1)})
	if out.Result != OK || time.Since(start) < 300*time.Millisecond {
		t.Errorf("result %v after %s; want OK after Retry-After", out.Result, time.Since(start))
	}
}

func TestCancelStopsRetrying(t *testing.T) {
	s := &script{responses: []Response{{Status: 503}, {Status: 503}, {Status: 503}}}
	d, _ := newDeliverer(s, time.Minute)
	d.NewBackOff = func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Second) }
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if out := d.Deliver(ctx, constKey(1), []Request{req("a", 1)}); out.Result != Retry {
		t.Errorf("result %v", out.Result)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancel took %s", time.Since(start))
	}
}

// stall never answers; it returns when the request's context ends. It
// counts the requests.
type stall struct{ calls atomic.Int64 }

func (s *stall) Send(ctx context.Context, _ Request) Response {
	s.calls.Add(1)
	<-ctx.Done()
	return Response{Err: ctx.Err()}
}

func TestRequestIsCutOffAtTheBudget(t *testing.T) {
	s := &stall{}
	d, _ := newDeliverer(s, 50*time.Millisecond)
	start := time.Now()
	out := d.Deliver(context.Background(), constKey(1), []Request{req("a", 1)})
	if out.Result != Retry || s.calls.Load() != 1 {
		t.Errorf("result %v after %d attempts, want retry after 1", out.Result, s.calls.Load())
	}
	// Generous: the point is that the stalled request did not run on.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a stalled request held the flush for %s with a 50ms budget", took)
	}
}

func TestLedgerIsBounded(t *testing.T) {
	d, _ := newDeliverer(&script{}, time.Second)
	for k := uint64(0); k < 3*ledgerSize; k++ {
		d.keep(k, []*progress{{done: true}, {}})
	}
	if len(d.ledger) > ledgerSize || len(d.order) > 2*ledgerSize {
		t.Errorf("ledger %d entries, order %d", len(d.ledger), len(d.order))
	}
	if done := d.take(constKey(3*ledgerSize-1), 2); !done[0].done {
		t.Error("newest chunk forgotten")
	}
	if done := d.take(constKey(0), 2); done[0].done {
		t.Error("oldest chunk kept past the bound")
	}
}

// constKey is a chunk key that needs no hashing.
func constKey(k uint64) func() uint64 { return func() uint64 { return k } }

// A chunk is hashed only when the ledger may hold it or must keep it.
func TestChunkHashedOnlyWhenNeeded(t *testing.T) {
	d, _ := newDeliverer(&script{}, time.Second)
	hashed := 0
	key := func() uint64 { hashed++; return 7 }
	if out := d.Deliver(context.Background(), key, []Request{req("a", 1)}); out.Result != OK || hashed != 0 {
		t.Errorf("result %v, hashed %d times with an empty ledger, want 0", out.Result, hashed)
	}
	d.keep(9, []*progress{{done: true}})
	d.Deliver(context.Background(), key, []Request{req("a", 1)})
	if hashed != 1 {
		t.Errorf("hashed %d times with a ledger to consult, want 1", hashed)
	}
}

// joinBodies joins requests as a destination's Join does: one body, the
// records of all.
func joinBodies(reqs []Request) Request {
	var bodies []string
	j := Request{Header: reqs[0].Header}
	for _, r := range reqs {
		bodies = append(bodies, string(r.Body))
		j.Records += r.Records
		j.Size += r.Size
	}
	j.Body = []byte(strings.Join(bodies, "+"))
	return j
}

func sized(body string, records int, tenant string) Request {
	return Request{Body: []byte(body), Records: records, Size: 10, Header: map[string]string{"X-Scope-OrgID": tenant}}
}

// A group's requests with the same headers go as one, within maxBytes;
// each flush is told its own result.
func TestDeliverGroup(t *testing.T) {
	tests := []struct {
		name     string
		members  [][]Request
		maxBytes int
		answers  []Response
		sent     []string
		results  []Result
		accepted int
	}{
		{"joined", [][]Request{{sized("a", 1, "")}, {sized("b", 2, "")}, {sized("c", 3, "")}}, 100, nil,
			[]string{"a+b+c"}, []Result{OK, OK, OK}, 6},
		{"by_tenant", [][]Request{{sized("a", 1, "x")}, {sized("b", 1, "y")}, {sized("c", 1, "x")}}, 100, nil,
			[]string{"a+c", "b"}, []Result{OK, OK, OK}, 3},
		{"within_max_bytes", [][]Request{{sized("a", 1, ""), sized("b", 1, "")}, {sized("c", 1, "")}}, 20, nil,
			[]string{"a+b", "c"}, []Result{OK, OK}, 3},
		{"413_sends_the_flushes_apart", [][]Request{{sized("a", 1, "")}, {sized("b", 1, "")}}, 100,
			[]Response{{Status: 413}}, []string{"a+b", "a", "b"}, []Result{OK, OK}, 2},
		{"a_failed_part_retries_only_its_flush", [][]Request{{sized("a", 1, "")}, {sized("b", 1, "")}}, 100,
			[]Response{{Status: 413}, {Status: 204}, {Status: 503, RetryAfter: time.Hour}}, []string{"a+b", "a", "b"}, []Result{OK, Retry}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{responses: tt.answers}
			d, _ := newDeliverer(s, time.Second)
			d.Join = joinBodies
			var members []Member
			for i, reqs := range tt.members {
				members = append(members, Member{Key: constKey(uint64(i)), Requests: reqs})
			}
			out, results := d.DeliverGroup(context.Background(), members, tt.maxBytes)
			if strings.Join(s.sent[:min(len(s.sent), len(tt.sent))], " ") != strings.Join(tt.sent, " ") {
				t.Errorf("sent %q, want %q first", s.sent, tt.sent)
			}
			if fmt.Sprint(results) != fmt.Sprint(tt.results) || out.Sent != tt.accepted {
				t.Errorf("results %v, %d accepted; want %v, %d", results, out.Sent, tt.results, tt.accepted)
			}
		})
	}
}

// A flush of a group that failed returns alone: what the group had accepted
// of it is not sent again.
func TestGroupLedger(t *testing.T) {
	s := &script{responses: []Response{{Status: 413}, {Status: 204}, {Status: 503, RetryAfter: time.Hour}}}
	d, _ := newDeliverer(s, time.Second)
	d.Join = joinBodies
	members := []Member{{Key: constKey(1), Requests: []Request{sized("a", 1, "")}},
		{Key: constKey(2), Requests: []Request{sized("b", 1, ""), sized("c", 1, "")}}}
	if _, results := d.DeliverGroup(context.Background(), members, 100); fmt.Sprint(results) != fmt.Sprint([]Result{OK, Retry}) {
		t.Fatalf("results %v", results)
	}
	// The 413 split a+b+c into a, b and c; a was accepted, b was not.
	s.sent = nil
	if out := d.Deliver(context.Background(), constKey(2), members[1].Requests); out.Result != OK || strings.Join(s.sent, " ") != "b c" {
		t.Errorf("returning flush sent %q (%v), want b c", s.sent, out.Result)
	}
}

// fakeClock moves only when waited on: a wait returns at once, the time
// moved on by it. What a budget allows is then counted, not timed.
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

// byTenant answers each request by its X-Scope-OrgID: refuse's answer for
// a tenant in it, else 204; it records the bodies sent.
type byTenant struct {
	mu     sync.Mutex
	refuse map[string]Response
	sent   []string
}

func (s *byTenant) Send(_ context.Context, r Request) Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, string(r.Body))
	if resp, ok := s.refuse[r.Header["X-Scope-OrgID"]]; ok {
		return resp
	}
	return Response{Status: 204}
}

func (s *byTenant) count(body string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.sent {
		if b == body {
			n++
		}
	}
	return n
}

// A tenant Loki keeps refusing (429: its rate limit) fails alone: the
// other tenants' requests, in the same group or the same flush, are sent
// once and acknowledged, the refused one is retried within the budget and
// its flush handed back, and when that chunk returns only what was
// refused is sent again.
func TestFailingTenantFailsAlone(t *testing.T) {
	const budget, step = 10 * time.Second, time.Second
	tests := []struct {
		name    string
		members [][]Request
		results []Result
		// each member's Done was called after so many tries of a; -1:
		// never
		doneAt []int
	}{
		{"group_of_three_flushes", [][]Request{{sized("a", 1, "A")}, {sized("b", 1, "B")}, {sized("c", 1, "C")}},
			[]Result{Retry, OK, OK}, []int{-1, 1, 1}},
		{"one_flush_of_three_tenants", [][]Request{{sized("a", 1, "A"), sized("b", 1, "B"), sized("c", 1, "C")}},
			[]Result{Retry}, []int{-1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &byTenant{refuse: map[string]Response{"A": {Status: 429}}}
			d, l := newDeliverer(s, budget)
			d.NewBackOff = func() backoff.BackOff { return backoff.NewConstantBackOff(step) }
			clock := newFakeClock()
			d.Clock, d.Join = clock, joinBodies
			var members []Member
			doneAt := make([]int, len(tt.members))
			for i, reqs := range tt.members {
				doneAt[i] = -1
				members = append(members, Member{Key: constKey(uint64(i)), Requests: reqs, Done: func() { doneAt[i] = s.count("a") }})
			}
			start := clock.Now()
			out, results := d.DeliverGroup(context.Background(), members, 100)
			if fmt.Sprint(results) != fmt.Sprint(tt.results) || out.Sent != 2 {
				t.Errorf("results %v, %d records sent; want %v, 2 (b and c)", results, out.Sent, tt.results)
			}
			if s.count("b") != 1 || s.count("c") != 1 {
				t.Errorf("sent %q; want b and c once each", s.sent)
			}
			// The flushes of b and c may answer Fluent Bit before a is
			// retried: they need not wait for the group.
			if fmt.Sprint(doneAt) != fmt.Sprint(tt.doneAt) {
				t.Errorf("members done after %v tries of a, want %v", doneAt, tt.doneAt)
			}
			// A is retried while the budget lasts (every second of it, at
			// the constant backoff), and not beyond it.
			if took, tries := clock.Now().Sub(start), s.count("a"); took > budget || tries != int(budget/step)+1 {
				t.Errorf("a sent %d times over %s; want %d within the %s budget", tries, took, int(budget/step)+1, budget)
			}
			if !strings.Contains(strings.Join(l.lines, "\n"), "HTTP 429; retry budget spent") {
				t.Errorf("no budget line in %q", l.lines)
			}

			// A's chunk returns, its tenant now accepted: only a is sent.
			s.mu.Lock()
			s.refuse, s.sent = nil, nil
			s.mu.Unlock()
			out = d.Deliver(context.Background(), constKey(0), tt.members[0])
			if out.Result != OK || out.Sent != 1 || strings.Join(s.sent, " ") != "a" {
				t.Errorf("returning chunk: %+v, sent %q; want OK, only a", out, s.sent)
			}
		})
	}
}

// slowly answers 503 once the clock has moved on by took.
type slowly struct {
	clock *fakeClock
	took  time.Duration
	sent  []string
}

func (s *slowly) Send(_ context.Context, r Request) Response {
	s.sent = append(s.sent, string(r.Body))
	s.clock.Advance(s.took)
	return Response{Status: 503}
}

// Once the budget is spent, the requests not yet sent are handed back
// with one line, not one line per tenant each cut off at once.
func TestBudgetSpentBeforeEveryTenantWasSent(t *testing.T) {
	clock := newFakeClock()
	s := &slowly{clock: clock, took: time.Second}
	d, l := newDeliverer(s, time.Second)
	d.Clock = clock
	out := d.Deliver(context.Background(), constKey(1), []Request{sized("a", 1, "A"), sized("b", 1, "B"), sized("c", 1, "C")})
	if out.Result != Retry || strings.Join(s.sent, " ") != "a" {
		t.Errorf("%+v, sent %q; want Retry after a alone", out, s.sent)
	}
	if got := strings.Join(l.lines, "\n"); got != "warn: HTTP 503; retry budget spent, handing the chunk back to Fluent Bit\n"+
		"warn: 2 requests not sent; retry budget spent, handing the chunk back to Fluent Bit" {
		t.Errorf("log:\n%s", got)
	}
}

// A joined request is joined once, not again for each retry (Loki's join
// re-encodes the bodies).
func TestJoinedOnceForItsRetries(t *testing.T) {
	s := &script{responses: []Response{{Status: 503}, {Status: 503}}}
	d, _ := newDeliverer(s, time.Second)
	joins := 0
	d.Join = func(reqs []Request) Request { joins++; return joinBodies(reqs) }
	members := []Member{{Key: constKey(1), Requests: []Request{sized("a", 1, "")}}, {Key: constKey(2), Requests: []Request{sized("b", 1, "")}}}
	if out, _ := d.DeliverGroup(context.Background(), members, 100); out.Result != OK || out.Retries != 2 || joins != 1 {
		t.Errorf("%+v after %d joins; want OK after 2 retries of one join", out, joins)
	}
}

// A refusal a pod can provoke on every flush (an old timestamp: Loki's
// 400; a record too large; another 4xx) is logged the first time, then at
// most once a minute with how many like it were held back, and every
// record is counted.
func TestRepeatedRefusalsLoggedOncePerInterval(t *testing.T) {
	for _, tt := range []struct {
		name     string
		resp     Response
		rejected bool // Loki's: a 400 says what it refused
		reason   string
		first    string
	}{
		{"loki_400", Response{Status: 400, Message: "entry too far behind", Answer: "entry too far behind"}, true, "status_400",
			"error: HTTP 400: entry too far behind; up to 2 records refused, not retried"},
		{"datadog_400", Response{Status: 400, Message: "bad"}, false, "status_400",
			"error: HTTP 400: bad; 2 records not retried (the server rejects them permanently)"},
		{"422", Response{Status: 422}, false, "status_422", "error: HTTP 422; 2 records not retried"},
		{"too_large", Response{Status: 413}, false, "too_large", "error: HTTP 413; 2 records not retried"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{}
			d, l := newDeliverer(s, time.Second)
			clock := newFakeClock()
			d.Clock = clock
			if tt.rejected {
				d.Rejected = func(_ string, records int) (int, bool) { return records, false }
			}
			dropped := 0
			flush := func(n int) {
				for range n {
					s.mu.Lock()
					s.responses = []Response{tt.resp}
					s.mu.Unlock()
					dropped += d.Deliver(context.Background(), constKey(1), []Request{req("a", 2)}).Dropped[tt.reason]
				}
			}
			flush(5)
			clock.Advance(30 * time.Second)
			flush(3)
			clock.Advance(30 * time.Second) // a minute after the first line
			flush(2)
			if dropped != 20 {
				t.Errorf("%d records counted as %s, want 20", dropped, tt.reason)
			}
			if len(l.lines) != 2 || !strings.HasPrefix(l.lines[0], tt.first) ||
				!strings.HasSuffix(l.lines[0], "; more like this: one line a minute, counted as records_dropped_"+tt.reason) ||
				!strings.HasSuffix(l.lines[1], "; 7 more like this since the last line, counted as records_dropped_"+tt.reason) {
				t.Errorf("logged %d lines, want the first and one a minute later with 7 held back:\n%s", len(l.lines), strings.Join(l.lines, "\n"))
			}
		})
	}
}
