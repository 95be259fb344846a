package loki

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/grafana/loki/pkg/push"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/delivery"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/freelist"
	"github.com/kubeship/kubeship/internal/loki/lokitest"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)

// k8sBody is a record as the CRI parser and the kubernetes filter leave it.
func k8sBody(extra map[string]any) map[string]any {
	b := map[string]any{
		"log":    "hello",
		"stream": "stdout",
		"logtag": "F",
		"kubernetes": map[string]any{
			"namespace_name":  "shop",
			"pod_name":        "web-7d9f-abcde",
			"pod_id":          "0b6f-11",
			"container_name":  "app",
			"docker_id":       "3f2a",
			"host":            "fargate-ip-10-0-1-2",
			"container_image": "registry/web:1.2",
			"labels":          map[string]any{"app.kubernetes.io/name": "web", "app": "legacy", "pod-template-hash": "7d9f"},
		},
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// parse reads keys plus the required url.
func parse(keys config.Map) (*config.Config, error) {
	m := config.Map{"url": "http://127.0.0.1:3100/loki/api/v1/push"}
	for k, v := range keys {
		m[k] = v
	}
	return config.Parse(m)
}

type sent struct {
	tenant  string
	streams []push.Stream
	size    int
}

// encode runs the encoder over bodies (one event each, one second apart)
// and decodes the requests back with pkg/push.
func encode(t *testing.T, keys config.Map, bodies ...map[string]any) ([]sent, Stats) {
	t.Helper()
	return encodeTagged(t, "app", keys, bodies...)
}

func encodeTagged(t *testing.T, tag string, keys config.Map, bodies ...map[string]any) ([]sent, Stats) {
	t.Helper()
	var events []eventtest.Event
	for i, b := range bodies {
		events = append(events, eventtest.Event{Time: t0.Add(time.Duration(i) * time.Second), Body: b})
	}
	return encodeEvents(t, tag, keys, events...)
}

func encodeEvents(t *testing.T, tag string, keys config.Map, events ...eventtest.Event) ([]sent, Stats) {
	t.Helper()
	cfg, err := parse(keys)
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	if err := New(options(cfg)).Encode(&b, tag, eventtest.Chunk(true, events...)); err != nil {
		t.Fatal(err)
	}
	return decode(t, b.Requests()), b.Stats
}

func decode(t *testing.T, reqs []delivery.Request) []sent {
	t.Helper()
	var out []sent
	for _, r := range reqs {
		if r.Header["Content-Type"] != "application/x-protobuf" || r.Header["Content-Encoding"] != "snappy" {
			t.Errorf("headers %v", r.Header)
		}
		pr, size, err := lokitest.Decode(r.Header["Content-Type"], r.Header["Content-Encoding"], r.Body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sent{tenant: r.Header["X-Scope-OrgID"], streams: pr.Streams, size: size})
	}
	return out
}

// one returns the only entry sent and its stream's labels.
func one(t *testing.T, s []sent) (string, push.Entry) {
	t.Helper()
	if len(s) != 1 || len(s[0].streams) != 1 || len(s[0].streams[0].Entries) != 1 {
		t.Fatalf("want one entry, got %+v", s)
	}
	return s[0].streams[0].Labels, s[0].streams[0].Entries[0]
}

func meta(e push.Entry) string {
	var parts []string
	for _, l := range e.StructuredMetadata {
		parts = append(parts, l.Name+"="+l.Value)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

const defaultMeta = "container_id=3f2a image=registry/web:1.2 node=fargate-ip-10-0-1-2 pod=web-7d9f-abcde pod_id=0b6f-11 stream=stdout"

func TestMapping(t *testing.T) {
	tests := []struct {
		name   string
		keys   config.Map
		body   map[string]any
		labels string
		line   string
		meta   string
	}{
		{"kubernetes_defaults", nil, k8sBody(nil),
			`{app="web", container="app", namespace="shop"}`, "hello", defaultMeta},
		{"app_falls_back_to_app_label", nil, k8sBody(map[string]any{"kubernetes": map[string]any{"namespace_name": "ns", "labels": map[string]any{"app": "legacy"}}}),
			`{app="legacy", namespace="ns"}`, "hello", "stream=stdout"},
		{"rest_of_record_as_json", nil, k8sBody(map[string]any{"level": "info", "user": map[string]any{"id": int64(7)}}),
			`{app="web", container="app", namespace="shop"}`, `{"level":"info","log":"hello","user":{"id":7}}`, "container_id=3f2a image=registry/web:1.2 level=info node=fargate-ip-10-0-1-2 pod=web-7d9f-abcde pod_id=0b6f-11 stream=stdout"},
		{"static_labels_added", config.Map{"labels": "cluster=prod"}, k8sBody(nil),
			`{app="web", cluster="prod", container="app", namespace="shop"}`, "hello", defaultMeta},
		{"user_label_wins_over_default", config.Map{"labels": "namespace=fixed"}, k8sBody(nil),
			`{app="web", container="app", namespace="fixed"}`, "hello", defaultMeta},
		{"no_kubernetes_map_gets_job_label", nil, map[string]any{"log": "plain", "stream": "stderr"},
			`{job="fluent-bit"}`, "plain", "stream=stderr"},
		{"kubernetes_metadata_off", config.Map{"kubernetes_metadata": "off", "remove_keys": "kubernetes"}, k8sBody(nil),
			`{job="fluent-bit"}`, `{"log":"hello","logtag":"F","stream":"stdout"}`, ""},
		{"accessor_label_leaves_line", config.Map{"kubernetes_metadata": "off", "labels": "team=$team", "remove_keys": "kubernetes,stream,logtag"}, k8sBody(map[string]any{"team": "payments"}),
			`{team="payments"}`, "hello", ""},
		{"label_keys_name_from_accessor", config.Map{"label_keys": "$kubernetes['labels']['pod-template-hash']"}, k8sBody(nil),
			`{app="web", container="app", kubernetes_labels_pod_template_hash="7d9f", namespace="shop"}`, "hello", defaultMeta},
		{"remove_nested_key", config.Map{"kubernetes_metadata": "off", "remove_keys": "$kubernetes['labels'],$kubernetes['pod_id'],stream,logtag,log"}, k8sBody(nil),
			`{job="fluent-bit"}`, `{"container_image":"registry/web:1.2","container_name":"app","docker_id":"3f2a","host":"fargate-ip-10-0-1-2","namespace_name":"shop","pod_name":"web-7d9f-abcde"}`, ""},
		{"structured_metadata_defaults_off_keeps_labels", config.Map{"structured_metadata_defaults": "off"}, k8sBody(nil),
			`{app="web", container="app", namespace="shop"}`, "hello", ""},
		{"structured_metadata_defaults_off_keeps_explicit", config.Map{"structured_metadata_defaults": "off", "structured_metadata": "pod=$kubernetes['pod_name']"}, k8sBody(nil),
			`{app="web", container="app", namespace="shop"}`, "hello", "pod=web-7d9f-abcde"},
		{"drop_single_key_off", config.Map{"drop_single_key": "off"}, k8sBody(nil),
			`{app="web", container="app", namespace="shop"}`, `{"log":"hello"}`, defaultMeta},
		{"drop_single_key_on_quotes", config.Map{"drop_single_key": "on"}, k8sBody(nil),
			`{app="web", container="app", namespace="shop"}`, `"hello"`, defaultMeta},
		{"drop_single_key_non_string", nil, map[string]any{"n": int64(5)}, `{job="fluent-bit"}`, "5", ""},
		{"key_value_format", config.Map{"line_format": "key_value"}, k8sBody(map[string]any{"level": "warn", "n": 1.5}),
			`{app="web", container="app", namespace="shop"}`, `level="warn" log="hello" n=1.5`, "container_id=3f2a image=registry/web:1.2 level=warn node=fargate-ip-10-0-1-2 pod=web-7d9f-abcde pod_id=0b6f-11 stream=stdout"},
		{"auto_kubernetes_labels", config.Map{"auto_kubernetes_labels": "on"}, k8sBody(nil),
			`{app="web", app_kubernetes_io_name="web", container="app", namespace="shop", pod_template_hash="7d9f"}`, "hello", defaultMeta},
		{"structured_metadata_explicit_and_maps", config.Map{"structured_metadata": "team=$team,cluster=prod", "structured_metadata_map_keys": "$extra"},
			map[string]any{"log": "x", "team": "pay", "extra": map[string]any{"a": "1", "b": int64(2)}},
			`{job="fluent-bit"}`, "x", "a=1 b=2 cluster=prod team=pay"}, // the map leaves the line, as in Fluent Bit's loki output
		{"label_value_cannot_inject", config.Map{"labels": "x=$x"}, map[string]any{"log": "l", "x": "a\", evil=\"1\"}\n{"},
			`{x="a\", evil=\"1\"}\n{"}`, "l", ""},
		{"invalid_utf8_label_value", config.Map{"labels": "x=$x"}, map[string]any{"log": "l", "x": "a\xffb"},
			`{x="a?b"}`, "l", ""},
		{"label_names_sanitized", config.Map{"labels": "9lives=$a,my-label=$a"}, map[string]any{"log": "l", "a": "v"},
			`{_9lives="v", my_label="v"}`, "l", ""},
		{"empty_values_skipped", config.Map{"labels": "x=$missing"}, map[string]any{"log": "l"},
			`{job="fluent-bit"}`, "l", ""},
		// Trace context: structured metadata that Grafana links to traces.
		{"trace_ids_of_a_json_line", nil, k8sBody(map[string]any{"log": `{"msg":"x","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7"}`}),
			`{app="web", container="app", namespace="shop"}`, `{"msg":"x","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7"}`,
			"container_id=3f2a image=registry/web:1.2 node=fargate-ip-10-0-1-2 pod=web-7d9f-abcde pod_id=0b6f-11 span_id=00f067aa0ba902b7 stream=stdout trace_id=4bf92f3577b34da6a3ce929d0e0e4736"},
		{"trace_ids_of_a_traceparent_field", config.Map{"remove_keys": "traceparent"},
			k8sBody(map[string]any{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}),
			`{app="web", container="app", namespace="shop"}`, "hello",
			"container_id=3f2a image=registry/web:1.2 node=fargate-ip-10-0-1-2 pod=web-7d9f-abcde pod_id=0b6f-11 span_id=00f067aa0ba902b7 stream=stdout trace_id=4bf92f3577b34da6a3ce929d0e0e4736"},
		{"trace_ids_off", config.Map{"trace_id_keys": "off", "span_id_keys": "off"}, k8sBody(map[string]any{"log": `{"trace_id":"abc","span_id":"def"}`}),
			`{app="web", container="app", namespace="shop"}`, `{"trace_id":"abc","span_id":"def"}`, defaultMeta},
		{"trace_ids_custom_keys", config.Map{"trace_id_keys": "tid", "span_id_keys": "sid"}, k8sBody(map[string]any{"log": `{"trace_id":"no","tid":"t1","sid":"s1"}`}),
			`{app="web", container="app", namespace="shop"}`, `{"trace_id":"no","tid":"t1","sid":"s1"}`,
			"container_id=3f2a image=registry/web:1.2 node=fargate-ip-10-0-1-2 pod=web-7d9f-abcde pod_id=0b6f-11 span_id=s1 stream=stdout trace_id=t1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := encode(t, tt.keys, tt.body)
			labels, e := one(t, got)
			if labels != tt.labels {
				t.Errorf("labels\n got %s\nwant %s", labels, tt.labels)
			}
			if e.Line != tt.line {
				t.Errorf("line\n got %s\nwant %s", e.Line, tt.line)
			}
			if m := meta(e); m != tt.meta {
				t.Errorf("structured metadata\n got %s\nwant %s", m, tt.meta)
			}
			if !e.Timestamp.Equal(t0) {
				t.Errorf("timestamp %s, want %s", e.Timestamp, t0)
			}
		})
	}
}

const tagID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Fargate tags name pod, namespace, container and id; records that carry a
// raw CRI line give time, stream and message.
func TestMappingFromTagAndCRI(t *testing.T) {
	tag := "kube.var.log.containers.tagpod_tagns_tagcontainer-" + tagID + ".log"
	tests := []struct {
		name   string
		body   map[string]any
		labels string
		line   string
		meta   string
		time   time.Time
	}{
		{"no_kubernetes_map_uses_the_tag", map[string]any{"log": "plain", "stream": "stderr"},
			`{container="tagcontainer", namespace="tagns"}`, "plain", "container_id=" + tagID + " pod=tagpod stream=stderr", t0},
		{"record_fields_win_over_the_tag", map[string]any{"log": "x", "kubernetes": map[string]any{"namespace_name": "recns"}},
			`{container="tagcontainer", namespace="recns"}`, "x", "container_id=" + tagID + " pod=tagpod", t0},
		{"raw_cri_line", map[string]any{"log": "2026-11-22T10:00:00.123456789Z stderr F boom"},
			`{container="tagcontainer", namespace="tagns"}`, "boom", "container_id=" + tagID + " pod=tagpod stream=stderr",
			time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)},
		{"raw_cri_json_line_gives_level", map[string]any{"log": `2026-11-22T10:00:00Z stdout F {"level":"error","msg":"x"}`},
			`{container="tagcontainer", namespace="tagns"}`, `{"level":"error","msg":"x"}`, "container_id=" + tagID + " level=error pod=tagpod stream=stdout",
			time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := encodeTagged(t, tag, nil, tt.body)
			labels, e := one(t, got)
			if labels != tt.labels || e.Line != tt.line || meta(e) != tt.meta || !e.Timestamp.Equal(tt.time) {
				t.Errorf("got  %s %q %s %s\nwant %s %q %s %s", labels, e.Line, meta(e), e.Timestamp, tt.labels, tt.line, tt.meta, tt.time)
			}
		})
	}
}

// Partial CRI lines of a chunk become one entry, in every line format.
func TestPartialLinesJoined(t *testing.T) {
	parts := []map[string]any{
		{"log": "2026-11-22T10:00:00Z stdout P {\"msg\":\"a", "kubernetes": map[string]any{"namespace_name": "ns"}},
		{"log": "2026-11-22T10:00:01Z stdout P bc", "kubernetes": map[string]any{"namespace_name": "ns"}},
		{"log": "2026-11-22T10:00:02Z stdout F d\"}", "kubernetes": map[string]any{"namespace_name": "ns"}},
	}
	for keys, want := range map[string]string{
		"raw":           `{"msg":"abcd"}`,
		"on":            `"{\"msg\":\"abcd\"}"`,
		"off":           `{"log":"{\"msg\":\"abcd\"}"}`,
		"off key_value": `log="{\"msg\":\"abcd\"}"`,
	} {
		cfg := config.Map{"drop_single_key": strings.Fields(keys)[0]}
		if strings.HasSuffix(keys, "key_value") {
			cfg["line_format"] = "key_value"
		}
		got, stats := encode(t, cfg, parts...)
		_, e := one(t, got)
		if e.Line != want || stats.Joined != 2 || !e.Timestamp.Equal(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: line %s at %s (joined %d), want %s", keys, e.Line, e.Timestamp, stats.Joined, want)
		}
	}
}

func TestAtMost15LabelNamesKeepingTheFirst(t *testing.T) {
	var specs []string
	body := map[string]any{"log": "l"}
	for i := 0; i < 17; i++ {
		specs = append(specs, fmt.Sprintf("l%02d=v", i))
	}
	got, stats := encode(t, config.Map{"labels": strings.Join(specs, ",")}, body)
	labels, _ := one(t, got)
	if n := strings.Count(labels, "="); n != 15 {
		t.Errorf("%d labels: %s", n, labels)
	}
	if strings.Contains(labels, "l15") || !strings.Contains(labels, "l14") {
		t.Errorf("did not keep the first 15: %s", labels)
	}
	if stats.DroppedLabels != 2 || stats.FirstLabelDrop != "[l15 l16]" {
		t.Errorf("stats %+v", stats)
	}
}

func TestLongValuesAndLines(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	got, stats := encode(t, config.Map{"labels": "x=$x", "max_line_size": "1KB"}, map[string]any{"log": strings.Repeat("a", 5000), "x": long})
	labels, e := one(t, got)
	if len(e.Line) != 1024 {
		t.Errorf("line of %d bytes", len(e.Line))
	}
	val, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(labels, `{x=`), `}`))
	if err != nil || len(val) != 2048 || !strings.HasSuffix(val, "é") {
		t.Errorf("label value of %d bytes", len(val))
	}
	if stats.TruncatedLines != 1 || stats.TruncatedLabels != 1 {
		t.Errorf("stats %+v", stats)
	}
}

