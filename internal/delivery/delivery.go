// Package delivery sends a flush's requests with Fluent Bit's at-least-once
// contract: a flush is acknowledged only once every request was accepted or
// permanently rejected; retryable failures are retried with backoff inside a
// time budget, then handed back to Fluent Bit (FLB_RETRY) without resending
// the requests that already succeeded. Each tenant's requests are retried
// apart from the others': one tenant refused holds back only its own.
package delivery

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Request is one HTTP request body ready to send.
type Request struct {
	Body    []byte
	Header  map[string]string
	Records int
	Size    int // the body's size before compression, for joining (see Deliverer.Join)
	// Split halves the request when the server answers 413; nil when it
	// holds a single record.
	Split func() []Request
}

// Response is what the server answered; Err is set when no answer came
// (connection refused, reset, timeout).
type Response struct {
	Status     int
	RetryAfter time.Duration
	Message    string // the answer's first line, for logs
	Answer     string // the whole answer (up to 64 KB)
	Err        error
	// Permanent marks an Err that no retry can cure: the request could not
	// be built or sent as it is (an invalid header value, say).
	Permanent bool
}

// Sender sends one request.
type Sender interface {
	Send(ctx context.Context, r Request) Response
}

// Logger receives the lines an operator needs to see.
type Logger interface {
	Warnf(format string, args ...any)
	Errorf(format string, args ...any)
}

// Result is a flush's outcome, mapped by the plugin to FLB_OK / FLB_RETRY.
type Result int

// Results.
const (
	OK    Result = iota // every request accepted or permanently rejected
	Retry               // hand the chunk back to Fluent Bit
)

// Outcome reports a flush.
type Outcome struct {
	Result  Result
	Sent    int            // records accepted
	Dropped map[string]int // records permanently rejected, by reason
	Retries int            // requests sent again after a retryable failure
}

// Answers is how a destination answers, beyond HTTP's meaning of a status.
// The zero value takes every 2xx as stored and a 4xx as refusing the whole
// request, with no advice.
type Answers struct {
	// Stored tells the 2xx statuses that mean the server stored the
	// records; nil means every 2xx. A 2xx it refuses is a permanent drop
	// (Loki answers 260 and stores nothing while ingestion is blocked).
	Stored func(status int) bool
	// Rejected reads from a 400 answer how many of the request's records
	// the server refused, when it stores the others (Loki); exact is false
	// when it can't tell. nil: all of them.
	Rejected func(answer string, records int) (n int, exact bool)
	// Advice says which setting fixes what a 4xx answer refuses, if any.
	Advice func(status int, answer string) string
}

// Clock tells the time and waits.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (d *Deliverer) clock() Clock {
	if d.Clock != nil {
		return d.Clock
	}
	return realClock{}
}

// Deliverer sends flushes through a Sender. Safe for concurrent flushes.
type Deliverer struct {
	Sender Sender
	Budget time.Duration // time one flush may spend retrying
	Log    Logger
	// NewBackOff returns the retry schedule; exponential with jitter when nil.
	NewBackOff func() backoff.BackOff
	Answers
	// Join makes one request of requests with the same headers (Loki: one
	// push of their streams), for DeliverGroup; nil never joins.
	Join func(reqs []Request) Request
	// Clock times the retry budget and the waits between retries; nil is
	// the real clock. Tests pass one that moves only when waited on, to
	// count what a budget allows without spending it.
	Clock Clock

	logged   sync.Map // drop reasons logged once
	throttle Throttle // lines of drops a pod can provoke, by reason

	mu     sync.Mutex
	ledger map[uint64][]*progress // chunk key → how far each of its requests got
	order  []uint64               // ledger keys, oldest first, to bound its size
}

// progress is how far one request got: done, or split after a 413 into
// parts with progress of their own, so that a returning chunk resends only
// the parts not yet accepted.
type progress struct {
	done  bool
	parts []*progress
	// joined: parts are the progress of the requests a joined request
	// holds (see DeliverGroup), set before it is sent.
	joined bool
}

