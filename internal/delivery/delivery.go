// Package delivery sends a flush's requests with Fluent Bit's at-least-once
// contract: a flush is acknowledged only once every request was accepted or
// permanently rejected; retryable failures are retried with backoff inside a
// time budget, then handed back to Fluent Bit (FLB_RETRY) without resending
// the requests that already succeeded.
package delivery

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Request is one HTTP request body ready to send.
type Request struct {
	Body    []byte
	Header  map[string]string
	Records int
	// Split halves the request when the server answers 413; nil when it
	// holds a single record.
	Split func() []Request
}

// Response is what the server answered; Err is set when no answer came
// (connection refused, reset, timeout).
type Response struct {
	Status     int
	RetryAfter time.Duration
	Message    string
	Err        error
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
	Result   Result
	Sent     int            // records accepted
	Dropped  map[string]int // records permanently rejected, by reason
	Attempts int            // HTTP requests made
	Retries  int            // requests sent again after a retryable failure
}

// Deliverer sends flushes through a Sender. Safe for concurrent flushes.
type Deliverer struct {
	Sender Sender
	Budget time.Duration // time one flush may spend retrying
	Log    Logger
	// NewBackOff returns the retry schedule; exponential with jitter when nil.
	NewBackOff func() backoff.BackOff

	mu     sync.Mutex
	ledger map[uint64][]bool // chunk key → which of its requests are done
	order  []uint64          // ledger keys, oldest first, to bound its size
}

// ledgerSize bounds the chunks remembered between FLB_RETRY and their
// return; Fluent Bit holds far fewer chunks in retry at once.
const ledgerSize = 4096

// Deliver sends reqs, the requests built from one chunk identified by key
// (a hash of its tag and bytes). key is called only when the ledger is
// consulted: hashing every chunk cost a sixth of a flush's CPU in a real
// Fluent Bit, and the ledger is empty unless chunks are being retried.
func (d *Deliverer) Deliver(ctx context.Context, key func() uint64, reqs []Request) Outcome {
	var k uint64
	hashed := false
	keyOf := func() uint64 {
		if !hashed {
			k, hashed = key(), true
		}
		return k
	}
	out := Outcome{Dropped: map[string]int{}}
	done := d.take(keyOf, len(reqs))
	deadline := time.Now().Add(d.Budget)
	for i, r := range reqs {
		if done[i] {
			continue
		}
		if !d.send(ctx, r, deadline, &out) {
			d.keep(keyOf(), done)
			out.Result = Retry
			return out
		}
		done[i] = true
	}
	out.Result = OK
	return out
}

// send delivers one request; false means retry later.
func (d *Deliverer) send(ctx context.Context, r Request, deadline time.Time, out *Outcome) bool {
	var bo backoff.BackOff
	for {
		resp := d.sendWithin(ctx, r, deadline)
		out.Attempts++
		switch {
		case resp.Err == nil && resp.Status >= 200 && resp.Status < 300:
			out.Sent += r.Records
			return true
		case resp.Err == nil && resp.Status == http.StatusRequestEntityTooLarge:
			if r.Split == nil {
				d.drop(out, "too_large", r.Records, resp)
				return true
			}
			for _, part := range r.Split() {
				if !d.send(ctx, part, deadline, out) {
					return false
				}
			}
			return true
		case resp.Err == nil && !retryable(resp.Status):
			d.drop(out, fmt.Sprintf("status_%d", resp.Status), r.Records, resp)
			return true
		}
		if bo == nil {
			bo = d.backOff()
		}
		wait := bo.NextBackOff()
		if resp.RetryAfter > wait {
			wait = resp.RetryAfter
		}
		if ctx.Err() != nil {
			d.Log.Warnf("%s; shutting down, handing the chunk back to Fluent Bit", describe(resp))
			return false
		}
		if wait == backoff.Stop || time.Now().Add(wait).After(deadline) {
			d.Log.Warnf("%s; retry budget spent, handing the chunk back to Fluent Bit", describe(resp))
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		out.Retries++
	}
}

// sendWithin sends r, cut off at the flush's deadline: Fluent Bit waits for
// running flushes before it stops (and with Workers 0 a flush holds its
// engine), so no request may outlast the retry budget.
func (d *Deliverer) sendWithin(ctx context.Context, r Request, deadline time.Time) Response {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return d.Sender.Send(ctx, r)
}

// retryable reports statuses worth another try: timeouts, rate limits and
// server errors.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

func (d *Deliverer) drop(out *Outcome, reason string, n int, resp Response) {
	out.Dropped[reason] += n
	d.Log.Errorf("%s; %d records not retried (the server rejects them permanently)", describe(resp), n)
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

// take returns the done-marks of a chunk's requests, removing them from
// the ledger (a concurrent flush of the same chunk starts fresh).
func (d *Deliverer) take(key func() uint64, n int) []bool {
	d.mu.Lock()
	empty := len(d.ledger) == 0
	d.mu.Unlock()
	if empty {
		return make([]bool, n)
	}
	k := key() // outside the lock: it reads the whole chunk
	d.mu.Lock()
	defer d.mu.Unlock()
	done, ok := d.ledger[k]
	delete(d.ledger, k)
	if !ok || len(done) != n {
		return make([]bool, n)
	}
	return done
}

// keep remembers a chunk's done-marks until it returns.
func (d *Deliverer) keep(key uint64, done []bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ledger == nil {
		d.ledger = map[uint64][]bool{}
	}
	d.ledger[key] = done
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