func TestTenantPerRecord(t *testing.T) {
	bodies := []map[string]any{
		{"log": "a", "team": "t1"}, {"log": "b", "team": "t2"}, {"log": "c", "team": "t1"}, {"log": "d"},
	}
	got, _ := encode(t, config.Map{"tenant_id": "fallback", "tenant_id_key": "$team"}, bodies...)
	var summary []string
	for _, s := range got {
		var lines []string
		for _, st := range s.streams {
			for _, e := range st.Entries {
				lines = append(lines, e.Line)
			}
		}
		summary = append(summary, s.tenant+":"+strings.Join(lines, ""))
	}
	// tenant_id_key is not removed from the line, as in Fluent Bit.
	if want := `t1:{"log":"a","team":"t1"}{"log":"c","team":"t1"} t2:{"log":"b","team":"t2"} fallback:d`; strings.Join(summary, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(summary, " "), want)
	}
}

// A record's tenant that Loki (and Go's HTTP client) would refuse is made
// valid: characters outside Loki's set become '_', it is cut at 150 bytes.
// Its records stay in a tenant of their own rather than being lost, or
// mixed into the default tenant; each is counted.
func TestTenantSanitized(t *testing.T) {
	tests := []struct{ name, team, want string }{
		{"crlf_header_injection", "team\r\nX-Evil: 1", "team__X-Evil__1"},
		{"nul", "a\x00b", "a_b"},
		{"pipe_and_space", "a|b c", "a_b_c"},
		{"utf8", "équipe", "__quipe"},
		{"dot", ".", "_"},
		{"dotdot", "..", "__"},
		{"too_long", strings.Repeat("x", 200), strings.Repeat("x", 150)},
		{"valid_kept", "Team-1_a.b*'()!", "Team-1_a.b*'()!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st := encode(t, config.Map{"tenant_id": "fallback", "tenant_id_key": "$team"}, map[string]any{"log": "x", "team": tt.team})
			if len(got) != 1 || got[0].tenant != tt.want {
				t.Fatalf("tenant %q, want %q", got[0].tenant, tt.want)
			}
			if wantN := map[bool]int{true: 0, false: 1}[tt.team == tt.want]; st.SanitizedTenants != wantN {
				t.Errorf("SanitizedTenants %d, want %d", st.SanitizedTenants, wantN)
			}
		})
	}
}