// complete reports whether the request is done with, or every part of it.
func (p *progress) complete() bool {
	if p.done {
		return true
	}
	if p.parts == nil {
		return false
	}
	for _, q := range p.parts {
		if !q.complete() {
			return false
		}
	}
	return true
}

// finish marks the request done, and the requests a joined one holds.
func (p *progress) finish() {
	p.done = true
	if p.joined {
		for _, q := range p.parts {
			q.finish()
		}
	}
}

// ledgerSize bounds the chunks remembered between FLB_RETRY and their
// return; Fluent Bit holds far fewer chunks in retry at once.
const ledgerSize = 4096

// Deliver sends reqs, the requests built from one chunk identified by key
// (a hash of its tag and bytes). key is called only when the ledger is
// consulted: hashing every chunk cost a sixth of a flush's CPU in a real
// Fluent Bit, and the ledger is empty unless chunks are being retried.
func (d *Deliverer) Deliver(ctx context.Context, key func() uint64, reqs []Request) Outcome {
	out, _ := d.DeliverGroup(ctx, []Member{{Key: key, Requests: reqs}}, 0)
	return out
}

// Member is one flush's requests in a group commit (see DeliverGroup).
type Member struct {
	Key      func() uint64 // identifies the flush's chunk, as for Deliver
	Requests []Request
	// Done, when set, is called as soon as every request of the member was
	// accepted or permanently rejected (its result is then OK), while the
	// group may still be retrying others': its flush can answer Fluent Bit
	// and free its worker. Its requests are not read after it.
	Done func()
}

// DeliverGroup sends the requests of flushes that run at the same time as
// few requests: those with the same headers are joined, up to maxBytes
// before compression. Each flush's result is OK only once every request
// holding its records was accepted or permanently rejected; a flush
// handed back keeps its progress in the ledger, as with Deliver, so what
// the group had accepted of it is not sent again when it returns. A
// joined request the server finds too large (413) is sent as the requests
// it joined.
//
// The requests of one header set (one Loki tenant) form a lane, sent in
// order, the next once the one before is done with; the lanes take turns
// while one waits to retry. A tenant Loki keeps refusing (429: its rate
// limit, which its own pods can run into) thus holds back only its own
// requests: the other tenants' are sent at once, and their flushes
// acknowledged, while it retries within the budget. Within a lane the
// order is kept, and a request is not sent past one that failed: what the
// server refuses a tenant now it would refuse the next request too.
func (d *Deliverer) DeliverGroup(ctx context.Context, members []Member, maxBytes int) (Outcome, []Result) {
	out := Outcome{Dropped: map[string]int{}}
	keys := make([]func() uint64, len(members))
	progs := make([][]*progress, len(members))
	// In the order of their first request; up to a few tenants, the common
	// case, without allocating.
	var few [4]lane
	lanes := few[:0]
	for m, mem := range members {
		var k uint64
		hashed := false
		keys[m] = func() uint64 {
			if !hashed {
				k, hashed = mem.Key(), true
			}
			return k
		}
		progs[m] = d.take(keys[m], len(mem.Requests))
		for i, r := range mem.Requests {
			if p := progs[m][i]; !p.complete() {
				lanes = d.place(lanes, attempt{r, p}, maxBytes)
			}
		}
	}
	g := membersDone{members: members, progs: progs}
	if slices.ContainsFunc(members, func(m Member) bool { return m.Done != nil }) {
		g.told = make([]bool, len(members))
	}
	g.settled()
	start := d.clock().Now()
	d.run(ctx, lanes, start, start.Add(d.Budget), &out, &g)
	results := make([]Result, len(members))
	for m, prog := range progs {
		for _, p := range prog {
			if !p.complete() {
				d.keep(keys[m](), prog)
				results[m] = Retry
				break
			}
		}
	}
	out.Result = OK
	if slices.Contains(results, Retry) {
		out.Result = Retry
	}
	return out, results
}

