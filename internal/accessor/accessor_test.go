package accessor

import (
	"strings"
	"testing"

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
