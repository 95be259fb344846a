package transport

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
		Header: map[string]string{"Authorization": BasicAuth("u", "p"), "X-Team": "platform"}})
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
	if resp := c.Send(context.Background(), delivery.Request{}); resp.Err == nil {
		t.Errorf("no timeout error: %+v", resp)
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
