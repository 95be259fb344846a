// Package faultinject puts a fault-injecting HTTP proxy of ours between
// kubeship and a real destination (Loki, the Datadog intake) on 127.0.0.1,
// and its tests drive outages, retry storms, slow and rejecting
// destinations through the real out_kubeship.so (C test host) to prove that
// every acknowledged record arrives and nothing is retried forever.
package faultinject

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Mode is what the proxy does with the next requests.
type Mode struct {
	Refuse     bool          // connections refused: nothing listens
	Reset      bool          // the connection is reset mid-request (RST)
	Stall      time.Duration // answer only after this long
	Status     int           // answer this status instead of forwarding
	RetryAfter string        // with Status: the Retry-After header
	// LoseAnswer forwards the request, so the destination stores it, then
	// resets the connection instead of passing the answer on: the sender
	// cannot know, retries, and the destination sees the records twice.
	LoseAnswer bool
}

// Proxy forwards to an upstream unless a fault is set.
type Proxy struct {
	addr     string
	upstream *httputil.ReverseProxy

	mu       sync.Mutex
	ln       net.Listener
	srv      *http.Server
	mode     Mode
	count    int         // requests left under mode; 0 means until changed
	requests []time.Time // arrival of every request
	outcomes map[string]int
}

// Start listens on a free 127.0.0.1 port and forwards to upstream (a base
// URL such as http://127.0.0.1:3100).
func Start(upstream string) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	p := &Proxy{upstream: httputil.NewSingleHostReverseProxy(u), outcomes: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	return p, nil
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "http://" + p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
}

// Set switches the proxy to mode for the next count requests (0: until the
// next Set). Refuse closes the listener; any other mode reopens it on the
// same port.
func (p *Proxy) Set(mode Mode, count int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.count = mode, count
	switch {
	case mode.Refuse && p.ln != nil:
		_ = p.srv.Close()
		p.ln = nil
	case !mode.Refuse && p.ln == nil:
		var ln net.Listener
		var err error
		for i := 0; i < 50; i++ { // the port may linger briefly after close
			if ln, err = net.Listen("tcp", p.addr); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("reopening %s: %w", p.addr, err)
		}
		p.serve(ln)
	}
	return nil
}

// Close stops the proxy.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.srv.Close()
		p.ln = nil
	}
}

// Requests returns the arrival time of every request so far.
func (p *Proxy) Requests() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.requests...)
}

// Outcomes counts requests by what the proxy did: forwarded, reset,
// stalled, or the status it answered.
func (p *Proxy) Outcomes() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.outcomes {
		out[k] = v
	}
	return out
}

// take returns the mode for one request and counts it down.
func (p *Proxy) take(outcome func(Mode) string) Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, time.Now())
	m := p.mode
	if p.count > 0 {
		if p.count--; p.count == 0 {
			p.mode = Mode{}
		}
	}
	p.outcomes[outcome(m)]++
	return m
}

// reset closes the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0)
		}
		_ = conn.Close()
	}
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := p.take(func(m Mode) string {
		switch {
		case m.Reset:
			return "reset"
		case m.LoseAnswer:
			return "answer_lost"
		case m.Status != 0:
			return strconv.Itoa(m.Status)
		case m.Stall > 0:
			return "stalled"
		}
		return "forwarded"
	})
	switch {
	case m.Reset:
		// Read part of the body, then reset the connection.
		_, _ = r.Body.Read(make([]byte, 512))
		reset(w)
		return
	case m.LoseAnswer:
		p.upstream.ServeHTTP(httptest.NewRecorder(), r)
		reset(w)
		return
	case m.Stall > 0:
		select {
		case <-time.After(m.Stall):
		case <-r.Context().Done():
			return
		}
	}
	if m.Status != 0 {
		if m.RetryAfter != "" {
			w.Header().Set("Retry-After", m.RetryAfter)
		}
		http.Error(w, "injected fault", m.Status)
		return
	}
	p.upstream.ServeHTTP(w, r)
}
