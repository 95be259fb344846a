package transport

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/delivery"
)

// The scenario suite: servers that misbehave, each met by the client that
// ships (New) and by net/http's Transport as it comes (the reference, with
// the same TLS settings). What ships must do no worse than the reference:
// the server receives as many pushes, each push reports the same outcome
// (a status, or an error), it takes no longer (within 2 s), allocates no
// more (within half as much again and 16 MB), and leaves no more file
// descriptors, goroutines or half-closed sockets behind. Whatever carries
// requests (http.Transport today; a hand-written path was tried: see
// transport.go) has to pass it. `go test -v -run TestScenarios` logs what
// each did.
func TestScenarios(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			ref := sc.runOn(t, reference)
			got := sc.runOn(t, shipped)
			t.Logf("%-14s %v pushes %d in %v, %.1f MB allocated, left %v %s", reference.name, ref.outcomes, ref.pushes, ref.took.Round(time.Millisecond), mb(ref.alloc), ref.left, ref.firstErr())
			t.Logf("%-14s %v pushes %d in %v, %.1f MB allocated, left %v %s", shipped.name, got.outcomes, got.pushes, got.took.Round(time.Millisecond), mb(got.alloc), got.left, got.firstErr())
			if !slices.Equal(got.outcomes, ref.outcomes) {
				t.Errorf("outcomes %v, the reference's %v", got.outcomes, ref.outcomes)
			}
			if sc.want != nil && !slices.Equal(got.outcomes, sc.want) {
				t.Errorf("outcomes %v, want %v", got.outcomes, sc.want)
			}
			if got.pushes != ref.pushes {
				t.Errorf("the server received %d pushes, %d from the reference", got.pushes, ref.pushes)
			}
			if got.took > ref.took+2*time.Second {
				t.Errorf("took %v, the reference %v", got.took, ref.took)
			}
			if got.alloc > ref.alloc*3/2+16<<20 {
				t.Errorf("allocated %.1f MB, the reference %.1f MB", mb(got.alloc), mb(ref.alloc))
			}
			for k, n := range got.left {
				if n > ref.left[k] {
					t.Errorf("left %d %s behind, the reference %d", n, k, ref.left[k])
				}
			}
			if sc.check != nil {
				sc.check(t, got)
			}
		})
	}
}

// path is a way to build a client.
type path struct {
	name  string
	build func(Options) (*Client, error)
}

var (
	shipped   = path{"kubeship", New}
	reference = path{"http.Transport", newReference}
)

// newReference is a client that sends through net/http's Transport as it
// comes (DefaultTransport's settings), with o's TLS settings.
func newReference(o Options) (*Client, error) {
	c, err := New(o)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = c.http.Transport.(*http.Transport).TLSClientConfig.Clone()
	c.http.Transport = tr
	return c, nil
}

type scenario struct {
	name    string
	serve   func(*peerConn)  // a raw server: its side of each connection it accepts
	handler http.HandlerFunc // or an httptest server's handler
	https   bool             // the raw server's URL is https:// (its handshake is up to serve)
	timeout time.Duration    // the client's; 1 s when zero
	sends   int              // pushes sent one after another; 1 when zero
	body    []byte           // each push's body; a small JSON one when nil
	// settle: between pushes, wait (up to 3 s) until the server's
	// connections ended and the client closed its ends.
	settle bool
	run    func(x *exchange) // instead of sends
	want   []string          // the outcomes that both must report
	check  func(t *testing.T, got *result)
}

// result is what a run did.
type result struct {
	outcomes []string // each push's status, or "error"
	errs     []error
	pushes   int64         // request heads the server read
	took     time.Duration // in Send, summed
	alloc    uint64        // bytes the process allocated during the run
	left     map[string]int
}