// membersDone follows a group's members to call their Done as soon as they
// are done. A struct, not a closure, so that progs stays on the stack.
type membersDone struct {
	members []Member
	progs   [][]*progress
	told    []bool // nil when no member has a Done
}

// settled calls the Done of the members now done.
func (g *membersDone) settled() {
	if g.told == nil {
		return
	}
	for m, mem := range g.members {
		if mem.Done != nil && !g.told[m] && !slices.ContainsFunc(g.progs[m], func(p *progress) bool { return !p.complete() }) {
			g.told[m] = true
			mem.Done()
		}
	}
}

// attempt is a request to send and the progress it makes.
type attempt struct {
	r Request
	p *progress
}

// pack is requests to send as one, joined: first, and more when joined
// (first inline: most packs hold one request, and allocate nothing more).
type pack struct {
	first attempt
	more  []attempt
	size  int // their Size, within maxBytes
	// alone: a part of a request split after a 413 (now, or before the
	// chunk returned); it is sent as it is, joined to nothing, or it would
	// be too large again.
	alone bool
}

// lane is the requests of one header set, sent in order.
type lane struct {
	header map[string]string
	queue  packs     // what is left to send
	at     time.Time // when the first may be sent: after a failure, its backoff
	bo     backoff.BackOff
	tries  int     // times the first was sent
	head   attempt // the first joined, once sent
}

// packs is a lane's queue, the first inline: a flush of one request
// allocates no queue.
type packs struct {
	n     int
	first pack
	rest  []pack
}

func (q *packs) push(pk pack) {
	if q.n == 0 {
		q.first = pk
	} else {
		q.rest = append(q.rest, pk)
	}
	q.n++
}

// at returns the i-th pack.
func (q *packs) at(i int) *pack {
	if i == 0 {
		return &q.first
	}
	return &q.rest[i-1]
}

// pop removes the first pack, and puts instead in its place.
func (q *packs) pop(instead ...pack) {
	rest := q.rest
	if len(instead) > 0 {
		rest = append(instead[1:len(instead):len(instead)], q.rest...)
		q.first, q.rest, q.n = instead[0], rest, len(rest)+1
		return
	}
	if q.n--; len(rest) > 0 {
		q.first, q.rest = rest[0], rest[1:]
	} else {
		q.first = pack{}
	}
}

// place adds a request to its lane: joined to a pack with room, or in a
// pack of its own.
func (d *Deliverer) place(lanes []lane, a attempt, maxBytes int) []lane {
	i := 0
	for i < len(lanes) && !sameHeader(lanes[i].header, a.r.Header) {
		i++
	}
	if i == len(lanes) {
		lanes = append(lanes, lane{header: a.r.Header})
	}
	l := &lanes[i]
	if a.p.parts != nil { // split by an earlier 413: what is left of it
		for _, part := range d.pending(nil, a) {
			l.queue.push(pack{first: part, size: part.r.Size, alone: true})
		}
		return lanes
	}
	if d.Join != nil && maxBytes > 0 {
		for j := range l.queue.n {
			if pk := l.queue.at(j); !pk.alone && pk.size+a.r.Size <= maxBytes {
				pk.more, pk.size = append(pk.more, a), pk.size+a.r.Size
				return lanes
			}
		}
	}
	l.queue.push(pack{first: a, size: a.r.Size})
	return lanes
}

// join makes one request of a pack.
func (d *Deliverer) join(pk pack) attempt {
	if len(pk.more) == 0 {
		return pk.first
	}
	n := 1 + len(pk.more)
	reqs := make([]Request, n)
	p := &progress{joined: true, parts: make([]*progress, n)}
	reqs[0], p.parts[0] = pk.first.r, pk.first.p
	for i, a := range pk.more {
		reqs[i+1], p.parts[i+1] = a.r, a.p
	}
	r := d.Join(reqs)
	r.Split = func() []Request { return reqs }
	return attempt{r, p}
}

