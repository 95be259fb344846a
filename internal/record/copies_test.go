package record_test

import (
	"bytes"
	"testing"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/record"
)

var (
	filterK8s = eventtest.Ordered("pod_name", "web-1", "namespace_name", "shop", "labels", eventtest.Ordered("app", "web"), "docker_id", "aaa")
	lineK8s   = eventtest.Ordered("namespace_name", "payments", "labels", eventtest.Ordered("app", "evil"))
	// merged is what the CRI parser and the kubernetes filter with
	// Merge_Log On and Keep_Log Off make of a hostile JSON line: the
	// parser's keys, then the line's fields, then the filter's map.
	merged = []byte(eventtest.Ordered(
		"stream", "stdout", "logtag", "F", "time", "2026-11-22T10:00:00Z",
		"stream", "stderr", "logtag", "P", "time", "2030-01-01T00:00:00Z", "kubernetes", lineK8s,
		"log", "fake", "level", "debug", "level", "warn", "flb_tag", "kube.other",
		"kubernetes", filterK8s))
)

func TestCopyOf(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want record.Copy
	}{
		{"log", record.First}, {"stream", record.First}, {"logtag", record.First}, {"time", record.First},
		{"@timestamp", record.First}, {"flb_tag", record.First},
		{"kubernetes", record.LastMap}, {"kubernetes_namespace", record.LastMap},
		{"level", record.Last}, {"Log", record.Last}, {"", record.Last},
	} {
		if got := record.CopyOf(tt.key); got != tt.want {
			t.Errorf("CopyOf(%q) = %v, want %v", tt.key, got, tt.want)
		}
		if got := record.CopyOf([]byte(tt.key)); got != tt.want {
			t.Errorf("CopyOf([]byte(%q)) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestGetLast(t *testing.T) {
	// {"a": 1, <bin "b">: 2, 7: "int key", "a": 3}
	mixed := []byte{0x84, 0xa1, 'a', 0x01, 0xc4, 1, 'b', 0x02, 0x07, 0xa7, 'i', 'n', 't', ' ', 'k', 'e', 'y', 0xa1, 'a', 0x03}
	for _, tt := range []struct {
		name   string
		m      []byte
		key    string
		want   []byte
		wantOK bool
	}{
		{"last_match_wins", mixed, "a", []byte{0x03}, true},
		{"single_copy", mixed, "b", []byte{0x02}, true},
		{"absent_key", mixed, "c", nil, false},
		{"int_key_never_matches", mixed, "7", nil, false},
		{"not_a_map", mp("a"), "a", nil, false},
		{"empty_input", nil, "a", nil, false},
		// The copy after the fault could be the last: none is trusted.
		{"malformed_after_a_match", []byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0xc1}, "a", nil, false},
		{"truncated_after_a_match", []byte{0x82, 0xa1, 'a', 0x01, 0xa1}, "a", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := record.GetLast(tt.m, tt.key)
			if ok != tt.wantOK || !bytes.Equal(got, tt.want) {
				t.Errorf("GetLast(%q) = % x, %v; want % x, %v", tt.key, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// Field reads the copy of a top-level key that Fluent Bit wrote, whatever
// copies a merged line adds.
func TestFieldTakesWhatFluentBitWrote(t *testing.T) {
	for _, tt := range []struct {
		name   string
		body   []byte
		key    string
		want   []byte
		wantOK bool
	}{
		{"kubernetes_is_the_filters_map_not_the_lines_before_it", merged, "kubernetes", filterK8s, true},
		{"line_non_map_kubernetes_does_not_hide_the_filters", eventtest.Ordered("log", "x", "kubernetes", 0, "kubernetes", filterK8s), "kubernetes", filterK8s, true},
		{"later_non_map_kubernetes_does_not_hide_the_map", eventtest.Ordered("kubernetes", filterK8s, "kubernetes", 0), "kubernetes", filterK8s, true},
		{"no_map_no_kubernetes", eventtest.Ordered("kubernetes", 0), "kubernetes", nil, false},
		{"kubernetes_namespace_last_map", eventtest.Ordered("kubernetes_namespace", lineK8s, "kubernetes_namespace", filterK8s), "kubernetes_namespace", filterK8s, true},
		{"stream_is_the_parsers", merged, "stream", mp("stdout"), true},
		{"logtag_is_the_parsers", merged, "logtag", mp("F"), true},
		{"time_is_the_parsers", merged, "time", mp("2026-11-22T10:00:00Z"), true},
		{"log_is_the_first", eventtest.Ordered("log", "real", "log", "fake"), "log", mp("real"), true},
		{"timestamp_is_out_es_first_key", eventtest.Ordered("@timestamp", "t1", "flb_tag", "kube.a", "@timestamp", "t2"), "@timestamp", mp("t1"), true},
		{"flb_tag_is_out_es_second_key", eventtest.Ordered("@timestamp", "t1", "flb_tag", "kube.a", "flb_tag", "kube.b"), "flb_tag", mp("kube.a"), true},
		{"other_keys_take_the_last_as_fluent_bits_accessor", merged, "level", mp("warn"), true},
		{"absent", merged, "nope", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := record.Field(tt.body, tt.key)
			if ok != tt.wantOK || !bytes.Equal(got, tt.want) {
				t.Errorf("Field(%q) = % x, %v; want % x, %v", tt.key, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCopyTakes(t *testing.T) {
	m, s := []byte(filterK8s), mp("x")
	for _, tt := range []struct {
		name string
		c    record.Copy
		v    []byte
		kept bool
		want bool
	}{
		{"first_takes_the_first", record.First, s, false, true},
		{"first_keeps_it", record.First, s, true, false},
		{"last_takes_every_copy", record.Last, s, true, true},
		{"last_map_takes_a_map", record.LastMap, m, true, true},
		{"last_map_skips_a_non_map", record.LastMap, s, false, false},
	} {
		if got := tt.c.Takes(tt.v, tt.kept); got != tt.want {
			t.Errorf("%s: Takes = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// EachKnown passes a value that is known as known itself, so records of
// one container compare their kubernetes maps by address.
func TestEachKnownPassesKnownItself(t *testing.T) {
	known := []byte(filterK8s)
	body := []byte(eventtest.Ordered("log", "x", "kubernetes", filterK8s, "other", lineK8s))
	var got [][]byte
	if err := record.EachKnown(body, known, func(k, v []byte) bool { got = append(got, v); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || &got[1][0] != &known[0] || len(got[1]) != len(known) {
		t.Errorf("kubernetes value not passed as known")
	}
	if !bytes.Equal(got[2], lineK8s) || &got[2][0] == &known[0] {
		t.Errorf("other value = %x", got[2])
	}
}