func (r *result) firstErr() string {
	for _, err := range r.errs {
		if err != nil {
			return "(" + trim(err.Error(), 160) + ")"
		}
	}
	return ""
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// exchange is a run in progress: a client and the server it talks to.
type exchange struct {
	c      *Client
	url    string
	port   string
	body   []byte
	peer   *peer // nil for an httptest server
	mu     sync.Mutex
	r      *result
	served atomic.Int64 // pushes an httptest server received
}

// send pushes x.body once and records the outcome.
func (x *exchange) send() {
	start := time.Now()
	resp := x.c.Send(context.Background(), delivery.Request{Body: x.body})
	took := time.Since(start)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.r.took += took
	x.r.errs = append(x.r.errs, resp.Err)
	if resp.Err != nil {
		x.r.outcomes = append(x.r.outcomes, "error")
	} else {
		x.r.outcomes = append(x.r.outcomes, strconv.Itoa(resp.Status))
	}
}

// settle waits, at most 3 s, until the server's connections have
// ended and the client has closed its ends of those the server closed.
func (x *exchange) settle() {
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if (x.peer == nil || x.peer.open.Load() == 0) && closeWait(x.port) == 0 {
			return
		}
	}
}

func (sc scenario) runOn(t *testing.T, p path) *result {
	t.Helper()
	fds0, g0 := openFDs(), runtime.NumGoroutine()
	x := &exchange{body: sc.body, r: &result{left: map[string]int{}}}
	if x.body == nil {
		x.body = []byte("{\"streams\":[]}\n")
	}
	var stop func() // the server
	if sc.handler != nil {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			x.served.Add(1)
			sc.handler(w, r)
		}))
		x.url, stop = srv.URL+"/push", srv.Close
	} else {
		x.peer = newPeer(t, sc.serve)
		scheme := "http"
		if sc.https {
			scheme = "https"
		}
		x.url, stop = scheme+"://"+x.peer.l.Addr().String()+"/push", x.peer.close
	}
	u, _ := url.Parse(x.url)
	x.port = u.Port()
	timeout := sc.timeout
	if timeout == 0 {
		timeout = time.Second
	}
	c, err := p.build(Options{URL: x.url, TLS: config.TLS{Verify: false}, Timeout: timeout, UserAgent: "kubeship/test"})
	if err != nil {
		t.Fatal(err)
	}
	x.c = c
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if sc.run != nil {
		sc.run(x)
	} else {
		for i := range max(sc.sends, 1) {
			if i > 0 && sc.settle {
				x.settle()
			}
			x.send()
		}
	}
	runtime.ReadMemStats(&m1)
	x.r.alloc = m1.TotalAlloc - m0.TotalAlloc
	c.Close()
	stop()
	if x.peer != nil {
		x.r.pushes = x.peer.pushes.Load()
	} else {
		x.r.pushes = x.served.Load()
	}
	// What the client keeps once closed (its goroutines end, and its
	// sockets close, shortly after).
	fds, g := openFDs()-fds0, runtime.NumGoroutine()-g0
	for end := time.Now().Add(3 * time.Second); (fds > 0 || g > 0) && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
		fds, g = openFDs()-fds0, runtime.NumGoroutine()-g0
	}
	x.r.left["fds"], x.r.left["goroutines"] = max(fds, 0), max(g, 0)
	return x.r
}

// openFDs counts the process's open file descriptors (0 where /proc is
// missing).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// closeWait counts this machine's sockets connected to 127.0.0.1:port that
// the server closed and the client has not: in CLOSE_WAIT.
func closeWait(port string) int { return sockets(port, "08") }

// sockets counts this machine's sockets connected to 127.0.0.1:port in
// the given states (/proc/net/tcp's: 01 ESTABLISHED, 08 CLOSE_WAIT); 0
// where /proc is missing.
func sockets(port string, states ...string) int {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(port)
	remote := fmt.Sprintf("0100007F:%04X", p)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[2] == remote && slices.Contains(states, f[3]) {
			n++
		}
	}
	return n
}

// peer is a raw server on 127.0.0.1 whose side of each connection is a
// scenario's serve.
type peer struct {
	l      net.Listener
	pushes atomic.Int64 // request heads read
	open   atomic.Int64 // connections being served
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	t      *testing.T
}

