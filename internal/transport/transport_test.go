package transport

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/delivery"
)

func TestSendsHeadersAndBody(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body = make([]byte, r.ContentLength)
		_, _ = r.Body.Read(body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL + "/push", TLS: config.TLS{Verify: true}, Timeout: time.Second, UserAgent: "kubeship/test",
		Header: map[string]string{"Authorization": "Basic dTpw", "X-Team": "platform"}})
	if err != nil {
		t.Fatal(err)
	}
	resp := c.Send(context.Background(), delivery.Request{Body: []byte("payload"), Header: map[string]string{"X-Scope-OrgID": "t1"}})
	if resp.Err != nil || resp.Status != http.StatusNoContent {
		t.Fatalf("%+v", resp)
	}
	for k, want := range map[string]string{"User-Agent": "kubeship/test", "X-Team": "platform", "X-Scope-OrgID": "t1"} {
		if got.Header.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, got.Header.Get(k), want)
		}
	}
	if u, p, ok := got.BasicAuth(); !ok || u != "u" || p != "p" {
		t.Errorf("basic auth %q %q %v", u, p, ok)
	}
	if got.URL.Path != "/push" || string(body) != "payload" {
		t.Errorf("path %s body %q", got.URL.Path, body)
	}
}

// Only the configured host is contacted: a redirect elsewhere is answered
// back, never followed with the body and the API key.
func TestRedirectIsNotFollowed(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect target was contacted with DD-API-KEY %q", r.Header.Get("DD-API-KEY"))
	}))
	defer other.Close()
	srv := httptest.NewServer(http.RedirectHandler(other.URL+"/elsewhere", http.StatusTemporaryRedirect))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, TLS: config.TLS{Verify: true}, Timeout: time.Second, Header: map[string]string{"DD-API-KEY": "secret"}})
	if err != nil {
		t.Fatal(err)
	}
	resp := c.Send(context.Background(), delivery.Request{Body: []byte("payload")})
	if resp.Err != nil || resp.Status != http.StatusTemporaryRedirect || !strings.Contains(resp.Message, other.URL+"/elsewhere") {
		t.Errorf("%+v, want the 307 and where it pointed", resp)
	}
}

func TestAnswerStatusMessageAndRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("ingestion rate limit exceeded\nsecond line\n" + strings.Repeat("x", 1<<20)))
	}))
	defer srv.Close()
	c, _ := New(Options{URL: srv.URL, TLS: config.TLS{Verify: true}, Timeout: time.Second})
	resp := c.Send(context.Background(), delivery.Request{})
	if resp.Status != 429 || resp.RetryAfter != 7*time.Second || resp.Message != "ingestion rate limit exceeded" {
		t.Errorf("%+v", resp)
	}
}

func TestRetryAfterForms(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "garbage": 0, "-1": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestUnreachableServerIsAnError(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c, _ := New(Options{URL: "http://" + addr + "/push", TLS: config.TLS{Verify: true}, Timeout: time.Second})
	resp := c.Send(context.Background(), delivery.Request{})
	if resp.Err == nil || !strings.Contains(resp.Err.Error(), "connection refused") {
		t.Errorf("%+v", resp)
	}
}

func TestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
	}))
	defer srv.Close()
	c, _ := New(Options{URL: srv.URL, TLS: config.TLS{Verify: true}, Timeout: 100 * time.Millisecond})
	// The error names the setting that bounds the wait.
	if resp := c.Send(context.Background(), delivery.Request{}); resp.Err == nil || !strings.Contains(resp.Err.Error(), "no answer within timeout 100ms") {
		t.Errorf("want a timeout error naming the timeout: %+v", resp)
	}
}

func TestTLSVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tls  config.TLS
		ok   bool
	}{
		{"verify_without_ca_fails", config.TLS{Verify: true}, false},
		{"verify_with_ca_passes", config.TLS{Verify: true, CAFile: ca}, true},
		{"verify_off_passes", config.TLS{Verify: false}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Options{URL: srv.URL, TLS: tt.tls, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			resp := c.Send(context.Background(), delivery.Request{})
			if ok := resp.Err == nil && resp.Status == 204; ok != tt.ok {
				t.Errorf("ok = %v (%+v)", ok, resp)
			}
		})
	}
}

func TestBadCAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ca.pem")
	_ = os.WriteFile(f, []byte("not a certificate"), 0o600)
	if _, err := New(Options{TLS: config.TLS{CAFile: f}}); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("err = %v", err)
	}
}

// writeCA makes a CA and a client certificate signed by it, as PEM files.
func writeCA(t *testing.T) (pool *x509.CertPool, certFile, keyFile string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, clientKey := newKey(), newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubeship test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	clientTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kubeship"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTmpl, caCert, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, certFile, keyFile
}

