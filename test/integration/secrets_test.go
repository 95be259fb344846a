package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/test/host"
)

// Secrets (apikey, http_passwd, bearer_token, a password in url) never
// appear in anything the plugin writes, in failing runs of every kind:
// unreachable server, rejections, bad configuration.
func TestSecretsNeverAppearInOutput(t *testing.T) {
	const secret = "hunter2-5ecret-value"
	reject := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	defer reject.Close()
	unreachable := "127.0.0.1:1"
	tests := []struct {
		name string
		keys host.Instance
	}{
		{"url_password_unreachable", host.Instance{"url": "http://user:" + secret + "@" + unreachable + "/loki/api/v1/push"}},
		{"url_password_rejected", host.Instance{"url": strings.Replace(reject.URL, "http://", "http://user:"+secret+"@", 1)}},
		{"http_passwd_rejected", host.Instance{"url": reject.URL, "http_user": "u", "http_passwd": secret}},
		{"bearer_token_unreachable", host.Instance{"url": "http://" + unreachable, "bearer_token": secret}},
		{"apikey_unreachable", host.Instance{"destination": "datadog", "apikey": secret, "url": "http://" + unreachable + "/api/v2/logs"}},
		{"apikey_rejected", host.Instance{"destination": "datadog", "apikey": secret, "url": reject.URL, "dd_tags": "env:x"}},
		{"url_query_token", host.Instance{"url": reject.URL + "/loki/api/v1/push?token=" + secret}},
		{"header_value_rejected", host.Instance{"url": reject.URL, "header": "X-Api-Key " + secret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.keys["retry_budget"] = "500ms"
			tt.keys["timeout"] = "500ms"
			h := host.Start(t, tt.keys)
			rc := h.Flush(0, tag, eventtest.Chunk(true, fargate(t.Name(), 3)...))
			if rc != host.FLB_OK && rc != host.FLB_RETRY {
				t.Errorf("rc %d", rc)
			}
			h.Close()
			if strings.Contains(h.Logs(), secret) {
				t.Errorf("the secret appears in the plugin's output:\n%s", h.Logs())
			}
			if !strings.Contains(h.Logs(), "[error]") && !strings.Contains(h.Logs(), "[warn]") {
				t.Errorf("the failure was not logged:\n%s", h.Logs())
			}
		})
	}
	// A bad configuration next to a secret, or a bad secret: the error names
	// the key and the problem, never the secret.
	for _, bad := range []host.Instance{
		{"destination": "datadog", "apikey": secret, "site": "nowhere"},
		{"url": "http://127.0.0.1:1/push", "proxy": "socks5://user:" + secret + "@proxy:1080"},
		{"url": "http://127.0.0.1:1/push", "header": "Authorization: Bearer " + secret},
		{"url": "http://user:" + secret + "#%@127.0.0.1:1/push"},
	} {
		_, err := host.StartOpts(t, host.Options{}, bad)
		if err == nil {
			t.Fatalf("%v accepted", bad)
		}
		if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "configuration: ") {
			t.Errorf("init error: %v", fmt.Sprint(err))
		}
	}
}

// Start-up warns once about settings that expose credentials or skip
// certificate checks.
func TestStartupWarnings(t *testing.T) {
	h := host.Start(t, host.Instance{"url": "http://loki.example:3100/loki/api/v1/push", "bearer_token": "t0ken", "tls_verify": "off"})
	h.Close()
	for _, want := range []string{"[warn] [output:kubeship:kubeship.0] tls_verify off: TLS certificates are not verified",
		"[warn] [output:kubeship:kubeship.0] bearer_token: credentials go over plain http:// to loki.example"} {
		if strings.Count(h.Logs(), want) != 1 {
			t.Errorf("want one line %q:\n%s", want, h.Logs())
		}
	}
	if strings.Contains(h.Logs(), "t0ken") {
		t.Errorf("the token appears:\n%s", h.Logs())
	}
}

// HTTPS_PROXY/HTTP_PROXY and NO_PROXY from the environment are honoured
// (the `proxy` key overrides them).
func TestProxyFromEnvironment(t *testing.T) {
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Host)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer proxy.Close()
	env := []string{"HTTP_PROXY=" + proxy.URL, "NO_PROXY=skipped.invalid"}
	h, err := host.StartOpts(t, host.Options{Env: env},
		host.Instance{"url": "http://loki.invalid/loki/api/v1/push", "retry_budget": "500ms"},
		host.Instance{"url": "http://skipped.invalid/loki/api/v1/push", "retry_budget": "500ms"})
	if err != nil {
		t.Fatal(err)
	}
	chunk := eventtest.Chunk(true, fargate(t.Name(), 2)...)
	if rc := h.Flush(0, tag, chunk); rc != host.FLB_OK {
		t.Errorf("through the proxy: rc %d\n%s", rc, h.Logs())
	}
	if rc := h.Flush(1, tag, chunk); rc != host.FLB_RETRY {
		t.Errorf("NO_PROXY host (unresolvable, so no answer): rc %d, want FLB_RETRY", rc)
	}
	if fmt.Sprint(seen) != "[loki.invalid]" {
		t.Errorf("the proxy saw %v, want only loki.invalid", seen)
	}
}
