package config

import (
	"strings"
	"testing"
)

// Settings that work but deserve a look are accepted with a warning that
// says why; no warning holds a secret.
func TestStartupWarnings(t *testing.T) {
	tests := []struct {
		name string
		keys Map
		want []string // one substring per expected warning, in order; none when empty
	}{
		{"defaults", with(nil), nil},
		{"datadog_defaults", ddWith(nil), nil},

		// retry_budget against Fluent Bit's default Grace (5s)
		{"retry_budget_at_grace", with(Map{"retry_budget": "5s"}), nil},
		{"retry_budget_beyond_grace", with(Map{"retry_budget": "6s"}), []string{
			"retry_budget 6s is longer than Fluent Bit's default [SERVICE] Grace (5s): Fluent Bit waits for running flushes before it stops, and a flush may take the whole budget"}},
		{"retry_budget_minutes", ddWith(Map{"retry_budget": "1m30s"}), []string{"retry_budget 1m30s is longer than"}},

		// tls_verify off
		{"tls_verify_off", with(Map{"url": "https://loki.example/loki/api/v1/push", "tls_verify": "off"}), []string{
			"tls_verify off: TLS certificates are not verified"}},
		{"tls_verify_on", with(Map{"url": "https://loki.example/loki/api/v1/push", "tls_verify": "on"}), nil},

		// credentials over plain http://
		{"basic_auth_plain_http", with(Map{"url": "http://loki.example:3100/loki/api/v1/push", "http_user": "u", "http_passwd": "S3CRET"}), []string{
			"http_user/http_passwd: credentials go over plain http:// to loki.example"}},
		{"http_passwd_alone_plain_http", with(Map{"url": "http://loki.example/push", "http_passwd": "S3CRET"}), []string{"http_passwd: credentials go over plain http://"}},
		{"url_password_plain_http", with(Map{"url": "http://u:S3CRET@10.0.0.7:3100/loki/api/v1/push"}), []string{"url: credentials go over plain http:// to 10.0.0.7"}},
		{"bearer_token_plain_http", with(Map{"url": "http://loki.example/push", "bearer_token": "S3CRET"}), []string{"bearer_token: credentials go over plain http:// to loki.example"}},
		{"authorization_header_plain_http", with(Map{"url": "http://loki.example/push", "header": "Authorization Bearer S3CRET"}), []string{"header Authorization: credentials go over plain http://"}},
		{"datadog_apikey_plain_http", ddWith(Map{"url": "http://intake.example/api/v2/logs", "apikey": "S3CRET"}), []string{"apikey: credentials go over plain http:// to intake.example"}},
		{"datadog_apikey_file_plain_http", ddWith(Map{"url": "http://intake.example/api/v2/logs", "apikey": "", "apikey_file": writeFile(t, "k", "S3CRET")}), []string{"apikey_file: credentials go over plain http://"}},
		{"plain_http_through_proxy", with(Map{"url": "http://127.0.0.1:3100/push", "bearer_token": "S3CRET", "proxy": "http://proxy.internal:3128"}), []string{"bearer_token: credentials go over plain http:// to 127.0.0.1 through proxy proxy.internal"}},
		{"proxy_password_plain_http", with(Map{"url": "https://loki.example/push", "proxy": "http://u:S3CRET@proxy.internal:3128"}), []string{"proxy: credentials go over plain http:// to proxy.internal"}},
		{"proxy_password_loopback", with(Map{"url": "https://loki.example/push", "proxy": "http://u:S3CRET@127.0.0.1:3128"}), nil},
		{"https_no_warning", with(Map{"url": "https://loki.example/push", "bearer_token": "S3CRET"}), nil},
		{"no_credentials_plain_http", with(Map{"url": "http://loki.example/push", "header": "X-Team platform"}), nil},
		{"loopback_127_8", with(Map{"url": "http://127.1.2.3:3100/push", "bearer_token": "S3CRET"}), nil},
		{"loopback_ipv6", with(Map{"url": "http://[::1]:3100/push", "bearer_token": "S3CRET"}), nil},
		{"loopback_localhost", with(Map{"url": "http://LocalHost:3100/push", "http_user": "u", "http_passwd": "S3CRET"}), nil},
		{"loopback_datadog", ddWith(Map{"url": "http://127.0.0.1:9/api/v2/logs"}), nil},
		{"loopback_through_loopback_proxy", with(Map{"url": "http://127.0.0.1:3100/push", "bearer_token": "S3CRET", "proxy": "http://localhost:3128"}), nil},
		{"not_loopback_lookalike", with(Map{"url": "http://localhost.example.com/push", "bearer_token": "S3CRET"}), []string{"bearer_token: credentials go over plain http:// to localhost.example.com"}},

		// several at once, in a stable order
		{"all", with(Map{"url": "http://loki.example/push", "bearer_token": "S3CRET", "tls_verify": "off", "retry_budget": "10s"}), []string{
			"tls_verify off", "bearer_token: credentials go over plain http://", "retry_budget 10s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Warnings) != len(tt.want) {
				t.Fatalf("warnings %q\nwant %d: %q", c.Warnings, len(tt.want), tt.want)
			}
			for i, w := range c.Warnings {
				if !strings.Contains(w, tt.want[i]) {
					t.Errorf("warning %q\nwant it to contain %q", w, tt.want[i])
				}
				if strings.Contains(w, secret) || strings.ContainsAny(w, "\r\n") {
					t.Errorf("warning shows a secret or spans lines: %q", w)
				}
			}
		})
	}
}
