package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var ddBase = Map{"destination": "datadog", "apikey": "0123456789abcdef"}

func ddWith(keys Map) Map {
	m := Map{}
	for k, v := range ddBase {
		m[k] = v
	}
	for k, v := range keys {
		m[k] = v
	}
	return m
}

func TestDatadogDefaults(t *testing.T) {
	c, err := Parse(ddBase)
	if err != nil {
		t.Fatal(err)
	}
	want := Datadog{APIKey: "0123456789abcdef", Site: "datadoghq.com", Compress: true, MessageKey: "log", TagKey: "tagkey", DateKey: "timestamp"}
	if !reflect.DeepEqual(c.Datadog, want) {
		t.Errorf("Datadog = %+v\nwant %+v", c.Datadog, want)
	}
	if c.URL != "https://http-intake.logs.datadoghq.com/api/v2/logs" {
		t.Errorf("URL = %s", c.URL)
	}
	if !c.KubernetesMetadata || c.KubeTagPrefix != "kube.var.log.containers." || c.BatchSize != 1<<20 {
		t.Errorf("common defaults: %+v", c)
	}
}

func TestDatadogValues(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "apikey")
	if err := os.WriteFile(keyFile, []byte("  from-a-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		keys  Map
		check func(t *testing.T, c *Config)
	}{
		{"site_picks_intake", Map{"site": "datadoghq.eu"}, func(t *testing.T, c *Config) {
			if c.URL != "https://http-intake.logs.datadoghq.eu/api/v2/logs" {
				t.Errorf("URL = %s", c.URL)
			}
		}},
		{"gov_site", Map{"site": "DDOG-GOV.COM"}, func(t *testing.T, c *Config) {
			if c.URL != "https://http-intake.logs.ddog-gov.com/api/v2/logs" {
				t.Errorf("URL = %s", c.URL)
			}
		}},
		{"url_overrides_site", Map{"url": "http://127.0.0.1:9/api/v2/logs", "site": "datadoghq.eu"}, func(t *testing.T, c *Config) {
			if c.URL != "http://127.0.0.1:9/api/v2/logs" {
				t.Errorf("URL = %s", c.URL)
			}
		}},
		{"apikey_file_trimmed", Map{"apikey": "", "apikey_file": keyFile}, func(t *testing.T, c *Config) {
			if c.Datadog.APIKey != "from-a-secret" {
				t.Errorf("APIKey = %q", c.Datadog.APIKey)
			}
		}},
		{"fluent_bit_keys", Map{"dd_service": "svc", "dd_source": "src", "dd_tags": "env:prod, team:core", "dd_hostname": "h",
			"dd_message_key": "msg", "include_tag_key": "true", "tag_key": "fluent_tag", "json_date_key": "false", "compress": "off", "provider": "ecs"},
			func(t *testing.T, c *Config) {
				d := c.Datadog
				if d.Service != "svc" || d.Source != "src" || !reflect.DeepEqual(d.Tags, []string{"env:prod", "team:core"}) || d.Hostname != "h" ||
					d.MessageKey != "msg" || !d.IncludeTagKey || d.TagKey != "fluent_tag" || d.DateKey != "" || d.Compress {
					t.Errorf("Datadog = %+v", d)
				}
			}},
		{"pod_labels_as_tags", Map{"pod_labels_as_tags": "team:team, app.kubernetes.io/part-of:system"}, func(t *testing.T, c *Config) {
			want := map[string]string{"team": "team", "app.kubernetes.io/part-of": "system"}
			if !reflect.DeepEqual(c.Datadog.LabelsAsTags, want) {
				t.Errorf("LabelsAsTags = %v", c.Datadog.LabelsAsTags)
			}
		}},
		{"proxy", Map{"proxy": "http://proxy.internal:3128"}, func(t *testing.T, c *Config) {
			if c.Proxy != "http://proxy.internal:3128" {
				t.Errorf("Proxy = %q", c.Proxy)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(ddWith(tt.keys))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestDatadogErrors(t *testing.T) {
	tests := []struct {
		name string
		keys Map
		want string
	}{
		{"apikey_missing", Map{"apikey": ""}, "apikey: required with destination datadog"},
		{"apikey_file_missing", Map{"apikey": "", "apikey_file": "/nonexistent/key"}, `apikey_file: cannot read "/nonexistent/key"`},
		{"apikey_twice", Map{"apikey_file": "/dev/null"}, "apikey and apikey_file: set only one"},
		{"site", Map{"site": "datadoghq.co"}, `site: invalid value "datadoghq.co": want datadoghq.com, us3.datadoghq.com`},
		{"compress", Map{"compress": "zstd"}, `compress: invalid value "zstd": want gzip or off`},
		{"provider", Map{"provider": "gke"}, `provider: invalid value "gke"`},
		{"label_tag_pair", Map{"pod_labels_as_tags": "team"}, `pod_labels_as_tags: invalid entry "team": want label:tag`},
		{"loki_key_in_datadog", Map{"labels": "a=b"}, "labels: applies to destination loki, but this output's destination is datadog"},
		{"loki_alias_in_datadog", Map{"LineFormat": "json"}, "LineFormat: applies to destination loki"},
		{"proxy", Map{"proxy": "proxy:3128"}, `proxy: invalid value "proxy:3128": want an http or https URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(ddWith(tt.keys))
			if err == nil {
				t.Fatalf("accepted %v", tt.keys)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), ddBase["apikey"]) {
				t.Errorf("API key in error: %q", err)
			}
		})
	}
	// And the reverse: a Datadog key in a Loki output.
	if _, err := Parse(with(Map{"apikey": "k"})); err == nil || !strings.Contains(err.Error(), "apikey: applies to destination datadog") {
		t.Errorf("apikey in a Loki output: %v", err)
	}
}