// A server that requires client certificates accepts kubeship with
// tls_crt_file/tls_key_file and refuses it without.
func TestClientCertificate(t *testing.T) {
	pool, certFile, keyFile := writeCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	for _, tt := range []struct {
		name string
		tls  config.TLS
		ok   bool
	}{
		{"with_client_cert", config.TLS{CertFile: certFile, KeyFile: keyFile}, true},
		{"without_client_cert", config.TLS{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Options{URL: srv.URL, TLS: tt.tls, Timeout: time.Second}) // verify off: the server's own cert is not the point here
			if err != nil {
				t.Fatal(err)
			}
			resp := c.Send(context.Background(), delivery.Request{})
			if ok := resp.Err == nil && resp.Status == 204; ok != tt.ok {
				t.Errorf("ok = %v (%+v)", ok, resp)
			}
		})
	}
}

// proxy sends requests through the given HTTP proxy, not straight to the server.
func TestProxy(t *testing.T) {
	var via string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		via = r.URL.String() // a proxy sees the absolute URL
		w.WriteHeader(202)
	}))
	defer proxy.Close()
	c, err := New(Options{URL: "http://intake.invalid/api/v2/logs", Proxy: proxy.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if resp := c.Send(context.Background(), delivery.Request{}); resp.Err != nil || resp.Status != 202 {
		t.Fatalf("resp %+v", resp)
	}
	if via != "http://intake.invalid/api/v2/logs" {
		t.Errorf("proxy saw %q", via)
	}
}

// A request Go's client refuses to build (a header value with CR, LF or
// NUL, as a record's tenant could give) is a permanent failure: no retry
// can send it. The server is never asked.
func TestUnsendableRequestIsPermanent(t *testing.T) {
	asked := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked = true }))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, TLS: config.TLS{Verify: true}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a\r\nX-Evil: 1", "a\x00b", "a\nb"} {
		resp := c.Send(context.Background(), delivery.Request{Body: []byte("x"), Header: map[string]string{"X-Scope-OrgID": v}})
		if resp.Err == nil || !resp.Permanent {
			t.Errorf("header value %q: %+v, want a permanent error", v, resp)
		}
	}
	if asked {
		t.Error("the server was asked")
	}
	if resp := c.Send(context.Background(), delivery.Request{Body: []byte("x"), Header: map[string]string{"X-Scope-OrgID": "ok"}}); resp.Err != nil || resp.Permanent {
		t.Errorf("valid request: %+v", resp)
	}
}

// Requests reuse one kept-alive connection; a connection the server
// closed while it was idle is replaced without an error, once.
func TestConnectionsAreReused(t *testing.T) {
	var opened, served int
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served++
		mu.Unlock()
		w.WriteHeader(204)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			opened++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, TLS: config.TLS{Verify: true}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	send := func() {
		t.Helper()
		if resp := c.Send(context.Background(), delivery.Request{Body: []byte("x")}); resp.Err != nil || resp.Status != 204 {
			t.Fatalf("%+v", resp)
		}
	}
	for range 5 {
		send()
	}
	if opened != 1 || served != 5 {
		t.Errorf("5 requests opened %d connections, %d served; want 1 connection", opened, served)
	}
	srv.CloseClientConnections() // as a server's idle timeout does, well before the next push
	u, _ := url.Parse(srv.URL)
	for end := time.Now().Add(5 * time.Second); sockets(u.Port(), "01", "08") > 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond) // until the client closed its end
	}
	send()
	if opened != 2 || served != 6 {
		t.Errorf("after the server closed the idle connection: %d connections, %d served; want 2 and 6", opened, served)
	}
}

// A cancelled request (the plugin stopping) returns at once, whatever the
// timeout.
func TestCancelledRequestReturns(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c, _ := New(Options{URL: srv.URL, TLS: config.TLS{Verify: true}, Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	resp := c.Send(ctx, delivery.Request{Body: []byte("x")})
	if resp.Err == nil || !errors.Is(resp.Err, context.Canceled) {
		t.Errorf("%+v, want context.Canceled", resp)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v", d)
	}
}

// A long answer is read up to maxAnswer and the connection is not reused
// (reading the rest could take long); the next request opens another.
func TestLongAnswerIsCapped(t *testing.T) {
	var opened int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write(bytes.Repeat([]byte("e"), 3*maxAnswer))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened++
		}
	}
	srv.Start()
	defer srv.Close()
	c, _ := New(Options{URL: srv.URL, TLS: config.TLS{Verify: true}, Timeout: time.Second})
	for range 2 {
		resp := c.Send(context.Background(), delivery.Request{Body: []byte("x")})
		if resp.Status != 400 || len(resp.Answer) != maxAnswer {
			t.Fatalf("status %d, answer of %d bytes; want 400 and %d", resp.Status, len(resp.Answer), maxAnswer)
		}
	}
	if opened != 2 {
		t.Errorf("%d connections, want 2", opened)
	}
}

