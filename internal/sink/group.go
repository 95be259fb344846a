package sink

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/kubeship/kubeship/internal/delivery"
)

// committer joins the flushes that run at the same time (Fluent Bit's
// Workers) into one group per batch_wait, delivered together: a group
// commit. The first flush of a group leads it: it waits until batch_wait
// has passed or the group holds batch_size, closes the group and delivers
// it while the others wait for their results. Each flush still answers
// Fluent Bit only for its own records, and only once they were accepted.
type committer struct {
	d        *delivery.Deliverer
	wait     time.Duration
	maxBytes int

	mu   sync.Mutex
	open *group // the group flushes join; nil when none is open
}

type group struct {
	members []delivery.Member
	size    int
	full    chan struct{} // closed when the group reached maxBytes
	done    chan struct{} // closed once results are set
	results []delivery.Result
}

// deliver delivers m with the flushes that join its group. The group's
// outcome, to count once, goes to its leader; the others get a zero one.
func (c *committer) deliver(ctx context.Context, m delivery.Member) (delivery.Outcome, delivery.Result) {
	size := 0
	for _, r := range m.Requests {
		size += r.Size
	}
	c.mu.Lock()
	g := c.open
	leader := g == nil
	if leader {
		g = &group{full: make(chan struct{}), done: make(chan struct{})}
		c.open = g
	}
	i := len(g.members)
	g.members = append(g.members, m)
	g.size += size
	if g.size >= c.maxBytes {
		close(g.full)
		c.open = nil // no one joins a full group
	}
	c.mu.Unlock()

	if !leader {
		<-g.done
		return delivery.Outcome{}, g.results[i]
	}
	// Should delivering panic, every flush of the group is handed back,
	// and none waits for good.
	delivered := false
	defer func() {
		if !delivered {
			g.results = slices.Repeat([]delivery.Result{delivery.Retry}, len(g.members))
		}
		close(g.done)
	}()
	timer := time.NewTimer(c.wait)
	select {
	case <-timer.C:
	case <-g.full:
	case <-ctx.Done():
	}
	timer.Stop()
	c.mu.Lock()
	if c.open == g {
		c.open = nil
	}
	c.mu.Unlock() // g.members no longer changes
	out, results := c.d.DeliverGroup(ctx, g.members, c.maxBytes)
	g.results, delivered = results, true
	return out, results[0]
}
