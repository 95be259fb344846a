// Package transport sends requests over HTTP(S) with net/http's Transport:
// TLS, proxies from the environment, authentication, static headers, a
// per-request timeout, answers' headers and bodies read up to a cap.
package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/delivery"
)

const (
	// maxAnswer caps how much of a response body is read: enough for any
	// error message, never a memory risk.
	maxAnswer = 64 << 10
	// maxAnswerHeader caps an answer's headers, those of any 1xx answers
	// before it included (net/http's Transport counts them together):
	// Loki's and Datadog's are well under a kilobyte, and net/http's
	// server refuses requests whose headers pass 1 MB. Past it the push
	// fails with "server response headers exceeded 1048576 bytes".
	maxAnswerHeader = 1 << 20
	// maxIdle is how many connections are kept for reuse: one per
	// concurrent flush (Workers).
	maxIdle = 8
)

// Options configure a Client.
type Options struct {
	URL       string
	TLS       config.TLS
	Timeout   time.Duration
	UserAgent string
	Header    map[string]string // sent with every request (auth, user headers)
	Proxy     string            // proxy URL; "" uses HTTPS_PROXY, HTTP_PROXY and NO_PROXY
}

// Client sends requests to one URL.
type Client struct {
	url     string
	shown   string // url with any password hidden, for errors
	header  map[string]string
	timeout time.Duration
	http    *http.Client
	// http2At is when a connection last opened with an HTTP/2 frame (in
	// Unix nanoseconds): the server speaks only HTTP/2.
	http2At atomic.Int64
}

// New builds a client; errors name the file or setting to fix.
//
// Requests go through net/http's Transport. From b43e9a3 they were written
// by hand on the flush's own goroutine over kept-alive connections
// (direct.go), because the Transport's read and write goroutines per
// connection cost a thread locked by Fluent Bit a futex wake per hand-off.
// The gain was within the noise: at 2,000 containers kubeship → Loki went
// from 0.66 to 0.62× loki-sm's CPU, and four interleaved pairs gave 6.25,
// 5.60, 4.25 and 3.90 µs/record over null with the Transport against 3.45,
// 3.70, 3.65 and 5.25 without (docs/performance.md). Against misbehaving
// servers the hand-written path did worse than the Transport in 14 of
// TestScenarios' cases: a push received twice (a status dropped because
// the body failed after it, a connection reused mid-answer or with stray
// bytes, resending after the server had read the request), a 408 on an
// idle connection taken for an answer, an early 413 missed until the
// timeout, headers read without a cap, connections left in CLOSE_WAIT.
// Matching it meant writing again the Transport's reader per connection,
// so the Transport came back. Whatever carries requests next has to pass
// TestScenarios against the Transport as it comes.
func New(o Options) (*Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !o.TLS.Verify} // #nosec G402 -- tls.verify off is the user's explicit choice
	if o.TLS.CAFile != "" {
		pem, err := os.ReadFile(o.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", o.TLS.CAFile)
		}
		tc.RootCAs = pool
	}
	if o.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.TLS.CertFile, o.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.crt_file/tls.key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	h := map[string]string{"User-Agent": o.UserAgent}
	for k, v := range o.Header {
		k = http.CanonicalHeaderKey(k) // one entry per header, whatever its case
		// net/http would refuse every request carrying it: say so now,
		// naming the header only (its value may be a secret).
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			return nil, fmt.Errorf("header %s: invalid characters in its name or value", k)
		}
		h[k] = v
	}
	if _, err := url.Parse(o.URL); err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	c := &Client{url: o.URL, shown: config.RedactURL(o.URL), header: h, timeout: o.Timeout}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &firstRead{Conn: nc, http2At: &c.http2At}, nil
		},
		TLSClientConfig:        tc,
		TLSHandshakeTimeout:    10 * time.Second, // and timeout, if shorter
		MaxIdleConnsPerHost:    maxIdle,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxAnswerHeader,
		DisableCompression:     true, // no Accept-Encoding: answers are short
		// HTTP/1.1, as Fluent Bit's own outputs speak.
		ForceAttemptHTTP2: false,
		Protocols:         new(http.Protocols),
	}
	tr.Protocols.SetHTTP1(true)
	if o.Proxy != "" {
		u, err := url.Parse(o.Proxy)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		tr.Proxy = http.ProxyURL(u)
	}
	// Redirects are not followed: they would carry the body and headers
	// such as DD-API-KEY to a host the user did not configure.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &http.Client{Transport: tr, Timeout: o.Timeout, CheckRedirect: noRedirect}
	return c, nil
}