func TestEntriesInTimeOrderPerStream(t *testing.T) {
	events := []eventtest.Event{
		{Time: t0.Add(3 * time.Nanosecond), Body: map[string]any{"log": "3"}},
		{Time: t0.Add(1 * time.Nanosecond), Body: map[string]any{"log": "1"}},
		{Time: t0.Add(2 * time.Nanosecond), Body: map[string]any{"log": "2"}},
	}
	got, _ := encodeEvents(t, "app", nil, events...)
	var order []string
	for _, e := range got[0].streams[0].Entries {
		order = append(order, fmt.Sprintf("%s@%d", e.Line, e.Timestamp.Sub(t0)))
	}
	if strings.Join(order, " ") != "1@1 2@2 3@3" {
		t.Errorf("order %v", order)
	}
}

func TestRequestsBoundedByBatchSize(t *testing.T) {
	var bodies []map[string]any
	for i := 0; i < 200; i++ {
		b := k8sBody(map[string]any{"log": fmt.Sprintf("%03d %s", i, strings.Repeat("x", 500))})
		if i%2 == 1 {
			b["kubernetes"].(map[string]any)["container_name"] = "sidecar"
		}
		bodies = append(bodies, b)
	}
	got, _ := encode(t, config.Map{"batch_size": "16KB"}, bodies...)
	if len(got) < 8 {
		t.Fatalf("%d requests for ~110 KB at 16 KB each", len(got))
	}
	seen := map[string]int{}
	for _, s := range got {
		if s.size > 16<<10+1024 {
			t.Errorf("request of %d bytes", s.size)
		}
		for _, st := range s.streams {
			for _, e := range st.Entries {
				seen[e.Line[:3]]++
			}
		}
	}
	if len(seen) != 200 {
		t.Errorf("%d distinct entries arrived, want 200", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("entry %s sent %d times", k, n)
		}
	}
}

