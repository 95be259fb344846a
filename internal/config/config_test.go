package config

import (
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// base is the one key every config needs.
var base = Map{"url": "http://127.0.0.1:3100/loki/api/v1/push"}

// with returns base plus keys.
func with(keys Map) Map {
	m := Map{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range keys {
		if strings.EqualFold(k, "url") {
			delete(m, "url")
		}
		m[k] = v
	}
	return m
}

func TestDefaults(t *testing.T) {
	c, err := Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "http://127.0.0.1:3100/loki/api/v1/push" {
		t.Errorf("URL = %s", c.URL)
	}
	if !c.KubernetesMetadata || c.Loki.AutoKubernetesLabels || c.Loki.DropSingleKey != DropRaw || c.Loki.LineFormatKV {
		t.Errorf("mapping defaults: %+v", c)
	}
	if c.BatchSize != 1<<20 || c.Loki.MaxLineSize != 256<<10 || c.Timeout != 10*time.Second || c.RetryBudget != 4*time.Second {
		t.Errorf("limits: batch %d line %d timeout %s budget %s", c.BatchSize, c.Loki.MaxLineSize, c.Timeout, c.RetryBudget)
	}
	if !c.TLS.Verify {
		t.Errorf("TLS defaults: %+v", c.TLS)
	}
	if !c.AutoMultiline {
		t.Error("auto_multiline is off by default")
	}
}

func TestParseValues(t *testing.T) {
	dir := t.TempDir()
	mapFile := filepath.Join(dir, "map.json")
	if err := os.WriteFile(mapFile, []byte(`{"kubernetes":{"pod_name":"pod","labels":{"team":"team"}},"stream":"stream"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		keys  Map
		check func(t *testing.T, c *Config)
	}{
		{"grafana_url_spelling", Map{"Url": "https://user:secret@loki.example/loki/api/v1/push"}, func(t *testing.T, c *Config) {
			if c.URL != "https://user:secret@loki.example/loki/api/v1/push" {
				t.Errorf("URL = %s", c.URL)
			}
		}},
		{"auto_multiline_off", Map{"auto_multiline": "off"}, func(t *testing.T, c *Config) {
			if c.AutoMultiline {
				t.Error("auto_multiline off is on")
			}
		}},
		{"tls_keys", Map{"tls_verify": "off", "tls_ca_file": "/dev/null"}, func(t *testing.T, c *Config) {
			if c.TLS.Verify || c.TLS.CAFile != "/dev/null" {
				t.Errorf("TLS = %+v", c.TLS)
			}
		}},
		{"labels_fluent_bit_form", Map{"labels": "job=fluent-bit, $kubernetes['labels']['app'], team=$kubernetes['labels']['team']"}, func(t *testing.T, c *Config) {
			want := []string{"job=fluent-bit", "kubernetes_labels_app<$kubernetes['labels']['app']", "team<$kubernetes['labels']['team']"}
			if got := describe(c.Loki.Labels); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("labels = %v, want %v", got, want)
			}
		}},
		{"labels_grafana_form", Map{"Labels": `{job="fluent-bit", env="a,b"}`}, func(t *testing.T, c *Config) {
			if got := strings.Join(describe(c.Loki.Labels), " "); got != "job=fluent-bit env=a,b" {
				t.Errorf("labels = %s", got)
			}
		}},
		{"label_keys_bare_and_accessor", Map{"LabelKeys": "stream,$kubernetes['host']"}, func(t *testing.T, c *Config) {
			if got := strings.Join(describe(c.Loki.Labels), " "); got != "stream<$stream kubernetes_host<$kubernetes['host']" {
				t.Errorf("labels = %s", got)
			}
		}},
		{"label_map_path", Map{"label_map_path": mapFile}, func(t *testing.T, c *Config) {
			if got := strings.Join(describe(c.Loki.Labels), " "); got != "team<$kubernetes['labels']['team'] pod<$kubernetes['pod_name'] stream<$stream" {
				t.Errorf("labels = %s", got)
			}
		}},
		{"structured_metadata", Map{"structured_metadata": "pod=$kubernetes['pod_name'],cluster=prod", "structured_metadata_map_keys": "$kubernetes['labels']"}, func(t *testing.T, c *Config) {
			if got := strings.Join(describe(c.Loki.StructuredMetadata), " "); got != "pod<$kubernetes['pod_name'] cluster=prod" {
				t.Errorf("structured metadata = %s", got)
			}
			if len(c.Loki.StructuredMetadataMapKeys) != 1 {
				t.Errorf("map keys = %v", c.Loki.StructuredMetadataMapKeys)
			}
		}},
		{"drop_single_key_on", Map{"drop_single_key": "on", "line_format": "key_value"}, func(t *testing.T, c *Config) {
			if c.Loki.DropSingleKey != DropOn || !c.Loki.LineFormatKV {
				t.Errorf("%v %v", c.Loki.DropSingleKey, c.Loki.LineFormatKV)
			}
		}},
		{"grafana_aliases", Map{"TenantID": "t1", "BatchSize": "524288", "DropSingleKey": "false", "LineFormat": "json", "RemoveKeys": "a,b", "AutoKubernetesLabels": "true"}, func(t *testing.T, c *Config) {
			if c.Loki.TenantID != "t1" || c.BatchSize != 512<<10 || c.Loki.DropSingleKey != DropOff || len(c.Loki.RemoveKeys) != 2 || !c.Loki.AutoKubernetesLabels {
				t.Errorf("%+v", c)
			}
		}},
		{"sizes_and_durations", Map{"batch_size": "2MB", "max_line_size": "0", "timeout": "2", "retry_budget": "1m30s"}, func(t *testing.T, c *Config) {
			if c.BatchSize != 2<<20 || c.Loki.MaxLineSize != 0 || c.Timeout != 2*time.Second || c.RetryBudget != 90*time.Second {
				t.Errorf("%d %d %s %s", c.BatchSize, c.Loki.MaxLineSize, c.Timeout, c.RetryBudget)
			}
		}},
		{"header", Map{"header": "X-Team  platform team"}, func(t *testing.T, c *Config) {
			if c.Header != [2]string{"X-Team", "platform team"} {
				t.Errorf("header = %q", c.Header)
			}
		}},
		{"tenant_id_key", Map{"tenant_id_key": "$kubernetes['namespace_name']"}, func(t *testing.T, c *Config) {
			if c.Loki.TenantIDKey == nil || c.Loki.TenantIDKey.String() != "$kubernetes['namespace_name']" {
				t.Errorf("tenant_id_key = %v", c.Loki.TenantIDKey)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(with(tt.keys))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func describe(fs []Field) []string {
	var out []string
	for _, f := range fs {
		if f.Path != nil {
			out = append(out, f.Name+"<"+f.Path.String())
		} else {
			out = append(out, f.Name+"="+f.Static)
		}
	}
	return out
}

func TestParseErrorsNameKeyValueAndWhatIsAccepted(t *testing.T) {
	tests := []struct {
		name string
		keys Map
		want string
	}{
		{"destination", Map{"destination": "splunk"}, `destination: invalid value "splunk": want loki`},
		{"url_missing", Map{"url": ""}, `url: required, e.g. http://loki.monitoring:3100/loki/api/v1/push (Fluent Bit keeps host, port and tls for itself`},
		{"url_scheme", Map{"url": "ftp://x/y"}, `url: invalid value "ftp://x/y": want an http or https URL`},
		{"url_password_hidden", Map{"url": "ftp://u:hunter2@x/y?token=t"}, `url: invalid value "ftp://x/y?…"`},
		{"bool", Map{"tls_verify": "maybe"}, `tls_verify: invalid value "maybe": want on or off`},
		{"drop_single_key", Map{"drop_single_key": "sometimes"}, `drop_single_key: invalid value "sometimes": want on, off or raw`},
		{"line_format", Map{"line_format": "xml"}, `line_format: invalid value "xml": want json or key_value`},
		{"batch_size_too_big", Map{"batch_size": "10MB"}, `batch_size: invalid value "10MB": want a size from 1KB to 5MB`},
		{"batch_size_garbage", Map{"BatchSize": "lots"}, `BatchSize: invalid value "lots": want a size`},
		{"timeout", Map{"timeout": "-1s"}, `timeout: invalid value "-1s": want a duration`},
		{"labels_entry", Map{"labels": "job"}, `labels: invalid entry "job": want name=value`},
		{"labels_accessor", Map{"labels": "app=$kubernetes['labels'"}, `labels: record accessor "$kubernetes['labels'": missing ']'`},
		{"label_keys_digit", Map{"label_keys": "$1x"}, `label_keys: record accessor "$1x": key name cannot start with a digit`},
		{"grafana_labels", Map{"labels": `{job="x", broken}`}, `labels: invalid value`},
		{"remove_keys_index", Map{"remove_keys": "$a[0]"}, `remove_keys: "$a[0]": only map keys can be removed`},
		{"missing_ca_file", Map{"tls_ca_file": "/nonexistent/ca.pem"}, `tls_ca_file: cannot read "/nonexistent/ca.pem"`},
		{"cert_without_key", Map{"tls_crt_file": "/dev/null"}, `tls_crt_file and tls_key_file: set both or neither`},
		{"alias_and_name", Map{"tenant_id": "a", "TenantID": "b"}, `tenant_id and TenantID mean the same: set only one`},
		{"two_auth_kinds", Map{"bearer_token": "t", "http_user": "u"}, `bearer_token and http_user/http_passwd: set one kind`},
		{"header", Map{"header": "X-Only-Name"}, `header: a name without a value: want "Name value", e.g. "X-Team platform"`},
		{"typo_separator", Map{"tls-verify": "off"}, `unknown key "tls-verify": did you mean "tls_verify"?`},
		{"typo_letters", Map{"lable_keys": "$a"}, `unknown key "lable_keys": did you mean "label_keys"?`},
		{"typo_missing_letter", Map{"tenant_i": "x"}, `unknown key "tenant_i": did you mean "tenant_id"?`},
		{"label_map_not_json", Map{"label_map_path": "/dev/null"}, `label_map_path: /dev/null: want a JSON object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(with(tt.keys))
			if err == nil {
				t.Fatalf("accepted %v", tt.keys)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestSecretsAreNotEchoed(t *testing.T) {
	// Whatever check calls bad() on a secret key, the value stays hidden
	// (TestRejectedSecretsAreNotPrinted covers the checks themselves).
	r := reader{g: Map{"http_passwd": "hunter2", "header": "X-Key hunter2", "url": "https://u:hunter2@loki/p?t=hunter2", "proxy": "http://u:hunter2%@p"}}
	for _, k := range []string{"http_passwd", "header", "url", "proxy"} {
		if err := r.bad(k, "x"); strings.Contains(err.Error(), "hunter2") {
			t.Errorf("secret in error: %v", err)
		}
	}
}

func TestEditsFindsNearMisses(t *testing.T) {
	e := edits("port")
	for _, want := range []string{"prt", "pprt", "oprt", "portt", "pott"} {
		found := false
		for _, x := range e {
			found = found || x == want
		}
		if !found {
			t.Errorf("edits(port) lacks %q", want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("labels", "job=a,$b['c']")
	f.Add("batch_size", "1MB")
	f.Add("Labels", `{a="b"}`)
	f.Add("label_keys", "$a[0]")
	f.Add("url", "%")
	f.Add("header", ":x")
	f.Fuzz(func(t *testing.T, key, value string) {
		c, err := Parse(with(Map{key: value}))
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error: %q", err)
		}
		if err == nil && strings.Contains(strings.Join(c.Warnings, ""), "\n") {
			t.Fatalf("multi-line warning: %q", c.Warnings)
		}

		// Whatever surrounds a secret, an error or warning never shows it.
		// The key's length picks where the secret goes.
		if strings.Contains(lenientUnescape(value), secret) {
			return // the value itself may name a host or path S3CRET
		}
		keys := secretPlaces[len(key)%len(secretPlaces)](value)
		c, err = Parse(keys)
		var text string
		if err != nil {
			text = err.Error()
		} else {
			text = strings.Join(c.Warnings, "\n")
		}
		if strings.Contains(text, secret) {
			t.Fatalf("%q: secret shown: %q", keys, text)
		}
	})
}

// secretPlaces put the secret S3CRET, followed by v, where a secret goes.
var secretPlaces = []func(v string) Map{
	func(v string) Map { return with(Map{"url": "http://u:S3CRET" + v + "@loki:3100/loki/api/v1/push"}) },
	func(v string) Map { return with(Map{"url": "https://loki/push?token=S3CRET" + v}) },
	func(v string) Map { return ddWith(Map{"url": "http://u:S3CRET" + v + "@intake/api/v2/logs"}) },
	func(v string) Map { return with(Map{"proxy": "http://u:S3CRET" + v + "@proxy:3128"}) },
	func(v string) Map { return with(Map{"proxy": "socks5://u:S3CRET" + v + "@proxy:1080"}) },
	func(v string) Map { return with(Map{"header": "X-Key S3CRET" + v}) },
	func(v string) Map { return with(Map{"header": "Authorization:S3CRET" + v}) },
	func(v string) Map { return with(Map{"bearer_token": "S3CRET" + v}) },
	func(v string) Map { return with(Map{"http_passwd": "S3CRET" + v, "bearer_token": "t"}) },
	func(v string) Map { return ddWith(Map{"apikey": "S3CRET" + v}) },
}

// lenientUnescape decodes the valid %XX escapes of s, as url.Parse does in
// a host.
func lenientUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(n))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// batch_wait turns group commit on; grafana-loki's BatchWait, which
// acknowledged before sending, is accepted and ignored, with a note.
func TestBatchWait(t *testing.T) {
	for _, tt := range []struct {
		keys Map
		want time.Duration
		note bool
		err  string
	}{
		{Map{}, 0, false, ""},
		{Map{"batch_wait": "200ms"}, 200 * time.Millisecond, false, ""},
		{Map{"batch_wait": "0"}, 0, false, ""},
		{Map{"BatchWait": "1s"}, 0, true, ""},
		{Map{"batch_wait": "soon"}, 0, false, "batch_wait: invalid value"},
	} {
		keys := Map{"url": "http://127.0.0.1:3100/loki/api/v1/push"}
		maps.Copy(keys, tt.keys)
		c, err := Parse(keys)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: error %v, want %q", tt.keys, err, tt.err)
			}
			continue
		}
		if err != nil || c.BatchWait != tt.want || (len(c.Notes) > 0) != tt.note {
			t.Errorf("%v: %v, notes %q, err %v; want %v, note %v", tt.keys, c.BatchWait, c.Notes, err, tt.want, tt.note)
		}
	}
}