// run sends the lanes' requests until each lane is done, or failed beyond
// the deadline, or ctx ends, telling g after each request done with.
// One goroutine sends them all, one request at a time: a flush runs on a
// goroutine of Fluent Bit's thread, whose worker it holds anyway, and the
// wait between one tenant's retries is spent sending the others'.
func (d *Deliverer) run(ctx context.Context, lanes []lane, start, deadline time.Time, out *Outcome, g *membersDone) {
	clock := d.clock()
	// The time, read before each send but the first (a flush of one
	// request reads the clock twice, as before the lanes: time.Now is a
	// tenth of what delivery costs it).
	now, stale := start, false
	for {
		// The lane that may send first; the earlier lane when several may.
		var l *lane
		left := 0
		for i := range lanes {
			if lanes[i].queue.n > 0 {
				left += lanes[i].queue.n
				if l == nil || lanes[i].at.Before(l.at) {
					l = &lanes[i]
				}
			}
		}
		if l == nil {
			return
		}
		if stale {
			now = clock.Now()
		}
		stale = true
		if !now.Before(deadline) {
			// Each would be cut off at once: say so once, not per tenant.
			d.Log.Warnf("%s not sent; retry budget spent, handing the chunk back to Fluent Bit", plural(left, "request"))
			return
		}
		if wait := l.at.Sub(now); wait > 0 {
			select {
			case <-ctx.Done():
				d.Log.Warnf("%v; shutting down, handing the chunk back to Fluent Bit", ctx.Err())
				return
			case <-clock.After(wait):
			}
		}
		if l.tries == 0 {
			l.head = d.join(l.queue.first)
		} else {
			out.Retries++
		}
		l.tries++
		a := l.head
		resp := d.sendWithin(ctx, a.r, deadline)
		if done, split := d.settle(a, resp, out); done {
			// The requests split from a (after a 413) go next, in order,
			// each with a backoff of its own.
			parts := make([]pack, len(split))
			for i, a := range split {
				parts[i] = pack{first: a, size: a.r.Size, alone: true}
			}
			l.queue.pop(parts...)
			l.bo, l.tries = nil, 0
			g.settled()
			continue
		}
		if ctx.Err() != nil {
			d.Log.Warnf("%s; shutting down, handing the chunk back to Fluent Bit", describe(resp))
			return
		}
		if l.bo == nil {
			l.bo = d.backOff()
		}
		wait := l.bo.NextBackOff()
		if wait != backoff.Stop && resp.RetryAfter > wait {
			wait = resp.RetryAfter
		}
		if wait == backoff.Stop || clock.Now().Add(wait).After(deadline) {
			d.Log.Warnf("%s; retry budget spent, handing the chunk back to Fluent Bit", describe(resp))
			l.queue = packs{} // its flushes are handed back; the other lanes go on
			continue
		}
		l.at = clock.Now().Add(wait)
	}
}

// pending appends what of a is left to send: a itself, or the parts of it
// not yet accepted when an earlier 413 split it.
func (d *Deliverer) pending(queue []attempt, a attempt) []attempt {
	switch {
	case a.p.complete():
		return queue
	case a.p.parts != nil && !a.p.joined:
		parts := a.r.Split()
		if len(a.p.parts) != len(parts) {
			a.p.parts = fresh(len(parts))
		}
		for i, part := range parts {
			queue = d.pending(queue, attempt{part, a.p.parts[i]})
		}
		return queue
	}
	return append(queue, a)
}

func fresh(n int) []*progress {
	prog := make([]*progress, n)
	for i := range prog {
		prog[i] = &progress{}
	}
	return prog
}