func TestSplitFor413KeepsEveryEntryOnce(t *testing.T) {
	cfg, _ := parse(nil)
	var events []eventtest.Event
	for i := 0; i < 7; i++ {
		events = append(events, eventtest.Event{Time: t0.Add(time.Duration(i)), Body: map[string]any{"log": fmt.Sprint(i), "stream": []string{"stdout", "stderr"}[i%2]}})
	}
	var b Batch
	if err := New(options(cfg)).Encode(&b, "t", eventtest.Chunk(true, events...)); err != nil {
		t.Fatal(err)
	}
	reqs := b.Requests()
	if len(reqs) != 1 || reqs[0].Records != 7 || reqs[0].Split == nil {
		t.Fatalf("%+v", reqs)
	}
	parts := reqs[0].Split()
	if len(parts) != 2 || parts[0].Records+parts[1].Records != 7 {
		t.Fatalf("parts %+v", parts)
	}
	var lines []string
	for _, s := range decode(t, parts) {
		for _, st := range s.streams {
			for _, e := range st.Entries {
				lines = append(lines, e.Line)
			}
		}
	}
	sort.Strings(lines)
	if strings.Join(lines, "") != "0123456" {
		t.Errorf("lines after split: %v", lines)
	}
}

func TestMalformedAndSkippedRecords(t *testing.T) {
	cfg, _ := parse(nil)
	good := eventtest.Chunk(true,
		eventtest.Event{Time: t0, Body: map[string]any{"log": "a"}},
		eventtest.Event{Time: t0, Body: "not a map"},
		eventtest.Event{Time: t0, Body: map[string]any{"log": "b"}},
	)
	var b Batch
	if err := New(options(cfg)).Encode(&b, "t", good); err != nil {
		t.Fatal(err)
	}
	if b.Stats.Records != 2 || b.Stats.Skipped != 1 {
		t.Errorf("stats %+v", b.Stats)
	}
	var b2 Batch
	if err := New(options(cfg)).Encode(&b2, "t", good[:len(good)-3]); err == nil {
		t.Error("truncated chunk accepted")
	}
	if b2.Stats.Records != 1 {
		t.Errorf("records before the damage: %d, want 1", b2.Stats.Records)
	}
}

