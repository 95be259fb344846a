package config

import (
	"strings"
	"testing"
)

// Two settings that both set Authorization (or DD-API-KEY) would race per
// request; start-up refuses them in one line naming both keys.
func TestConflictingCredentialsNameBothKeys(t *testing.T) {
	keyFile := writeFile(t, "apikey", "0123456789abcdef\n")
	tests := []struct {
		name string
		keys Map
		want []string // each must appear
	}{
		{"authorization_header_and_bearer_token", with(Map{"header": "Authorization Bearer a", "bearer_token": "b"}), []string{"header Authorization", "bearer_token"}},
		{"authorization_header_lower_case_and_http_user", with(Map{"header": "authorization Basic dTpw", "http_user": "u"}), []string{"header authorization", "http_user"}},
		{"authorization_header_and_http_passwd", with(Map{"header": "AUTHORIZATION Basic dTpw", "http_passwd": "p"}), []string{"header AUTHORIZATION", "http_passwd"}},
		{"authorization_header_and_url_password", with(Map{"header": "Authorization Bearer a", "url": "https://u:p@loki/push"}), []string{"header Authorization", "url"}},
		{"authorization_header_and_url_password_datadog", ddWith(Map{"header": "Authorization Bearer a", "url": "https://u:p@intake/api/v2/logs"}), []string{"header Authorization", "url"}},
		{"dd_api_key_header_and_apikey", ddWith(Map{"header": "DD-API-KEY x"}), []string{"header DD-API-KEY", "apikey"}},
		{"dd_api_key_header_and_apikey_file", ddWith(Map{"header": "dd-api-key x", "apikey": "", "apikey_file": keyFile}), []string{"header dd-api-key", "apikey_file"}},
		{"url_password_and_bearer_token", with(Map{"url": "https://u:p@loki/push", "bearer_token": "b"}), []string{"url", "bearer_token"}},
		{"url_user_only_and_bearer_token", with(Map{"url": "https://u@loki/push", "bearer_token": "b"}), []string{"url", "bearer_token"}},
		{"url_password_and_http_user", with(Map{"url": "https://u:p@loki/push", "http_user": "u"}), []string{"url", "http_user"}},
		{"url_password_and_http_passwd", with(Map{"Url": "https://u:p@loki/push", "http_passwd": "p"}), []string{"url", "http_passwd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.keys)
			if err == nil {
				t.Fatalf("accepted %q", tt.keys)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// A size whose number times its unit overflows is refused, not wrapped
// around to a small size.
func TestSizeOverflowRefused(t *testing.T) {
	tests := []struct {
		name string
		keys Map
		want string
	}{
		{"batch_size_K_wraps_to_2KB", Map{"batch_size": "18014398509481986K"}, `batch_size: invalid value "18014398509481986K": want a size from 1KB to 5MB`},
		{"batch_size_KB_wraps_to_1MB", Map{"BatchSize": "18014398509483008KB"}, `BatchSize: invalid value "18014398509483008KB": want a size`},
		{"batch_size_M_wraps_to_1MB", Map{"batch_size": "17592186044417M"}, `batch_size: invalid value "17592186044417M": want a size`},
		{"max_line_size_K_wraps_to_1KB", Map{"max_line_size": "18014398509481985K"}, `max_line_size: invalid value "18014398509481985K": want a size`},
		{"max_line_size_G_wraps_to_1GB", Map{"max_line_size": "17179869185G"}, `max_line_size: invalid value "17179869185G": want a size`},
		{"max_line_size_beyond_int64", Map{"max_line_size": "99999999999999999999"}, `max_line_size: invalid value "99999999999999999999": want a size`},
		{"timeout_huge_seconds", Map{"timeout": "9223372036854775807"}, `timeout: invalid value "9223372036854775807": want a duration`},
		{"timeout_exponent", Map{"timeout": "1e300"}, `timeout: invalid value "1e300": want a duration`},
		{"timeout_nan", Map{"timeout": "NaN"}, `timeout: invalid value "NaN": want a duration`},
		{"retry_budget_inf", Map{"retry_budget": "+Inf"}, `retry_budget: invalid value "+Inf": want a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(with(tt.keys))
			if err == nil {
				t.Fatalf("accepted %q: batch_size %d, max_line_size %d, timeout %s, retry_budget %s", tt.keys, c.BatchSize, c.Loki.MaxLineSize, c.Timeout, c.RetryBudget)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// label_map_path maps record keys to label names; a name that is empty or
// sanitizes to nothing (no letter or digit) is refused, naming the path in the file.
func TestLabelMapEmptyLabelNameRefused(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"empty", `{"kubernetes":{"pod_name":""}}`, `kubernetes.pod_name: empty label name: want a name such as "pod"`},
		{"blank", `{"stream":"  "}`, `stream: empty label name`},
		{"only_punctuation", `{"kubernetes":{"labels":{"app":"-.-"}}}`, `kubernetes.labels.app: label name "-.-" has no letter or digit`},
		{"only_underscores", `{"a":"__"}`, `a: label name "__" has no letter or digit`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := writeFile(t, "map.json", tt.json)
			_, err := Parse(with(Map{"label_map_path": f}))
			if err == nil {
				t.Fatalf("accepted %s", tt.json)
			}
			if want := "label_map_path: " + f + ": " + tt.want; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nwant it to contain %q", err, want)
			}
		})
	}
}
