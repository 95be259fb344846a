package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// direct sends HTTP/1.1 requests on the caller's goroutine over kept-alive
// connections, writing and reading them with net/http's own Request.Write
// and ReadResponse. Why not http.Transport: it runs a read and a write
// goroutine per connection, so each request wakes three goroutines, and
// inside Fluent Bit the caller is a C thread locked to its goroutine: every
// hand-off is a futex wake of another OS thread. At 2,000 containers (one
// push per chunk, issue #16) the Go runtime's threads used 0.28-0.30 s of
// CPU per 200,000 records with the Transport and 0.10-0.16 s without it,
// a saving about the size of encoding those records (docs/performance.md).
// It speaks HTTP/1.1, as Fluent Bit's own outputs do. Through a proxy the
// Transport is still used: it speaks CONNECT and proxy authentication.
type direct struct {
	addr   string      // host:port
	tls    *tls.Config // nil for http://
	dialer net.Dialer

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool    // by close: connections are not kept
}

// conn is one kept-alive connection.
type conn struct {
	net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	used time.Time
}

const (
	// maxIdle is how many connections are kept for reuse: one per
	// concurrent flush (Workers), as http.Transport's MaxIdleConnsPerHost.
	maxIdle = 8
	// idleFor is how long an unused connection is kept, as
	// http.Transport's default IdleConnTimeout.
	idleFor = 90 * time.Second
)

// do sends req and returns its answer with at most limit bytes of body
// (read before it returns, so the connection can be reused).
func (d *direct) do(req *http.Request, deadline time.Time, limit int64) (*http.Response, []byte, error) {
	c, reused := d.get()
	for {
		if c == nil {
			var err error
			if c, err = d.dial(req.Context(), deadline); err != nil {
				return nil, nil, err
			}
		}
		resp, body, err := d.exchange(c, req, deadline, limit)
		// A kept-alive connection the server closed while it was idle
		// fails without an answer: send again, once, on a new one. (Had
		// the server taken the push and then failed to answer, the
		// delivery's own retry would resend it too, only later.)
		if err != nil && reused && !isTimeout(err) && req.Context().Err() == nil && req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, nil, err
			}
			c, reused = nil, false
			continue
		}
		return resp, body, err
	}
}

// exchange writes req on c and reads its answer; c goes back to the pool
// when it can carry another request, else it is closed.
func (d *direct) exchange(c *conn, req *http.Request, deadline time.Time, limit int64) (*http.Response, []byte, error) {
	keep := false
	defer func() {
		if keep {
			d.put(c)
		} else {
			_ = c.Close()
		}
	}()
	_ = c.SetDeadline(deadline)
	// A cancelled request (the plugin stopping) unblocks at once.
	stop := context.AfterFunc(req.Context(), func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	werr := req.Write(c.w)
	if werr == nil {
		werr = c.w.Flush()
	}
	// After a failed write the answer is still read: a server may answer
	// before it reads the body (413) and close, as http.Transport knows.
	resp, err := http.ReadResponse(c.r, req)
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 {
		resp, err = http.ReadResponse(c.r, req) // 1xx: the answer follows
	}
	if err != nil {
		if werr != nil {
			err = werr
		}
		return nil, nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, nil, err
	}
	// The rest of a long answer is read only if it is cheap; otherwise
	// the connection is not reused.
	n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, limit+1))
	keep = werr == nil && n <= limit && !resp.Close && stop()
	return resp, body, nil
}

func (d *direct) dial(ctx context.Context, deadline time.Time) (*conn, error) {
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	nc, err := d.dialer.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	if d.tls != nil {
		tc := tls.Client(nc, d.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, err
		}
		nc = tc
	}
	return &conn{Conn: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}, nil
}

// get takes the most recently used idle connection, closing those idle
// too long.
func (d *direct) get() (*conn, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.idle) > 0 {
		c := d.idle[len(d.idle)-1]
		d.idle = d.idle[:len(d.idle)-1]
		if time.Since(c.used) < idleFor {
			return c, true
		}
		_ = c.Close()
	}
	return nil, false
}

func (d *direct) put(c *conn) {
	c.used = time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		_ = c.Close()
		return
	}
	if len(d.idle) >= maxIdle {
		_ = d.idle[0].Close()
		d.idle = d.idle[1:]
	}
	d.idle = append(d.idle, c)
}

// close closes the idle connections, and those in use once their
// requests are done.
func (d *direct) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.idle {
		_ = c.Close()
	}
	d.idle, d.closed = nil, true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