func FuzzLabels(f *testing.F) {
	f.Add([]byte("app"), []byte("web"))
	f.Add([]byte("a-b.c"), []byte("x\", y=\"z"))
	f.Add([]byte("9"), []byte("\xff\x00\n}"))
	f.Fuzz(func(t *testing.T, name, value []byte) {
		clean := appendLabelName(nil, name)
		for i, c := range clean {
			ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9')
			if !ok {
				t.Fatalf("name %q has %q at %d", clean, c, i)
			}
		}
		if len(value) == 0 || len(clean) == 0 {
			return
		}
		sel := string(appendLabels(nil, []pair{{name: clean, value: value}}))
		// One pair, whose value reads back as the (UTF-8-cleaned) input.
		rest, ok := strings.CutPrefix(sel, "{"+string(clean)+"=")
		if !ok {
			t.Fatalf("selector %q", sel)
		}
		q, err := strconv.QuotedPrefix(rest)
		if err != nil || rest[len(q):] != "}" {
			t.Fatalf("selector %q: value does not end the selector (%v)", sel, err)
		}
		if got, err := strconv.Unquote(q); err != nil || got != labelText(value) || strings.ContainsRune(got, utf8.RuneError) {
			t.Fatalf("value %q read back as %q", value, got)
		}
	})
}

// Any chunk, however damaged, is encoded without a panic into requests that
// pkg/push can read back.
func FuzzEncode(f *testing.F) {
	f.Add(eventtest.Chunk(true, eventtest.Event{Time: t0, Body: k8sBody(nil)}))
	f.Add(eventtest.Chunk(false, eventtest.Event{Time: t0, Body: map[string]any{"log": "x", "n": 1.5}}))
	f.Add([]byte{0x92, 0xc1})
	cfg, err := parse(config.Map{"labels": "x=$x,$kubernetes['labels']['app']", "structured_metadata_map_keys": "$kubernetes['labels']", "batch_size": "1KB"})
	if err != nil {
		f.Fatal(err)
	}
	enc := New(options(cfg))
	f.Fuzz(func(t *testing.T, chunk []byte) {
		var b Batch
		_ = enc.Encode(&b, "tag", chunk)
		got := decode(t, b.Requests())
		n := 0
		for _, s := range got {
			for _, st := range s.streams {
				n += len(st.Entries)
			}
		}
		if n != b.Stats.Records {
			t.Fatalf("%d entries sent for %d records", n, b.Stats.Records)
		}
	})
}

