// Package transport sends requests over HTTP(S): TLS, proxies from the
// environment, authentication, static headers, a per-request timeout and a
// capped read of the answer. Straight to the server, on the caller's
// goroutine (direct.go); through a proxy, with net/http's Transport.
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
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/delivery"
)

// maxAnswer caps how much of a response body is read: enough for any
// error message, never a memory risk.
const maxAnswer = 64 << 10

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
	direct  *direct      // when no proxy applies
	http    *http.Client // through a proxy
}

// New builds a client; errors name the file or setting to fix.
func New(o Options) (*Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	if o.Proxy != "" {
		u, err := url.Parse(o.Proxy)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		tr.Proxy = http.ProxyURL(u)
	}
	tr.MaxIdleConnsPerHost = 8
	tr.ResponseHeaderTimeout = o.Timeout
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
	tr.TLSClientConfig = tc
	h := map[string]string{"User-Agent": o.UserAgent}
	for k, v := range o.Header {
		k = http.CanonicalHeaderKey(k) // one entry per header, whatever its case
		// Requests are written as they are (direct.go): none may carry
		// a header that would break them. Its value may be a secret.
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			return nil, fmt.Errorf("header %s: invalid characters in its name or value", k)
		}
		h[k] = v
	}
	shown := config.RedactURL(o.URL)
	// Redirects are not followed: they would carry the body and headers
	// such as DD-API-KEY to a host the user did not configure.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{url: o.URL, shown: shown, header: h, timeout: o.Timeout,
		http: &http.Client{Transport: tr, Timeout: o.Timeout, CheckRedirect: noRedirect}}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if proxy, err := tr.Proxy(&http.Request{URL: u}); err == nil && proxy == nil {
		c.direct = &direct{addr: hostPort(u)}
		if u.Scheme == "https" {
			c.direct.tls = tc.Clone()
			c.direct.tls.ServerName = u.Hostname()
		}
	}
	return c, nil
}

// hostPort is u's host with its scheme's port when it names none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
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
	if c.direct != nil {
		var deadline time.Time // none
		if c.timeout > 0 {
			deadline = time.Now().Add(c.timeout)
		}
		if d, ok := req.Context().Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
			deadline = d
		}
		resp, body, err := c.direct.do(req, deadline, maxAnswer)
		if err != nil {
			if ctxErr := req.Context().Err(); ctxErr != nil {
				err = ctxErr // cancelled, or out of retry budget
			} else if isTimeout(err) {
				err = fmt.Errorf("no answer within timeout %s: %w", c.timeout, err)
			}
		}
		return resp, body, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer)) // reuse the connection when cheap
	return resp, body, nil
}

// Close closes the client's kept-alive connections: an instance that ends
// (Fluent Bit stopping, or a hot reload retiring it) keeps no sockets.
// Requests still in flight finish; their connections are closed after.
func (c *Client) Close() {
	if c.direct != nil {
		c.direct.close()
	}
	c.http.CloseIdleConnections()
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