// Send posts r and reports the answer.
func (c *Client) Send(ctx context.Context, r delivery.Request) delivery.Response {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(r.Body))
	if err != nil {
		return delivery.Response{Err: err}
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	for k, v := range r.Header {
		// Go's client would refuse the request at every try (and the
		// value may be a secret: it is not shown).
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			return delivery.Response{Err: fmt.Errorf("header %s: invalid characters in its value", k), Permanent: true}
		}
		req.Header.Set(k, v)
	}
	if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
		pass, _ := u.Password()
		req.SetBasicAuth(u.Username(), pass) // the url's user:password@, as net/http's Client sends it
	}
	resp, body, err := c.do(req)
	if err != nil {
		return delivery.Response{Err: fmt.Errorf("POST %s: %w", c.shown, unwrapURLError(err))}
	}
	msg := message(body)
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
		msg = "redirected to " + loc + ", which kubeship does not follow: set url to the address that accepts the push"
	}
	return delivery.Response{
		Status:     resp.StatusCode,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Message:    msg,
		Answer:     string(body),
	}
}

// do sends req and reads at most maxAnswer bytes of its answer's body.
func (c *Client) do(req *http.Request) (*http.Response, []byte, error) {
	start := time.Now().UnixNano()
	resp, err := c.http.Do(req)
	if err != nil {
		switch {
		case req.Context().Err() != nil:
			err = req.Context().Err() // cancelled, or out of retry budget
		case isTimeout(err):
			err = fmt.Errorf("no answer within timeout %s: %w", c.timeout, unwrapURLError(err))
		case c.http2At.Load() >= start:
			err = fmt.Errorf("the server answered in HTTP/2, which kubeship does not speak (a gRPC port?): set url to the address that accepts HTTP/1.1 pushes: %w", unwrapURLError(err))
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	// Once its status is read, that is the push's answer, whatever
	// happens to the body after it (cut, or past the timeout).
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	// The rest of a long answer is read only when cheap: the Transport
	// reuses a connection only once its answer was read to its end.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	return resp, body, nil
}

// Close closes the client's kept-alive connections: an instance that ends
// (Fluent Bit stopping, or a hot reload retiring it) keeps no sockets.
// Requests still in flight finish; their connections are closed after.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
}

// firstRead notes when a connection's first bytes are an HTTP/2 SETTINGS
// frame, which a server that speaks only HTTP/2 sends first: net/http would
// only say "malformed HTTP status code".
type firstRead struct {
	net.Conn
	read    bool
	http2At *atomic.Int64
}

func (c *firstRead) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.read && n > 0 {
		c.read = true
		if isHTTP2Settings(p[:n]) {
			c.http2At.Store(time.Now().UnixNano())
		}
	}
	return n, err
}

// isHTTP2Settings reports whether b starts with an HTTP/2 SETTINGS frame's
// header: a length in 6-byte settings, type 4, flags 0 or ACK, stream 0.
// An HTTP/1.x answer starts with "HTTP/".
func isHTTP2Settings(b []byte) bool {
	if len(b) < 9 {
		return false
	}
	length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	return length%6 == 0 && b[3] == 4 && b[4]&^1 == 0 && b[5]&0x7f|b[6]|b[7]|b[8] == 0
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unwrapURLError drops url.Error's repetition of method and URL.
func unwrapURLError(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err
	}
	return err
}

// message is the first line of an answer, for logs.
func message(body []byte) string {
	s := strings.TrimSpace(string(body))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return s
}

// retryAfter parses Retry-After: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