// A batch reset and reused (as the sink pools them) encodes exactly what a
// new batch does, whatever it held before.
func TestResetBatchEncodesAsANewOne(t *testing.T) {
	cfg, err := parse(config.Map{"labels": "tenant_test=$kubernetes['namespace_name']", "batch_size": "64KB"})
	if err != nil {
		t.Fatal(err)
	}
	enc := New(options(cfg))
	big, small := fargateChunk(), eventtest.Chunk(true, eventtest.Event{Time: time.Unix(1700000000, 5), Body: eventtest.FargateBody(3)})
	bodies := func(b *Batch, chunk []byte) [][]byte {
		if err := enc.Encode(b, "kube.var.log.containers.x", chunk); err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, r := range b.Requests() {
			out = append(out, append([]byte(nil), r.Body...))
		}
		return out
	}
	var reused Batch
	for i, chunk := range [][]byte{big, small, big, small} {
		reused.Reset()
		fresh := new(Batch)
		got := bodies(&reused, chunk)
		want := bodies(fresh, chunk)
		if reused.Stats != fresh.Stats {
			t.Errorf("round %d: stats %+v, want %+v", i, reused.Stats, fresh.Stats)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d requests, want %d", i, len(got), len(want))
		}
		for j := range got {
			if !bytes.Equal(got[j], want[j]) {
				t.Errorf("round %d: request %d differs from a new batch's", i, j)
			}
		}
	}
}

// A batch's requests wait for delivery while other batches encode: their
// bodies must not live in the compression buffers the batches share.
func TestRequestsOutliveOtherBatches(t *testing.T) {
	cfg, err := parse(config.Map{"batch_size": "64KB"})
	if err != nil {
		t.Fatal(err)
	}
	enc := New(options(cfg))
	var first Batch
	if err := enc.Encode(&first, "kube.var.log.containers.x", fargateChunk()); err != nil {
		t.Fatal(err)
	}
	reqs := first.Requests()
	var copies [][]byte
	for _, r := range reqs {
		copies = append(copies, append([]byte(nil), r.Body...))
	}
	for i := range 2 * freelist.PerFlush {
		var other Batch
		chunk := eventtest.Chunk(true, eventtest.Event{Time: time.Unix(1700000000, int64(i)), Body: eventtest.FargateBody(i)})
		if err := enc.Encode(&other, "kube.var.log.containers.y", chunk); err != nil {
			t.Fatal(err)
		}
		other.Requests()
	}
	for i, r := range reqs {
		if !bytes.Equal(r.Body, copies[i]) {
			t.Fatalf("request %d of %d changed while other batches encoded", i, len(reqs))
		}
	}
	if len(decode(t, reqs)) != len(reqs) {
		t.Fatal("requests do not decode")
	}
}

// Records of one container share their kubernetes map, so their labels are
// computed once; labels that read other fields still differ per record, and
// per-record counts stay exact.
func TestLabelsOfRecordsSharingAKubernetesMap(t *testing.T) {
	k8s := eventtest.FargateBody(0)["kubernetes"]
	bodies := func(levels ...string) []map[string]any {
		var out []map[string]any
		for _, l := range levels {
			out = append(out, map[string]any{"log": "x " + l, "lvl": l, "kubernetes": k8s})
		}
		return out
	}
	streams := func(s []sent) []string {
		var out []string
		for _, r := range s {
			for _, st := range r.streams {
				out = append(out, fmt.Sprintf("%s:%d", st.Labels, len(st.Entries)))
			}
		}
		sort.Strings(out)
		return out
	}
	t.Run("label_from_another_field_differs_per_record", func(t *testing.T) {
		s, _ := encode(t, config.Map{"labels": "lvl=$lvl", "kubernetes_metadata": "off"}, bodies("info", "warn", "info")...)
		if got := streams(s); fmt.Sprint(got) != `[{lvl="info"}:2 {lvl="warn"}:1]` {
			t.Errorf("streams %v", got)
		}
	})
	t.Run("label_from_kubernetes_is_shared", func(t *testing.T) {
		s, _ := encode(t, config.Map{"labels": "ns=$kubernetes['namespace_name']", "kubernetes_metadata": "off"}, bodies("a", "b", "c")...)
		if got := streams(s); len(got) != 1 || !strings.HasSuffix(got[0], ":3") {
			t.Errorf("streams %v", got)
		}
	})
	t.Run("drops_counted_per_record", func(t *testing.T) {
		var labels []string
		for i := range 16 {
			labels = append(labels, fmt.Sprintf("l%02d=v", i))
		}
		_, st := encode(t, config.Map{"labels": strings.Join(labels, ",")}, bodies("a", "b", "c")...)
		// 16 static + namespace, container, app = 19 names: 4 dropped a record.
		if st.DroppedLabels != 12 {
			t.Errorf("DroppedLabels = %d, want 12", st.DroppedLabels)
		}
	})
}