func newPeer(t *testing.T, serve func(*peerConn)) *peer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{l: l, done: make(chan struct{}), t: t}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, nc)
			p.mu.Unlock()
			p.open.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer p.open.Add(-1)
				defer nc.Close()
				if serve != nil {
					serve(&peerConn{Conn: nc, r: bufio.NewReader(nc), p: p})
				} else {
					p.stall(time.Minute) // accepts, says nothing
				}
			}()
		}
	}()
	return p
}

// close ends the stalls, closes every connection and waits for serve to
// return on each.
func (p *peer) close() {
	close(p.done)
	_ = p.l.Close()
	p.mu.Lock()
	for _, nc := range p.conns {
		_ = nc.Close()
	}
	p.mu.Unlock()
	ended := make(chan struct{})
	go func() { p.wg.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		p.t.Error("the server's goroutines did not end")
	}
}

// stall waits d, or until the scenario ends.
func (p *peer) stall(d time.Duration) {
	select {
	case <-p.done:
	case <-time.After(d):
	}
}

func (p *peer) ended() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// peerConn is the server's end of one connection.
type peerConn struct {
	net.Conn
	r *bufio.Reader
	p *peer
}

// head reads a request's head and counts it as a push; it returns the
// push's number on the server (1 for the first), or 0 when the connection
// ended first. The body is left unread.
func (c *peerConn) head() (int, *http.Request) {
	req, err := http.ReadRequest(c.r)
	if err != nil {
		return 0, nil
	}
	return int(c.p.pushes.Add(1)), req
}

// request reads a whole request; see head.
func (c *peerConn) request() int {
	n, req := c.head()
	if n > 0 {
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return 0
		}
	}
	return n
}

func (c *peerConn) send(s string) bool {
	_, err := io.WriteString(c, s)
	return err == nil
}

// each answers every request on the connection with answer (the push's
// number on the server), until answer says to stop.
func each(answer func(c *peerConn, n int) bool) func(*peerConn) {
	return func(c *peerConn) {
		for {
			n := c.request()
			if n == 0 || !answer(c, n) {
				return
			}
		}
	}
}

const (
	ok200 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	ok204 = "HTTP/1.1 204 No Content\r\n\r\n"
)

