package entry

import (
	"fmt"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/kube"
	"github.com/tinylib/msgp/msgp"
)

// pods are the kubernetes filter's maps of the containers the tests' lines
// come from: a2 is a's container after its pod's labels changed; x and y
// have no docker_id.
var pods = map[string]msgp.Raw{
	"a":  eventtest.Ordered("pod_name", "a", "namespace_name", "ns-a", "docker_id", "aaa"),
	"a2": eventtest.Ordered("pod_name", "a", "namespace_name", "ns-a", "labels", eventtest.Ordered("v", "2"), "docker_id", "aaa"),
	"b":  eventtest.Ordered("pod_name", "b", "namespace_name", "ns-b", "docker_id", "bbb"),
	"x":  eventtest.Ordered("pod_name", "x", "namespace_name", "ns-x"),
	"y":  eventtest.Ordered("pod_name", "y", "namespace_name", "ns-y"),
}

// entryOut is what the tests compare of an entry: its time from t0, its
// message and stream, and the namespace of its kubernetes map.
type entryOut struct {
	Time              int64
	Log, Stream, Name string
}

func readOut(t *testing.T, events ...eventtest.Event) []entryOut {
	t.Helper()
	var r Reader
	r.Reset(eventtest.Chunk(true, events...))
	var out []entryOut
	for r.Next() {
		e := r.Entry()
		out = append(out, entryOut{e.Time - t0.UnixNano(), string(e.Message()), string(e.Stream), string(kube.FromMap(e.Kubernetes).Namespace)})
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return out
}

// A pod controls every byte of its line, and with the kubernetes filter's
// Merge_Log On a JSON line's fields become top-level keys, after the
// parser's (stream, logtag, time, log) and before the filter's kubernetes
// map. An entry's stream, split flag, message, time and metadata are what
// Fluent Bit wrote, never the line's copies.
func TestReaderReadsWhatFluentBitWrote(t *testing.T) {
	sec := int64(time.Second)
	ts := t0.Add(time.Second).Format(time.RFC3339Nano)
	// parser is the CRI parser's record of a line that was JSON and merged
	// (Keep_Log Off: `log` is gone unless the line has one).
	parser := func(logtag string, line ...any) msgp.Raw {
		kv := append([]any{"time", ts, "stream", "stdout", "logtag", logtag}, line...)
		return eventtest.Ordered(append(kv, "kubernetes", pods["a"])...)
	}
	ev := func(i int, body msgp.Raw) eventtest.Event {
		return eventtest.Event{Time: t0.Add(time.Duration(i+1) * time.Second), Body: body}
	}
	tests := []struct {
		name   string
		events []eventtest.Event
		want   []entryOut
	}{
		{"stream_shadowed_by_a_merged_copy", []eventtest.Event{ev(0, parser("F", "stream", "stderr", "log", "hi"))},
			[]entryOut{{1 * sec, "hi", "stdout", "ns-a"}}},
		{"line_logtag_P_does_not_make_a_whole_line_wait", []eventtest.Event{
			ev(0, parser("F", "logtag", "P", "log", "a")), ev(1, parser("F", "log", "b"))},
			[]entryOut{{1 * sec, "a", "stdout", "ns-a"}, {2 * sec, "b", "stdout", "ns-a"}}},
		{"line_logtag_F_does_not_end_a_split_line", []eventtest.Event{
			ev(0, parser("P", "logtag", "F", "log", "a")), ev(1, parser("F", "log", "b"))},
			[]entryOut{{1 * sec, "ab", "stdout", "ns-a"}}},
		{"log_is_the_first_copy", []eventtest.Event{ev(0, eventtest.Ordered("log", "real", "stream", "stdout", "log", "fake", "kubernetes", pods["a"]))},
			[]entryOut{{1 * sec, "real", "stdout", "ns-a"}}},
		{"merged_timestamp_does_not_set_the_time", []eventtest.Event{ev(0, parser("F", "@timestamp", "2030-01-01T00:00:00Z", "log", "x"))},
			[]entryOut{{1 * sec, "x", "stdout", "ns-a"}}},
		{"aggregator_time_is_out_es_first_key", []eventtest.Event{ev(0, eventtest.Ordered(
			"@timestamp", t0.Add(5*time.Second).Format(time.RFC3339Nano), "flb_tag", "kube.a",
			"stream", "stdout", "@timestamp", "2030-01-01T00:00:00Z", "log", "x", "kubernetes", pods["a"]))},
			[]entryOut{{5 * sec, "x", "stdout", "ns-a"}}},
		// The elasticsearch input writes the bulk action line as its first
		// key, @meta, then the body out_es wrote (in_elasticsearch_bulk_prot.c,
		// 4.2.8 and 5.1.1).
		{"aggregator_time_after_the_elasticsearch_inputs_meta", []eventtest.Event{ev(0, eventtest.Ordered(
			"@meta", map[string]any{"create": map[string]any{"_index": "fargate"}},
			"@timestamp", t0.Add(5*time.Second).Format(time.RFC3339Nano), "flb_tag", "kube.a",
			"stream", "stdout", "@timestamp", "2030-01-01T00:00:00Z", "log", "x", "kubernetes", pods["a"]))},
			[]entryOut{{5 * sec, "x", "stdout", "ns-a"}}},
		{"kubernetes_is_the_filters_map_not_a_line_map_before_it", []eventtest.Event{ev(0, eventtest.Ordered(
			"stream", "stdout", "log", "x", "kubernetes", pods["b"], "kubernetes", pods["a"]))},
			[]entryOut{{1 * sec, "x", "stdout", "ns-a"}}},
		{"kubernetes_not_hidden_by_a_later_non_map", []eventtest.Event{ev(0, eventtest.Ordered(
			"stream", "stdout", "log", "x", "kubernetes", pods["a"], "kubernetes", 0))},
			[]entryOut{{1 * sec, "x", "stdout", "ns-a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readOut(t, tt.events...); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

// podLine is a line, or a part of one, of a pod's container (pods; ""
// for a record without a kubernetes map).
type podLine struct {
	pod         string
	sec         int
	stream, tag string
	msg         string
}

func (l podLine) event(i int, raw bool) eventtest.Event {
	var kv []any
	if raw {
		kv = []any{"log", fmt.Sprintf("%s %s %s %s", t0.Add(time.Duration(l.sec)*time.Second).Format(time.RFC3339Nano), l.stream, l.tag, l.msg)}
	} else {
		kv = []any{"time", t0.Add(time.Duration(l.sec) * time.Second).Format(time.RFC3339Nano), "stream", l.stream, "logtag", l.tag, "log", l.msg}
	}
	if l.pod != "" {
		kv = append(kv, "kubernetes", pods[l.pod])
	}
	return eventtest.Event{Time: t0.Add(time.Duration(l.sec) * time.Second), Body: eventtest.Ordered(kv...)}
}

// One tag can cover several containers (an aggregator's, or a router's
// with a wildcard path): the parts of a split line join per container and
// stream, and a record of another container never joins them.
func TestReaderJoinsPerContainer(t *testing.T) {
	sec := int64(time.Second)
	tests := []struct {
		name  string
		lines []podLine
		want  []entryOut
	}{
		{"partial_of_a_then_whole_line_of_b", []podLine{{"a", 1, "stdout", "P", "a1-"}, {"b", 2, "stdout", "F", "b1"}},
			[]entryOut{{2 * sec, "b1", "stdout", "ns-b"}, {1 * sec, "a1-", "stdout", "ns-a"}}},
		{"partials_of_a_and_b_interleaved", []podLine{{"a", 1, "stdout", "P", "a1-"}, {"b", 2, "stdout", "P", "b1-"}, {"a", 3, "stdout", "F", "a2"}, {"b", 4, "stdout", "F", "b2"}},
			[]entryOut{{1 * sec, "a1-a2", "stdout", "ns-a"}, {2 * sec, "b1-b2", "stdout", "ns-b"}}},
		{"same_docker_id_with_a_new_map_joins", []podLine{{"a", 1, "stdout", "P", "a1-"}, {"a2", 2, "stdout", "F", "a2"}},
			[]entryOut{{1 * sec, "a1-a2", "stdout", "ns-a"}}},
		{"maps_without_docker_id_join_when_equal", []podLine{{"x", 1, "stdout", "P", "x1-"}, {"x", 2, "stdout", "F", "x2"}},
			[]entryOut{{1 * sec, "x1-x2", "stdout", "ns-x"}}},
		{"maps_without_docker_id_do_not_join_when_different", []podLine{{"x", 1, "stdout", "P", "x1-"}, {"y", 2, "stdout", "F", "y1"}},
			[]entryOut{{2 * sec, "y1", "stdout", "ns-y"}, {1 * sec, "x1-", "stdout", "ns-x"}}},
		{"record_without_metadata_does_not_join_one_with", []podLine{{"a", 1, "stdout", "P", "a1-"}, {"", 2, "stdout", "F", "n1"}, {"", 3, "stdout", "P", "n2-"}, {"a", 4, "stdout", "F", "a2"}},
			[]entryOut{{2 * sec, "n1", "stdout", ""}, {1 * sec, "a1-a2", "stdout", "ns-a"}, {3 * sec, "n2-", "stdout", ""}}},
	}
	for _, shape := range []string{"parsed", "raw"} {
		for _, tt := range tests {
			t.Run(shape+"/"+tt.name, func(t *testing.T) {
				var events []eventtest.Event
				for i, l := range tt.lines {
					events = append(events, l.event(i, shape == "raw"))
				}
				if got := readOut(t, events...); fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("got  %v\nwant %v", got, tt.want)
				}
			})
		}
	}
}

// More containers than the Reader keeps container ids of, each of whose
// map changes between the parts of its line, still join per container.
func TestReaderJoinsManyContainers(t *testing.T) {
	const n = 40
	k8s := func(c, version int) msgp.Raw {
		return eventtest.Ordered("pod_name", fmt.Sprintf("p%d", c), "namespace_name", fmt.Sprintf("ns-%d", c),
			"labels", eventtest.Ordered("v", fmt.Sprint(version)), "docker_id", fmt.Sprintf("id%d", c))
	}
	var events []eventtest.Event
	var want []entryOut
	for c := range n {
		for _, s := range []string{"stdout", "stderr"} {
			events = append(events, eventtest.Event{Time: t0.Add(time.Duration(c) * time.Second),
				Body: eventtest.Ordered("stream", s, "logtag", "P", "log", fmt.Sprintf("%d-%s-1.", c, s), "kubernetes", k8s(c, 1))})
		}
	}
	for c := range n {
		for _, s := range []string{"stdout", "stderr"} {
			events = append(events, eventtest.Event{Time: t0.Add(time.Hour),
				Body: eventtest.Ordered("stream", s, "logtag", "F", "log", fmt.Sprintf("%d-%s-2.", c, s), "kubernetes", k8s(c, 2))})
			want = append(want, entryOut{int64(c) * int64(time.Second), fmt.Sprintf("%d-%s-1.%d-%s-2.", c, s, c, s), s, fmt.Sprintf("ns-%d", c)})
		}
	}
	if got := readOut(t, events...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