// encodeBodies encodes chunk with enc and returns its request bodies and stats.
func encodeBodies(t *testing.T, enc *Encoder, chunk []byte) ([][]byte, Stats) {
	t.Helper()
	var b Batch
	_ = enc.Encode(&b, "kube.var.log.containers.p_ns_c-0123.log", chunk)
	var out [][]byte
	for _, r := range b.Requests() {
		out = append(out, append([]byte(nil), r.Body...))
	}
	return out, b.Stats
}

// checkMetaMemo checks that the memo of a kubernetes map's encoded
// metadata changes nothing: the same bodies and stats as encoding every
// record's metadata.
func checkMetaMemo(t *testing.T, memo, plain *Encoder, chunk []byte) {
	t.Helper()
	got, gotStats := encodeBodies(t, memo, chunk)
	want, wantStats := encodeBodies(t, plain, chunk)
	if gotStats != wantStats {
		t.Errorf("stats %+v, want %+v", gotStats, wantStats)
	}
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("request %d differs", i)
		}
	}
}

// memoEncoders returns an encoder of config keys (nil: the default) and
// one that computes every record's labels, stream and metadata anew.
func memoEncoders(t testing.TB, keys config.Map) (memo, plain *Encoder) {
	cfg, err := parse(keys)
	if err != nil {
		t.Fatal(err)
	}
	memo, plain = New(options(cfg)), New(options(cfg))
	if !memo.memoLabels {
		t.Fatal("the config does not memoize labels")
	}
	plain.memoMeta, plain.memoLabels = false, false
	return memo, plain
}

// The memo of a record's stream follows the tenant, which the rest of the
// record may change.
func TestStreamMemoFollowsTenant(t *testing.T) {
	memo, plain := memoEncoders(t, config.Map{"tenant_id_key": "$team"})
	k8s := eventtest.FargateBody(0)["kubernetes"]
	var events []eventtest.Event
	for i, team := range []string{"a", "b", "a", "b", "b"} {
		body := eventtest.FargateBody(i)
		body["kubernetes"], body["team"] = k8s, team
		events = append(events, eventtest.Event{Time: t0.Add(time.Duration(i) * time.Second), Body: body})
	}
	chunk := eventtest.Chunk(true, events...)
	checkMetaMemo(t, memo, plain, chunk)
	if got, _ := encodeBodies(t, memo, chunk); len(got) != 2 {
		t.Errorf("%d requests, want one per tenant", len(got))
	}
}

func TestMetadataMemoChangesNothing(t *testing.T) {
	memo, plain := memoEncoders(t, nil)
	withK8s := func(i int, edit func(k map[string]any)) map[string]any {
		b := eventtest.FargateBody(i)
		k := b["kubernetes"].(map[string]any)
		edit(k)
		return b
	}
	same := eventtest.FargateBody(0)["kubernetes"]
	for _, tc := range []struct {
		name   string
		bodies []map[string]any
	}{
		{"one_container", []map[string]any{eventtest.FargateBody(0), withK8s(4, func(k map[string]any) {}), eventtest.FargateBody(8)}},
		{"maps_alternate", []map[string]any{eventtest.FargateBody(0), eventtest.FargateBody(1), eventtest.FargateBody(0), eventtest.FargateBody(1)}},
		{"invalid_utf8", []map[string]any{withK8s(0, func(k map[string]any) { k["pod_name"] = "p\xff\xfeod" }), withK8s(0, func(k map[string]any) { k["pod_name"] = "p\xff\xfeod" })}},
		{"over_64KB", []map[string]any{withK8s(0, func(k map[string]any) { k["pod_name"] = strings.Repeat("p", 70<<10) }), withK8s(0, func(k map[string]any) { k["pod_name"] = strings.Repeat("p", 70<<10) })}},
		{"near_64KB_with_level", []map[string]any{withK8s(0, func(k map[string]any) { k["pod_name"] = strings.Repeat("p", 65400) }), withK8s(0, func(k map[string]any) { k["pod_name"] = strings.Repeat("p", 65400) })}},
		{"no_kubernetes_map", []map[string]any{{"log": `{"level":"warn"}`, "stream": "stderr"}, eventtest.FargateBody(0), {"log": "x"}}},
		{"no_stream_json_level", []map[string]any{{"log": `{"level":"error","msg":"m"}`, "kubernetes": same}, {"log": "plain", "kubernetes": same}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var events []eventtest.Event
			for i, b := range tc.bodies {
				events = append(events, eventtest.Event{Time: t0.Add(time.Duration(i) * time.Second), Body: b})
			}
			checkMetaMemo(t, memo, plain, eventtest.Chunk(true, events...))
		})
	}
}

func FuzzMetaMemo(f *testing.F) {
	k8s := eventtest.FargateBody(0)["kubernetes"]
	b1, b2 := eventtest.FargateBody(1), eventtest.FargateBody(2)
	b1["kubernetes"], b2["kubernetes"] = k8s, k8s
	f.Add(eventtest.Chunk(true, eventtest.Event{Time: t0, Body: b1}, eventtest.Event{Time: t0, Body: b2}))
	f.Add(eventtest.Chunk(true, eventtest.Event{Time: t0, Body: k8sBody(nil)}, eventtest.Event{Time: t0, Body: eventtest.FargateBody(2)}))
	memo, plain := memoEncoders(f, nil)
	f.Fuzz(func(t *testing.T, chunk []byte) { checkMetaMemo(t, memo, plain, chunk) })
}

