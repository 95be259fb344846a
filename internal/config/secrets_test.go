package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secret marks the secret part of every value below: it must never reach an
// error or a warning.
const secret = "S3CRET"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Every key that may hold a secret (url, proxy, header, http_passwd,
// bearer_token, apikey and the contents of apikey_file), set to values that
// Parse refuses: the error names the key and never shows the secret.
func TestRejectedSecretsAreNotPrinted(t *testing.T) {
	twoLineKey := writeFile(t, "two-lines", "S3CRET\nsecond line\n")
	nulKey := writeFile(t, "nul", "S3CRET\x00")
	spaceKey := writeFile(t, "space", "S3CRET key")
	tests := []struct {
		name    string
		keys    Map
		wantKey string
	}{
		// url: unparsable values are not shown at all; parsable ones without userinfo and query.
		{"url_password_with_hash", with(Map{"url": "http://user:S3CRET#x@loki:3100/loki/api/v1/push"}), "url"},
		{"url_password_with_percent", with(Map{"url": "http://user:S3CRET%zz@loki:3100/loki/api/v1/push"}), "url"},
		{"url_password_with_lone_percent", with(Map{"url": "http://user:S3CRET%@loki:3100/loki/api/v1/push"}), "url"},
		{"url_password_with_slash", with(Map{"url": "http://user:S3/S3CRET@loki:3100/loki/api/v1/push"}), "url"},
		{"url_password_with_space", with(Map{"url": "http://user:S3CRET x@loki:3100/loki/api/v1/push"}), "url"},
		{"url_password_without_host", with(Map{"url": "http://user:S3CRET/loki/api/v1/push"}), "url"},
		{"url_password_with_colon_and_hash", with(Map{"url": "http://user:S3CRET:#@loki:3100/loki/api/v1/push"}), "url"},
		{"url_password_with_slash_parsing_as_path", with(Map{"url": "http://user:1234/S3CRET@loki:3100/loki/api/v1/push"}), "url"},
		{"url_password_with_question_mark_parsing_as_query", with(Map{"url": "http://user:1234?S3CRET@loki:3100/loki/api/v1/push"}), "url"},
		{"url_control_character", with(Map{"url": "http://user:S3CRET@loki:3100/\x01push"}), "url"},
		{"url_without_scheme", with(Map{"url": "user:S3CRET@loki:3100/loki/api/v1/push"}), "url"},
		{"url_wrong_scheme_password", with(Map{"url": "ftp://user:S3CRET@loki/push"}), "url"},
		{"url_wrong_scheme_query", with(Map{"url": "ftp://loki/push?token=S3CRET"}), "url"},
		{"url_no_host_query", with(Map{"url": "http:///api/v2/logs?dd-api-key=S3CRET"}), "url"},
		{"url_grafana_spelling", with(Map{"Url": "http://user:S3CRET#@loki/push"}), "url"},
		{"url_datadog", ddWith(Map{"url": "https://user:S3CRET%@intake.internal/api/v2/logs"}), "url"},
		{"url_userinfo_and_bearer_token", with(Map{"url": "https://user:S3CRET@loki/push", "bearer_token": "tok"}), "url"},
		// proxy
		{"proxy_socks5_password", with(Map{"proxy": "socks5://user:S3CRET@proxy:1080"}), "proxy"},
		{"proxy_without_scheme", with(Map{"proxy": "user:S3CRET@proxy:3128"}), "proxy"},
		{"proxy_password_with_percent", with(Map{"proxy": "http://user:S3CRET%@proxy:3128"}), "proxy"},
		{"proxy_password_with_hash_parsing_as_host", with(Map{"proxy": "socks5://u:S3CRET:#@proxy:1080"}), "proxy"}, // found by FuzzParse
		{"proxy_password_with_slash_parsing_as_path", with(Map{"proxy": "http://u:3128/S3CRET@proxy:3128"}), "proxy"},
		{"proxy_password_with_hash", ddWith(Map{"proxy": "http://user:S3CRET#@proxy:3128"}), "proxy"},
		{"proxy_wrong_scheme_query", with(Map{"proxy": "ftp://proxy:3128/?token=S3CRET"}), "proxy"},
		{"proxy_no_host", with(Map{"proxy": "http://:S3CRET@/"}), "proxy"},
		// header: a name may be shown, a value never
		{"header_colon_form", with(Map{"header": "Authorization: Bearer S3CRET"}), "header"},
		{"header_colon_without_space", with(Map{"header": "X-Api-Key:S3CRET"}), "header"},
		{"header_equals_form", with(Map{"header": "X-Api-Key=S3CRET"}), "header"},
		{"header_value_only", with(Map{"header": "S3CRET"}), "header"},
		{"header_value_crlf", with(Map{"header": "X-Api-Key S3CRET\r\nX-Other: 1"}), "header"},
		{"header_value_nul", with(Map{"header": "X-Api-Key S3CRET\x00"}), "header"},
		{"header_value_del", ddWith(Map{"header": "X-Api-Key S3CRET\x7f"}), "header"},
		{"header_authorization_and_bearer_token", with(Map{"header": "Authorization Bearer S3CRET", "bearer_token": "tok"}), "header"},
		{"header_dd_api_key_and_apikey", ddWith(Map{"header": "DD-API-KEY S3CRET"}), "header"},
		// http_passwd
		{"http_passwd_and_bearer_token", with(Map{"http_passwd": "S3CRET", "bearer_token": "tok"}), "http_passwd"},
		{"http_passwd_and_url_password", with(Map{"http_passwd": "S3CRET", "url": "https://u:p@loki/push"}), "http_passwd"},
		{"http_passwd_and_authorization_header", with(Map{"http_passwd": "S3CRET", "header": "Authorization Basic dTpw"}), "http_passwd"},
		{"http_passwd_in_datadog", ddWith(Map{"http_passwd": "S3CRET"}), "http_passwd"},
		{"http_passwd_typo", with(Map{"http_paswd": "S3CRET"}), "http_paswd"},
		// bearer_token
		{"bearer_token_with_prefix", with(Map{"bearer_token": "Bearer S3CRET"}), "bearer_token"},
		{"bearer_token_crlf", with(Map{"bearer_token": "S3CRET\r\nX-Other: 1"}), "bearer_token"},
		{"bearer_token_nul", with(Map{"bearer_token": "S3CRET\x00"}), "bearer_token"},
		{"bearer_token_and_http_user", with(Map{"bearer_token": "S3CRET", "http_user": "u"}), "bearer_token"},
		{"bearer_token_in_datadog", ddWith(Map{"bearer_token": "S3CRET"}), "bearer_token"},
		{"bearer_token_typo", with(Map{"bearer_tokn": "S3CRET"}), "bearer_tokn"},
		// apikey and apikey_file
		{"apikey_control_character", ddWith(Map{"apikey": "S3CRET\x01"}), "apikey"},
		{"apikey_space", ddWith(Map{"apikey": "S3CRET key"}), "apikey"},
		{"apikey_in_loki", with(Map{"apikey": "S3CRET"}), "apikey"},
		{"apikey_and_apikey_file", ddWith(Map{"apikey": "S3CRET", "apikey_file": "/dev/null"}), "apikey"},
		{"apikey_file_two_lines", ddWith(Map{"apikey": "", "apikey_file": twoLineKey}), "apikey_file"},
		{"apikey_file_nul", ddWith(Map{"apikey": "", "apikey_file": nulKey}), "apikey_file"},
		{"apikey_file_space", ddWith(Map{"apikey": "", "apikey_file": spaceKey}), "apikey_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.keys)
			if err == nil {
				t.Fatalf("accepted %q", tt.keys)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret: %q", err)
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error %q does not name %s", err, tt.wantKey)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// The URL in the start-up log line shows scheme, host and path: never the
// userinfo, never the query (which may hold ?dd-api-key= or ?token=).
func TestRedactURLShowsNeitherUserinfoNorQuery(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"plain", "http://loki.monitoring:3100/loki/api/v1/push", "http://loki.monitoring:3100/loki/api/v1/push"},
		{"password", "https://user:S3CRET@loki.example/loki/api/v1/push", "https://loki.example/loki/api/v1/push"},
		{"user_only", "https://S3CRET@loki.example/loki/api/v1/push", "https://loki.example/loki/api/v1/push"},
		{"query_api_key", "https://intake.example/api/v2/logs?dd-api-key=S3CRET", "https://intake.example/api/v2/logs?…"},
		{"query_token_and_password", "https://u:S3CRET@loki/push?token=S3CRET", "https://loki/push?…"},
		{"fragment", "http://loki/push#S3CRET", "http://loki/push"},
		{"no_scheme_host_port", "loki:3100/push", "loki:3100/push"},
		{"no_scheme_userinfo", "user:S3CRET@loki:3100/push", "user:…"},
		{"no_scheme_user_password", "user:S3CRET", "user:…"},
		{"no_scheme_query", "loki:3100?token=S3CRET", "loki:3100?…"},
		{"ipv6", "http://[::1]:3100/push", "http://[::1]:3100/push"},
		{"escaped_path", "http://loki/a%2Fb", "http://loki/a%2Fb"},
		{"unparsable", "http://user:S3CRET%@loki/push", "(invalid URL)"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactURL(tt.url); got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}