// stream writes chunk until the client stops reading, the scenario ends or
// limit bytes were written.
func (c *peerConn) stream(chunk []byte, limit int) {
	for sent := 0; sent < limit && !c.p.ended(); sent += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// timesOut requires that every push failed, on the timeout named as the
// setting.
func timesOut(t *testing.T, got *result) {
	for _, err := range got.errs {
		if err == nil || !strings.Contains(err.Error(), "no answer within timeout 1s") {
			t.Errorf("error %v, want one naming the timeout (no answer within timeout 1s)", err)
		}
	}
}

func scenarios() []scenario {
	big := make([]byte, 32<<20) // a body the server does not read
	hugeHeader := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 24<<20) + "\r\nContent-Length: 0\r\n\r\n"
	headerChunk := bytes.Repeat([]byte("a"), 64<<10)
	bodyChunk := []byte(fmt.Sprintf("1000\r\n%s\r\n", bytes.Repeat([]byte("b"), 0x1000)))
	continues := bytes.Repeat([]byte("HTTP/1.1 100 Continue\r\n\r\n"), 1000)
	longAnswer := strings.Repeat("e", 100_000)
	return []scenario{
		// Answers as they may come.
		{name: "content_length", sends: 3, serve: each(func(c *peerConn, _ int) bool { return c.send(ok200) }),
			want: []string{"200", "200", "200"}},
		{name: "chunked", sends: 3, serve: each(func(c *peerConn, _ int) bool {
			return c.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
		}), want: []string{"200", "200", "200"}},
		{name: "close_delimited", sends: 2, serve: each(func(c *peerConn, _ int) bool {
			c.send("HTTP/1.1 200 OK\r\n\r\nok, up to the close")
			return false
		}), want: []string{"200", "200"}},
		{name: "http_1_0", sends: 2, serve: each(func(c *peerConn, _ int) bool {
			c.send("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return false
		}), want: []string{"200", "200"}},
		{name: "connection_close", sends: 2, serve: each(func(c *peerConn, _ int) bool {
			c.send("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
			return false
		}), want: []string{"204", "204"}},
		{name: "100_continue_first", sends: 2, serve: each(func(c *peerConn, _ int) bool {
			return c.send("HTTP/1.1 100 Continue\r\n\r\n" + ok204)
		}), want: []string{"204", "204"}},
		{name: "103_early_hints_first", sends: 2, serve: each(func(c *peerConn, _ int) bool {
			return c.send("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" + ok204)
		}), want: []string{"204", "204"}},
		{name: "101_is_final", serve: each(func(c *peerConn, _ int) bool {
			c.send("HTTP/1.1 101 Switching Protocols\r\n\r\n")
			c.p.stall(time.Minute)
			return false
		}), want: []string{"101"}},
		{name: "httptest_server", sends: 3, handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(204)
		}, want: []string{"204", "204", "204"}},

		// Servers that never finish.
		{name: "never_answers", serve: each(func(c *peerConn, _ int) bool {
			c.p.stall(time.Minute)
			return false
		}), want: []string{"error"}, check: timesOut},
		{name: "trickled_headers", serve: each(func(c *peerConn, _ int) bool {
			c.send("HTTP/1.1 200 OK\r\nX-Slow: ")
			for range 500 { // 10 s at most
				if c.p.ended() || !c.send("s") {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			return false
		}), want: []string{"error"}, check: timesOut},
		{name: "endless_body", sends: 2, serve: each(func(c *peerConn, _ int) bool {
			c.send("HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n")
			c.stream(bodyChunk, 256<<20)
			return false
		}), want: []string{"400", "400"}},
		{name: "endless_100_continues", serve: each(func(c *peerConn, _ int) bool {
			c.stream(continues, 2<<20) // 2 MB of them, then silence
			c.p.stall(time.Minute)
			return false
		}), want: []string{"error"}},
		{name: "tls_handshake_hangs", https: true, serve: nil, want: []string{"error"}, check: timesOut},
		{name: "body_unread_no_answer", timeout: time.Second, body: big, serve: func(c *peerConn) {
			c.head()
			c.p.stall(time.Minute)
		}, want: []string{"error"}, check: timesOut},

		// 1. The status is reported when the body fails after it.
		{name: "status_then_body_cut", sends: 2, serve: each(func(c *peerConn, n int) bool {
			if n == 2 {
				c.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
				return false
			}
			return c.send(ok204)
		}), want: []string{"204", "200"}},
		{name: "status_then_body_stalls", sends: 2, serve: each(func(c *peerConn, n int) bool {
			if n == 2 {
				c.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
				c.p.stall(time.Minute)
				return false
			}
			return c.send(ok204)
		}), want: []string{"204", "200"}},
		// 2. A connection is reused only once its answer was read to its end.
		{name: "long_answer_stalls_while_discarded", sends: 2, serve: each(func(c *peerConn, n int) bool {
			if n == 1 {
				c.send("HTTP/1.1 400 Bad Request\r\nContent-Length: 100000\r\n\r\n" + longAnswer[:70_000])
				c.p.stall(1500 * time.Millisecond) // past the client's timeout
				return c.send(longAnswer[70_000:])
			}
			return c.send(ok204)
		}), want: []string{"400", "204"}},
		{name: "long_answer_cut_while_discarded", sends: 2, serve: each(func(c *peerConn, n int) bool {
			if n == 1 {
				c.send("HTTP/1.1 400 Bad Request\r\nContent-Length: 100000\r\n\r\n" + longAnswer[:70_000])
				return false
			}
			return c.send(ok204)
		}), want: []string{"400", "204"}},
		// 3. Bytes after an answer: the connection is not reused.
		{name: "stray_crlf_after_answer", sends: 2, settle: true, serve: each(func(c *peerConn, _ int) bool {
			return c.send(ok204 + "\r\n\r\n")
		}), want: []string{"204", "204"}},
		// 4. A push is resent only when nothing of it was written.
		{name: "request_read_then_closed", sends: 2, serve: each(func(c *peerConn, n int) bool {
			return n != 2 && c.send(ok204)
		}), want: []string{"204", "error"}},
		{name: "answer_cut_in_status_line", sends: 2, serve: each(func(c *peerConn, n int) bool {
			if n == 2 {
				c.send("HTTP/1.1 2")
				return false
			}
			return c.send(ok204)
		}), want: []string{"204", "error"}},
		// 5. A 408 on an idle connection (HAProxy's, before it closes).
		{name: "idle_408", sends: 2, settle: true, serve: each(func(c *peerConn, _ int) bool {
			c.send(ok204)
			time.Sleep(20 * time.Millisecond)
			c.send("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			return false
		}), want: []string{"204", "204"}},
		// 6. An answer before the body was read, the connection kept
		// open: the 413 is reported, so the request can be split.
		{name: "early_413_body_unread", timeout: 3 * time.Second, body: big, serve: func(c *peerConn) {
			c.head()
			c.send("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large")
			c.p.stall(time.Minute)
		}, want: []string{"413"}},
		// 7. Answer headers are capped.
		{name: "header_of_24MB", serve: each(func(c *peerConn, _ int) bool {
			c.send(hugeHeader)
			return false
		}), want: []string{"error"}},
		{name: "endless_header", serve: each(func(c *peerConn, _ int) bool {
			c.send("HTTP/1.1 200 OK\r\nX-Endless: ")
			c.stream(headerChunk, 32<<20)
			c.p.stall(time.Minute)
			return false
		}), want: []string{"error"}},
		// 8. Connections the server closed while idle are closed.
		{name: "idle_connections_closed_by_server", serve: closesIdle(4), run: func(x *exchange) {
			var wg sync.WaitGroup
			for range 4 { // four at once: four connections
				wg.Go(x.send)
			}
			wg.Wait()
			x.settle() // the server closed all four
			x.send()
			x.send()
			x.r.left["close_wait"] = closeWait(x.port)
		}, want: []string{"204", "204", "204", "204", "204", "204"}},

		// The client is shared and closed.
		{name: "workers_share_one_client", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(204)
		}, run: func(x *exchange) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 10 {
						x.send()
					}
				})
			}
			wg.Wait()
		}, want: slices.Repeat([]string{"204"}, 80)},

		// A server that speaks only HTTP/2 (a gRPC port) is named.
		{name: "http2_only_server", serve: func(c *peerConn) {
			c.head()
			settings := []byte{0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0x40, 0}
			debug := "http2: bad client preface version"
			goaway := append([]byte{0, 0, byte(8 + len(debug)), 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, debug...)
			_, _ = c.Write(append(settings, goaway...))
		}, want: []string{"error"}, check: func(t *testing.T, got *result) {
			if err := got.errs[0]; err == nil || !strings.Contains(err.Error(), "HTTP/2") {
				t.Errorf("error %v, want one saying the server speaks only HTTP/2", err)
			}
		}},
	}
}

// closesIdle answers the first n pushes once all n are in (each on its own
// connection), then closes those connections, as a server's idle timeout
// does; later pushes are answered as they come.
func closesIdle(n int) func(*peerConn) {
	return each(func(c *peerConn, k int) bool {
		if k > n {
			return c.send(ok204)
		}
		for end := time.Now().Add(2 * time.Second); c.p.pushes.Load() < int64(n) && time.Now().Before(end); {
			time.Sleep(5 * time.Millisecond)
		}
		c.send(ok204)
		c.p.stall(100 * time.Millisecond)
		return false
	})
}
