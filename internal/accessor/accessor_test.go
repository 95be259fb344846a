package accessor

import (
	"strings"
	"testing"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/tinylib/msgp/msgp"
)

func body(t testing.TB) []byte {
	t.Helper()
	b, err := msgp.AppendIntf(nil, map[string]any{
		"log": "hello",
		"kubernetes": map[string]any{
			"pod_name": "web-1",
			"labels":   map[string]any{"app": "web", "app.kubernetes.io/name": "shop"},
		},
		"list": []any{"a", int64(7)},
		"n":    int64(42),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseAndAppendValue(t *testing.T) {
	tests := []struct {
		pattern, tag string
		want         string
		found        bool
		name         string
	}{
		{"$log", "", "hello", true, "log"},
		{"$kubernetes['pod_name']", "", "web-1", true, "kubernetes_pod_name"},
		{`$kubernetes["labels"]["app"]`, "", "web", true, "kubernetes_labels_app"},
		{"$kubernetes['labels']['app.kubernetes.io/name']", "", "shop", true, "kubernetes_labels_app.kubernetes.io/name"},
		{"$list[1]", "", "7", true, "list_1"},
		{"$list[5]", "", "", false, "list_5"},
		{"$n", "", "42", true, "n"},
		{"$missing", "", "", false, "missing"},
		{"$kubernetes['missing']['deeper']", "", "", false, "kubernetes_missing_deeper"},
		{"$TAG", "kube.var.log", "kube.var.log", true, "TAG"},
		{"$TAG[1]", "kube.var.log", "var", true, "TAG_1"},
		{"$TAG[3]", "kube.var.log", "", false, "TAG_3"},
	}
	b := body(t)
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := Parse(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.AppendValue(nil, tt.tag, b)
			if ok != tt.found || string(got) != tt.want {
				t.Errorf("AppendValue = %q, %v; want %q, %v", got, ok, tt.want, tt.found)
			}
			if p.Name() != tt.name {
				t.Errorf("Name = %q, want %q", p.Name(), tt.name)
			}
			if p.String() != tt.pattern {
				t.Errorf("String = %q", p.String())
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{"", "$", "log", "$1abc", "$a[", "$a['b'", "$a['b'x]", "$a[-1]", "$a[x]", "$a['']", "$TAG['x']", "$TAG[1][2]", "$a]"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		} else if !strings.Contains(err.Error(), "record accessor") {
			t.Errorf("Parse(%q) error %q does not say what it is", bad, err)
		}
	}
}

func TestKeyAcceptsBareNames(t *testing.T) {
	p, err := Key("log")
	if err != nil || p.String() != "$log" {
		t.Fatalf("Key(log) = %v, %v", p, err)
	}
	keys, ok := p.Keys()
	if !ok || len(keys) != 1 || keys[0] != "log" {
		t.Errorf("Keys = %v, %v", keys, ok)
	}
	idx, _ := Parse("$a[0]")
	if _, ok := idx.Keys(); ok {
		t.Error("Keys of an indexed path reported ok")
	}
}

func TestQuotedKeyMayHoldBracket(t *testing.T) {
	p, err := Parse("$a['x]y']")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := msgp.AppendIntf(nil, map[string]any{"a": map[string]any{"x]y": "v"}})
	if got, ok := p.AppendValue(nil, "", b); !ok || string(got) != "v" {
		t.Errorf("got %q %v", got, ok)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"$log", "$a['b']['c']", `$a["b"][0]`, "$TAG[2]", "$a['x]y']", "$"} {
		f.Add(s)
	}
	b := body(f)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("String() = %q, want %q", p.String(), s)
		}
		_ = p.Name()
		_, _ = p.AppendValue(nil, "a.b.c", b)
	})
}

// A pod controls every byte of its line, and with the kubernetes filter's
// Merge_Log On a JSON line's fields become top-level keys: a lookup reads
// the copy Fluent Bit wrote, never one the line added (the tenant, labels
// and structured metadata of Loki all come through here).
func TestLookupReadsWhatFluentBitWrote(t *testing.T) {
	filterK8s := eventtest.Ordered("pod_name", "web-1", "namespace_name", "shop",
		"labels", eventtest.Ordered("app", "web", "team", "a", "team", "b"), "docker_id", "aaa")
	lineK8s := eventtest.Ordered("namespace_name", "payments", "labels", eventtest.Ordered("app", "evil"))
	// The CRI parser's keys, the line's fields, the filter's map last.
	merged := func(line ...any) []byte {
		kv := append([]any{"stream", "stdout", "logtag", "F", "time", "2026-11-22T10:00:00Z"}, line...)
		return eventtest.Ordered(append(kv, "kubernetes", filterK8s)...)
	}
	tests := []struct {
		name, pattern string
		body          []byte
		want          string
		found         bool
	}{
		{"tenant_from_the_filters_map_not_a_line_map_before_it", "$kubernetes['namespace_name']",
			merged("kubernetes", lineK8s, "log", "x"), "shop", true},
		{"tenant_not_hidden_by_a_line_non_map_before_it", "$kubernetes['namespace_name']",
			merged("kubernetes", 0), "shop", true},
		{"tenant_not_hidden_by_a_non_map_after_it", "$kubernetes['namespace_name']",
			eventtest.Ordered("log", "x", "kubernetes", filterK8s, "kubernetes", 0), "shop", true},
		{"label_from_the_filters_map", "$kubernetes['labels']['app']",
			merged("kubernetes", lineK8s), "web", true},
		{"nested_levels_take_the_last_copy_as_fluent_bit", "$kubernetes['labels']['team']",
			merged(), "b", true},
		{"stream_is_the_parsers", "$stream", merged("stream", "stderr"), "stdout", true},
		{"logtag_is_the_parsers", "$logtag", merged("logtag", "P"), "F", true},
		{"time_is_the_parsers", "$time", merged("time", "2030-01-01T00:00:00Z"), "2026-11-22T10:00:00Z", true},
		{"flb_tag_is_out_es_first", "$flb_tag",
			eventtest.Ordered("@timestamp", "t", "flb_tag", "kube.mine", "log", "x", "flb_tag", "kube.theirs"), "kube.mine", true},
		{"other_keys_take_the_last_copy_as_fluent_bit", "$level", merged("level", "debug", "level", "warn"), "warn", true},
		{"line_map_alone_is_read", "$kubernetes['namespace_name']", eventtest.Ordered("kubernetes", lineK8s), "payments", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.AppendValue(nil, "kube.x", tt.body)
			if ok != tt.found || string(got) != tt.want {
				t.Errorf("%s = %q, %v; want %q, %v", tt.pattern, got, ok, tt.want, tt.found)
			}
		})
	}
}