// A server that answers before it has read the body (413 for a body too
// large) and closes: the write fails, and the answer is what is reported,
// as net/http's Transport does, so the sender can split the request.
func TestAnswerBeforeBodyIsRead(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		buf := make([]byte, 4096)
		for got := ""; !strings.Contains(got, "\r\n\r\n"); {
			n, err := nc.Read(buf)
			if err != nil {
				return
			}
			got += string(buf[:n])
		}
		_, _ = nc.Write([]byte("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large"))
		_ = nc.(*net.TCPConn).CloseWrite()
		time.Sleep(200 * time.Millisecond) // then close with the body unread: a reset
	}()
	c, _ := New(Options{URL: "http://" + l.Addr().String() + "/push", TLS: config.TLS{Verify: true}, Timeout: 5 * time.Second})
	resp := c.Send(context.Background(), delivery.Request{Body: bytes.Repeat([]byte("x"), 64<<20)})
	if resp.Err != nil || resp.Status != 413 || resp.Message != "too large" {
		t.Errorf("%+v, want the 413 answer", resp)
	}
}

// A url with user:password@ sends them as basic auth (as net/http's
// Client does), straight or through a proxy, and never in the request line.
func TestURLUserinfoIsBasicAuth(t *testing.T) {
	type seen struct {
		user, pass, uri string
		ok              bool
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		got <- seen{u, p, r.RequestURI, ok}
		w.WriteHeader(204)
	}))
	defer srv.Close()
	for _, proxy := range []string{"", srv.URL} {
		target := strings.Replace(srv.URL, "http://", "http://user:S3%2FCRET@", 1) + "/push"
		if proxy != "" {
			target = "http://user:S3%2FCRET@intake.invalid/push" // the proxy answers
		}
		c, err := New(Options{URL: target, Proxy: proxy, TLS: config.TLS{Verify: true}, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if resp := c.Send(context.Background(), delivery.Request{Body: []byte("x")}); resp.Err != nil || resp.Status != 204 {
			t.Fatalf("proxy %q: %+v", proxy, resp)
		}
		s := <-got
		if !s.ok || s.user != "user" || s.pass != "S3/CRET" || strings.Contains(s.uri, "S3") {
			t.Errorf("proxy %q: server saw %+v, want basic auth user/S3/CRET and no password in the request line", proxy, s)
		}
	}
}

// A static header that could not be sent (CR, LF, NUL in its value) is
// refused when the client is built, without showing the value: net/http
// would refuse every request carrying it.
func TestInvalidStaticHeaderIsRefused(t *testing.T) {
	for _, v := range []string{"S3CRET\r\nX-Evil: 1", "S3\x00CRET"} {
		_, err := New(Options{URL: "http://127.0.0.1:1/push", Timeout: time.Second, Header: map[string]string{"DD-API-KEY": v}})
		if err == nil || !strings.Contains(err.Error(), "Dd-Api-Key") || strings.Contains(err.Error(), "S3") {
			t.Errorf("%q: %v, want an error naming the header, not its value", v, err)
		}
	}
}

// Close closes the kept-alive connections (an instance retired by a hot
// reload must not keep its sockets), and one in use when Close comes is
// closed once its request is done.
func TestCloseClosesConnections(t *testing.T) {
	closed := make(chan struct{}, 2)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Wait") != "" {
			<-release
		}
		w.WriteHeader(204)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	c, _ := New(Options{URL: srv.URL, TLS: config.TLS{Verify: true}, Timeout: 5 * time.Second})
	done := make(chan delivery.Response)
	go func() {
		done <- c.Send(context.Background(), delivery.Request{Body: []byte("x"), Header: map[string]string{"X-Wait": "1"}})
	}()
	time.Sleep(100 * time.Millisecond) // that request is in flight on one connection
	if resp := c.Send(context.Background(), delivery.Request{Body: []byte("x")}); resp.Status != 204 {
		t.Fatalf("%+v", resp) // on a second one, now idle
	}
	c.Close()
	close(release)
	if resp := <-done; resp.Status != 204 {
		t.Fatalf("in flight: %+v", resp)
	}
	for i := range 2 {
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 2 connections closed after Close", i)
		}
	}
}