// With pod_log_rules on, a pod's Datadog log processing rules apply to its
// lines as sent: excluded lines are counted as filtered, masked values
// never leave; off (the default), the annotation changes nothing.
func TestPodLogRules(t *testing.T) {
	withRules := func(line string) map[string]any {
		b := k8sBody(map[string]any{"log": line})
		b["kubernetes"].(map[string]any)["annotations"] = map[string]any{"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[
			{"type":"exclude_at_match","name":"health","pattern":"GET /healthz"},
			{"type":"mask_sequences","name":"token","pattern":"token=\\w+","replace_placeholder":"token=***"},
			{"type":"include_at_match","name":"broken","pattern":"("}]}]`}
		return b
	}
	bodies := []map[string]any{withRules("GET /healthz"), withRules("GET /cart token=s3cr3t"), k8sBody(map[string]any{"log": "GET /healthz token=other"})}
	for _, tt := range []struct {
		keys     config.Map
		lines    []string
		filtered int
	}{
		{config.Map{"pod_log_rules": "on", "drop_single_key": "raw"}, []string{"GET /cart token=***", "GET /healthz token=other"}, 1},
		{config.Map{"pod_log_rules": "on", "drop_single_key": "off"}, []string{`{"log":"GET /cart token=***"}`, `{"log":"GET /healthz token=other"}`}, 1},
		{config.Map{"drop_single_key": "raw"}, []string{"GET /healthz", "GET /cart token=s3cr3t", "GET /healthz token=other"}, 0},
	} {
		cfg, err := parse(tt.keys)
		if err != nil {
			t.Fatal(err)
		}
		var events []eventtest.Event
		for i, b := range bodies {
			events = append(events, eventtest.Event{Time: t0.Add(time.Duration(i) * time.Second), Body: b})
		}
		var b Batch
		if err := New(options(cfg)).Encode(&b, "app", eventtest.Chunk(true, events...)); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, s := range decode(t, b.Requests()) {
			for _, st := range s.streams {
				for _, e := range st.Entries {
					lines = append(lines, e.Line)
				}
			}
		}
		slices.Sort(lines)
		want := slices.Sorted(slices.Values(tt.lines))
		if !slices.Equal(lines, want) || b.Stats.Filtered != tt.filtered {
			t.Errorf("%v: lines %q, %d filtered; want %q, %d", tt.keys, lines, b.Stats.Filtered, want, tt.filtered)
		}
		var problems []string
		b.problems.Each(func(line string, n int) { problems = append(problems, fmt.Sprintf("%d %s", n, line)) })
		if tt.filtered > 0 && (len(problems) != 1 || !strings.HasPrefix(problems[0], "2 pod shop/web-7d9f-abcde, container app:")) {
			t.Errorf("%v: problems %q, want the broken rule once for the pod's 2 records", tt.keys, problems)
		}
	}
}

// A pod controls its labels: with auto_kubernetes_labels they must not
// replace or push out the labels that say whose the stream is.
func TestPodLabelsCannotTakeIdentifyingNames(t *testing.T) {
	many := map[string]any{"app.kubernetes.io/name": "web"}
	for i := 0; i < 20; i++ {
		many[fmt.Sprintf("a%02d", i)] = "x"
	}
	tests := []struct {
		name   string
		keys   config.Map
		labels map[string]any
		want   []string // label pairs that must be in the selector
		absent []string
	}{
		{"colliding_pod_labels_dropped", config.Map{"auto_kubernetes_labels": "on"},
			map[string]any{"namespace": "victim", "container": "api", "app": "billing", "app.kubernetes.io/name": "web", "team": "t"},
			[]string{`namespace="shop"`, `container="app"`, `app="web"`, `team="t"`},
			[]string{"victim", `"api"`, "billing"}},
		{"user_label_collision_dropped", config.Map{"auto_kubernetes_labels": "on", "labels": "cluster=prod"},
			map[string]any{"cluster": "other", "app": "web"},
			[]string{`cluster="prod"`, `namespace="shop"`, `app="web"`}, []string{"other"}},
		{"limit_cuts_pod_labels_only", config.Map{"auto_kubernetes_labels": "on", "labels": "cluster=prod"}, many,
			[]string{`cluster="prod"`, `namespace="shop"`, `container="app"`, `app="web"`}, []string{"a19"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := k8sBody(nil)
			body["kubernetes"].(map[string]any)["labels"] = tt.labels
			got, _ := encode(t, tt.keys, body)
			labels, _ := one(t, got)
			for _, w := range tt.want {
				if !strings.Contains(labels, w) {
					t.Errorf("%s lacks %s", labels, w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(labels, a) {
					t.Errorf("%s has %s", labels, a)
				}
			}
			if n := strings.Count(labels, "="); n > maxLabelNames {
				t.Errorf("%d labels: %s", n, labels)
			}
		})
	}
}