// sameHeader reports whether two requests carry the same headers (the
// same tenant).
func sameHeader(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// settle takes in the answer to a: done is false when a is to be sent
// again; else it was accepted or refused for good (counted in out), or,
// too large (413), split holds the requests to send instead.
func (d *Deliverer) settle(a attempt, resp Response, out *Outcome) (done bool, split []attempt) {
	r, p := a.r, a.p
	switch {
	case resp.Err == nil && resp.Status >= 200 && resp.Status < 300 && (d.Stored == nil || d.Stored(resp.Status)):
		out.Sent += r.Records
	case resp.Err == nil && resp.Status >= 200 && resp.Status < 300:
		d.dropOnce(out, "blocked", r.Records, resp, "the server answered success but stored nothing")
	case resp.Err != nil && resp.Permanent:
		d.dropOnce(out, "unsendable", r.Records, resp, "the request can't be sent as it is")
	case resp.Err == nil && resp.Status == http.StatusRequestEntityTooLarge && r.Split != nil:
		parts := r.Split()
		if !p.joined {
			p.parts = fresh(len(parts))
		}
		for i, part := range parts {
			split = d.pending(split, attempt{part, p.parts[i]})
		}
		return true, split
	case resp.Err == nil && resp.Status == http.StatusRequestEntityTooLarge:
		d.drop(out, "too_large", r.Records, resp)
	case resp.Err == nil && resp.Status == http.StatusBadRequest && d.Rejected != nil:
		n, exact := d.Rejected(resp.Answer, r.Records)
		why := fmt.Sprintf("up to %d records refused", n)
		if exact {
			why = fmt.Sprintf("%d of %d records refused (the rest were stored)", n, r.Records)
		}
		out.Sent += r.Records - n
		out.Dropped["status_400"] += n
		d.errorf("status_400", "%s; %s, not retried%s", describe(resp), why, d.advice(resp))
	case resp.Err == nil && (resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden):
		d.dropOnce(out, fmt.Sprintf("status_%d", resp.Status), r.Records, resp, "the server refuses the credentials")
	case resp.Err == nil && !retryable(resp.Status):
		d.drop(out, fmt.Sprintf("status_%d", resp.Status), r.Records, resp)
	default:
		return false, nil
	}
	p.finish()
	return true, nil
}

// sendWithin sends r, cut off at the flush's deadline: Fluent Bit waits for
// running flushes before it stops (and with Workers 0 a flush holds its
// engine), so no request may outlast the retry budget.
func (d *Deliverer) sendWithin(ctx context.Context, r Request, deadline time.Time) Response {
	if d.Clock != nil { // a deadline of its time: as long from now
		deadline = time.Now().Add(deadline.Sub(d.Clock.Now()))
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return d.Sender.Send(ctx, r)
}

// retryable reports statuses worth another try: timeouts, rate limits and
// server errors.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// drop drops n records the server refused for reason. Its line is
// throttled: a pod can provoke the same refusal on every flush.
func (d *Deliverer) drop(out *Outcome, reason string, n int, resp Response) {
	out.Dropped[reason] += n
	d.errorf(reason, "%s; %d records not retried (the server rejects them permanently)%s", describe(resp), n, d.advice(resp))
}

// errorf logs a line about records dropped for reason: the first, then
// at most one a LogEvery, saying how many like it were held back. The
// records are counted either way.
func (d *Deliverer) errorf(reason, format string, args ...any) {
	if ok, held := d.throttle.Allow(reason, d.clock().Now()); ok {
		d.Log.Errorf("%s%s, counted as records_dropped_%s", fmt.Sprintf(format, args...), d.throttle.Suffix(held), reason)
	}
}

// dropOnce drops as drop, logging only the first time for reason: every
// flush would say the same until the setting or the data changes, and the
// totals are counted.
func (d *Deliverer) dropOnce(out *Outcome, reason string, n int, resp Response, why string) {
	out.Dropped[reason] += n
	if _, logged := d.logged.LoadOrStore(reason, true); !logged {
		d.Log.Errorf("%s; %d records not retried (%s; logged once, counted as records_dropped_%s)%s",
			describe(resp), n, why, reason, d.advice(resp))
	}
}

// LogEvery is how often, at most, a line that a pod can make kubeship
// repeat on every flush is logged after the first (a 400 for an old
// timestamp). Fluent Bit flushes every second by default, on several
// workers; a line a minute still shows an operator tailing the log that
// it goes on, with how many were held back, and the records are counted.
const LogEvery = time.Minute

// Throttle lets the first line of each kind through, then at most one
// each Every. Its memory grows with the kinds, so a kind is a reason or a
// name, never a line's text, which a pod controls. The zero value is
// ready to use; safe for concurrent use.
type Throttle struct {
	Every time.Duration // LogEvery when 0

	mu    sync.Mutex
	kinds map[string]*throttled
}

type throttled struct {
	last time.Time // when a line was last let through
	held int       // lines held back since
}

// Allow reports whether a line of kind may be logged at now, and how many
// lines of the kind it held back since the last one it let through.
func (t *Throttle) Allow(kind string, now time.Time) (ok bool, held int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.kinds[kind]
	if k == nil {
		if t.kinds == nil {
			t.kinds = map[string]*throttled{}
		}
		t.kinds[kind] = &throttled{last: now}
		return true, 0
	}
	if now.Sub(k.last) < t.every() {
		k.held++
		return false, 0
	}
	held = k.held
	k.last, k.held = now, 0
	return true, held
}

// Suffix ends a line Allow let through: how many like it were held back,
// or, when none, how often they would be logged.
func (t *Throttle) Suffix(held int) string {
	if held > 0 {
		return fmt.Sprintf("; %d more like this since the last line", held)
	}
	if t.every() == time.Minute {
		return "; more like this: one line a minute"
	}
	return "; more like this: one line every " + t.every().String()
}

// Kinds is how many kinds the throttle remembers.
func (t *Throttle) Kinds() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.kinds)
}

func (t *Throttle) every() time.Duration {
	if t.Every > 0 {
		return t.Every
	}
	return LogEvery
}

// advice is the destination's advice on an answer, as the end of a line.
func (d *Deliverer) advice(resp Response) string {
	if d.Advice == nil || resp.Err != nil {
		return ""
	}
	if a := d.Advice(resp.Status, resp.Answer); a != "" {
		return ": " + a
	}
	return ""
}

// plural is n things, as English says it.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func describe(r Response) string {
	if r.Err != nil {
		return r.Err.Error()
	}
	if r.Message == "" {
		return fmt.Sprintf("HTTP %d", r.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", r.Status, r.Message)
}

func (d *Deliverer) backOff() backoff.BackOff {
	if d.NewBackOff != nil {
		return d.NewBackOff()
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 250 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0 // the budget bounds retries, not the backoff
	return b
}

// take returns the progress of a chunk's requests, removing it from the
// ledger (a concurrent flush of the same chunk starts fresh).
func (d *Deliverer) take(key func() uint64, n int) []*progress {
	d.mu.Lock()
	empty := len(d.ledger) == 0
	d.mu.Unlock()
	var prog []*progress
	if !empty {
		k := key() // outside the lock: it reads the whole chunk
		d.mu.Lock()
		prog = d.ledger[k]
		delete(d.ledger, k)
		d.mu.Unlock()
	}
	if len(prog) != n {
		prog = fresh(n)
	}
	return prog
}

// keep remembers a chunk's progress until it returns.
func (d *Deliverer) keep(key uint64, prog []*progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ledger == nil {
		d.ledger = map[uint64][]*progress{}
	}
	d.ledger[key] = prog
	d.order = append(d.order, key)
	for len(d.ledger) > ledgerSize {
		delete(d.ledger, d.order[0])
		d.order = d.order[1:]
	}
	if len(d.order) > 2*ledgerSize { // forget keys whose chunks were acknowledged
		kept := d.order[:0]
		for _, k := range d.order {
			if _, ok := d.ledger[k]; ok {
				kept = append(kept, k)
			}
		}
		d.order = kept
	}
}
