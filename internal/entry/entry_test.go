package entry

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/event"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/kube"
	"github.com/kubeship/kubeship/internal/record"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestParseCRI(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		time    string
		stream  string
		partial bool
		msg     string
	}{
		{"2026-11-22T10:00:00.123456789Z stdout F hello world", true, "2026-11-22T10:00:00.123456789Z", "stdout", false, "hello world"},
		{"2026-11-22T10:00:00.1Z stderr P part", true, "2026-11-22T10:00:00.1Z", "stderr", true, "part"},
		{"2026-11-22T12:00:00+02:00 stdout F x", true, "2026-11-22T10:00:00Z", "stdout", false, "x"},
		{"2026-11-22T10:00:00Z stdout F", true, "2026-11-22T10:00:00Z", "stdout", false, ""},
		{"2026-11-22T10:00:00Z stdout F:extra  two spaces", true, "2026-11-22T10:00:00Z", "stdout", false, " two spaces"},
		{"2024-02-29T23:59:59.999999999Z stdout F leap", true, "2024-02-29T23:59:59.999999999Z", "stdout", false, "leap"},
		{"2025-02-29T10:00:00Z stdout F no leap day", false, "", "", false, ""},
		{"2026-11-22 10:00:00Z stdout F x", false, "", "", false, ""},
		{"2026-11-22T10:00:00Z stdin F x", false, "", "", false, ""},
		{"2026-11-22T10:00:00Z stdout X x", false, "", "", false, ""},
		{"hello world", false, "", "", false, ""},
		{"2026-11-22T10:00:00.Z stdout F x", false, "", "", false, ""},
	}
	for _, tt := range tests {
		l, ok := ParseCRI([]byte(tt.in))
		if ok != tt.ok {
			t.Errorf("%q: ok = %v", tt.in, ok)
			continue
		}
		if !ok {
			continue
		}
		want, _ := time.Parse(time.RFC3339Nano, tt.time)
		if l.Time != want.UnixNano() || string(l.Stream) != tt.stream || l.Partial != tt.partial || string(l.Message) != tt.msg {
			t.Errorf("%q: got %s %q %v %q", tt.in, time.Unix(0, l.Time).UTC().Format(time.RFC3339Nano), l.Stream, l.Partial, l.Message)
		}
	}
}

// The hand-written time parser agrees with time.Parse on whatever it accepts.
func FuzzParseCRI(f *testing.F) {
	f.Add("2026-11-22T10:00:00.123456789Z stdout F hello")
	f.Add("1999-12-31T23:59:59-07:30 stderr P x")
	f.Add("0001-01-01T00:00:00Z stdout F")
	f.Fuzz(func(t *testing.T, s string) {
		l, ok := ParseCRI([]byte(s))
		if !ok {
			return
		}
		ts := s[:strings.IndexByte(s, ' ')]
		want, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatalf("accepted %q that time.Parse rejects: %v", ts, err)
		}
		if l.Time != want.UnixNano() {
			t.Fatalf("%q: %d, time.Parse says %d", ts, l.Time, want.UnixNano())
		}
	})
}

func crl(sec int, stream, tag, msg string) map[string]any {
	return map[string]any{"log": fmt.Sprintf("%s %s %s %s", t0.Add(time.Duration(sec)*time.Second).Format(time.RFC3339Nano), stream, tag, msg)}
}

type got struct {
	Time   int64
	Log    string
	Stream string
}

func readAll(t *testing.T, bodies ...map[string]any) ([]got, *Reader) {
	t.Helper()
	var events []eventtest.Event
	for i, b := range bodies {
		events = append(events, eventtest.Event{Time: t0.Add(time.Hour + time.Duration(i)), Body: b})
	}
	return readEvents(t, events...)
}

func readEvents(t *testing.T, events ...eventtest.Event) ([]got, *Reader) {
	t.Helper()
	var r Reader
	r.Reset(eventtest.Chunk(true, events...))
	var out []got
	for r.Next() {
		e := r.Entry()
		out = append(out, got{e.Time - t0.UnixNano(), string(e.Message()), string(e.Stream)})
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return out, &r
}

func TestReaderCRIAndJoining(t *testing.T) {
	sec := int64(time.Second)
	tests := []struct {
		name   string
		bodies []map[string]any
		want   []got
		joined int
	}{
		{"raw_cri_lines_use_their_time_stream_message", []map[string]any{crl(1, "stdout", "F", "a"), crl(2, "stderr", "F", "b")},
			[]got{{1 * sec, "a", "stdout"}, {2 * sec, "b", "stderr"}}, 0},
		{"raw_partial_lines_joined", []map[string]any{crl(1, "stdout", "P", "he"), crl(2, "stdout", "P", "ll"), crl(3, "stdout", "F", "o"), crl(4, "stdout", "F", "next")},
			[]got{{1 * sec, "hello", "stdout"}, {4 * sec, "next", "stdout"}}, 2},
		{"parsed_logtag_partials_joined", []map[string]any{{"log": "he", "logtag": "P", "stream": "stdout"}, {"log": "llo", "logtag": "F", "stream": "stdout"}},
			[]got{{int64(time.Hour), "hello", "stdout"}}, 1},
		{"partial_at_chunk_end_is_sent", []map[string]any{crl(1, "stdout", "F", "a"), crl(2, "stdout", "P", "cut")},
			[]got{{1 * sec, "a", "stdout"}, {2 * sec, "cut", "stdout"}}, 0},
		{"parsed_records_pass_through", []map[string]any{{"log": "2026-11-22T10:00:00Z stdout F looks like cri", "stream": "stdout"}},
			[]got{{int64(time.Hour), "2026-11-22T10:00:00Z stdout F looks like cri", "stdout"}}, 0},
		{"plain_records_pass_through", []map[string]any{{"message": "x"}}, []got{{int64(time.Hour), "", ""}}, 0},
		{"elasticsearch_timestamp_is_the_event_time", []map[string]any{{"log": "x", "@timestamp": "2026-11-22T10:00:05.123Z", "flb_tag": "kube.x"}},
			[]got{{5*sec + 123*int64(time.Millisecond), "x", ""}}, 0},
		{"unreadable_timestamp_ignored", []map[string]any{{"log": "x", "@timestamp": "yesterday"}}, []got{{int64(time.Hour), "x", ""}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, r := readAll(t, tt.bodies...)
			if fmt.Sprint(out) != fmt.Sprint(tt.want) {
				t.Errorf("got  %v\nwant %v", out, tt.want)
			}
			if r.Joined() != tt.joined {
				t.Errorf("joined %d, want %d", r.Joined(), tt.joined)
			}
		})
	}
}

// line is a container's log line, or a part of one, for the two shapes a
// router sends it in.
type line struct {
	sec         int
	stream, tag string
	msg         string
}

// raw leaves the CRI line in `log`, as a router without a parser does; the
// event time is when the router read it.
func (l line) raw(i int) eventtest.Event {
	return eventtest.Event{Time: t0.Add(time.Hour + time.Duration(i)), Body: crl(l.sec, l.stream, l.tag, l.msg)}
}

// parsed is the record of the router's CRI regex parser, whose time is the
// event time.
func (l line) parsed(int) eventtest.Event {
	ts := t0.Add(time.Duration(l.sec) * time.Second)
	return eventtest.Event{Time: ts, Body: map[string]any{"time": ts.Format(time.RFC3339Nano), "stream": l.stream, "logtag": l.tag, "log": l.msg}}
}

// containerd writes stdout and stderr to one file, so the parts of a split
// line can have the other stream's lines between them.
func TestReaderJoinsPartsOfOneStream(t *testing.T) {
	sec := int64(time.Second)
	tests := []struct {
		name   string
		lines  []line
		want   []got
		joined int
	}{
		{"one_stream_parts_joined", []line{{1, "stdout", "P", "he"}, {2, "stdout", "P", "ll"}, {3, "stdout", "F", "o"}, {4, "stdout", "F", "next"}},
			[]got{{1 * sec, "hello", "stdout"}, {4 * sec, "next", "stdout"}}, 2},
		{"other_stream_line_passes_whole_between_parts", []line{{1, "stdout", "P", "OUT-part1-"}, {2, "stderr", "F", "ERR whole line"}, {3, "stdout", "F", "OUT-part2"}},
			[]got{{2 * sec, "ERR whole line", "stderr"}, {1 * sec, "OUT-part1-OUT-part2", "stdout"}}, 1},
		{"both_streams_split_at_once", []line{{1, "stdout", "P", "o1-"}, {2, "stderr", "P", "e1-"}, {3, "stdout", "P", "o2-"}, {4, "stderr", "F", "e2"}, {5, "stdout", "F", "o3"}},
			[]got{{2 * sec, "e1-e2", "stderr"}, {1 * sec, "o1-o2-o3", "stdout"}}, 3},
		{"parts_separated_by_other_stream_finals", []line{{1, "stdout", "P", "a-"}, {2, "stderr", "F", "E1"}, {3, "stdout", "P", "b-"}, {4, "stderr", "F", "E2"}, {5, "stdout", "F", "c"}},
			[]got{{2 * sec, "E1", "stderr"}, {4 * sec, "E2", "stderr"}, {1 * sec, "a-b-c", "stdout"}}, 2},
		{"next_split_line_of_a_stream_starts_afresh", []line{{1, "stdout", "P", "a"}, {2, "stdout", "F", "b"}, {3, "stdout", "P", "c"}, {4, "stderr", "F", "E"}, {5, "stdout", "F", "d"}},
			[]got{{1 * sec, "ab", "stdout"}, {4 * sec, "E", "stderr"}, {3 * sec, "cd", "stdout"}}, 2},
		{"pending_parts_of_both_streams_sent_at_chunk_end_in_order", []line{{1, "stdout", "F", "x"}, {2, "stderr", "P", "e1-"}, {3, "stdout", "P", "o1"}, {4, "stderr", "P", "e2"}},
			[]got{{1 * sec, "x", "stdout"}, {2 * sec, "e1-e2", "stderr"}, {3 * sec, "o1", "stdout"}}, 1},
	}
	for _, shape := range []struct {
		name  string
		event func(line, int) eventtest.Event
	}{{"raw", line.raw}, {"parsed", line.parsed}} {
		for _, tt := range tests {
			t.Run(shape.name+"/"+tt.name, func(t *testing.T) {
				var events []eventtest.Event
				for i, l := range tt.lines {
					events = append(events, shape.event(l, i))
				}
				out, r := readEvents(t, events...)
				if fmt.Sprint(out) != fmt.Sprint(tt.want) {
					t.Errorf("got  %v\nwant %v", out, tt.want)
				}
				if r.Joined() != tt.joined {
					t.Errorf("joined %d, want %d", r.Joined(), tt.joined)
				}
			})
		}
	}
}

// The Reader joins as a per-container, per-stream oracle does: a part waits
// for the next parts of its own container's stream; a final part, or any
// line of that stream without P, closes it; parts still waiting at the
// chunk's end are sent in the order their lines began. Each input byte is
// one record: bit 0 the stream, bit 1 P, bits 2-3 the shape: a raw CRI
// line, parsed fields, parsed fields without `stream`, or a plain record;
// bits 4-5 its container: none (no kubernetes map), pod a, pod a with
// another map (a2, the same docker_id), or pod b. And, whatever the oracle
// says, no entry's message holds bytes of another container's record.
func FuzzReaderJoin(f *testing.F) {
	f.Add([]byte{2, 1, 0})                  // stdout P, stderr F, stdout F
	f.Add([]byte{6, 7, 6, 5, 4})            // both streams split at once, parsed
	f.Add([]byte{2, 1, 6, 13, 0, 3})        // mixed shapes, a plain record, stderr P at the end
	f.Add([]byte{1, 10, 15, 8, 14, 3, 2})   // records without a stream
	f.Add([]byte{0x22, 3, 2, 7, 6, 5, 0xa}) // a Reader abandoned mid-chunk and Reset
	f.Add([]byte{0x16, 0x34})               // pod a's part, pod b's whole line
	f.Add([]byte{0x16, 0x36, 0x24, 0x34})   // parts of a and b interleaved, a's map changing
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64 {
			data = data[:64]
		}
		type out struct {
			Time           int64
			Log, Stream, I string
		}
		var events []eventtest.Event
		var want []out
		type pending struct {
			start, parts int
			msg          string
			stream       string
		}
		waiting := map[string]*pending{}
		joined := 0
		// container is the docker_id of each record's container.
		var container []string
		for i, b := range data {
			stream, tag, msg := [2]string{"stdout", "stderr"}[b&1], [2]string{"F", "P"}[b>>1&1], fmt.Sprintf("m%d.", i)
			pod := [4]string{"", "a", "a2", "b"}[b>>4&3]
			container = append(container, string(kube.FromMap(pods[pod]).ContainerID))
			ts := t0.Add(time.Duration(i) * time.Second)
			var ev eventtest.Event
			switch b >> 2 & 3 {
			case 0:
				ev = line{i, stream, tag, msg}.raw(i)
			case 1:
				ev = line{i, stream, tag, msg}.parsed(i)
			case 2:
				ev = eventtest.Event{Time: ts, Body: map[string]any{"logtag": tag, "log": msg}}
				stream = ""
			case 3:
				ev = eventtest.Event{Time: ts, Body: map[string]any{"log": msg}}
				stream, tag = "", "F"
			}
			ev.Body.(map[string]any)["i"] = strconv.Itoa(i)
			if pod != "" {
				ev.Body.(map[string]any)["kubernetes"] = pods[pod]
			}
			events = append(events, ev)
			key := container[i] + "/" + stream
			p := waiting[key]
			if p == nil {
				p = &pending{start: i, stream: stream}
				waiting[key] = p
			}
			p.msg += msg
			p.parts++
			if tag == "F" {
				want = append(want, out{int64(p.start) * int64(time.Second), p.msg, stream, strconv.Itoa(p.start)})
				joined += p.parts - 1
				delete(waiting, key)
			}
		}
		var rest []string
		for s := range waiting {
			rest = append(rest, s)
		}
		slices.SortFunc(rest, func(a, b string) int { return waiting[a].start - waiting[b].start })
		for _, s := range rest {
			p := waiting[s]
			want = append(want, out{int64(p.start) * int64(time.Second), p.msg, p.stream, strconv.Itoa(p.start)})
			joined += p.parts - 1
		}

		chunk := eventtest.Chunk(true, events...)
		var r Reader
		// Nothing of a chunk abandoned mid-way leaks into the next.
		r.Reset(chunk)
		for n := 0; n < len(data) && n < int(data[0]>>4) && r.Next(); n++ {
		}
		r.Reset(chunk)
		var got []out
		for r.Next() {
			e := r.Entry()
			o := out{e.Time - t0.UnixNano(), string(e.Message()), string(e.Stream), ""}
			for _, fl := range e.Fields {
				if string(fl.Key) == "i" {
					v, _ := record.Text(fl.Value)
					o.I = string(v)
				}
			}
			got = append(got, o)
			// The entry is its first record's: every part joined to it
			// is a record of that record's container.
			first, _ := strconv.Atoi(o.I)
			for _, m := range strings.Split(strings.TrimSuffix(o.Log, "."), ".") {
				if i, err := strconv.Atoi(strings.TrimPrefix(m, "m")); err != nil || container[i] != container[first] {
					t.Fatalf("%v: entry %q of record %d (container %q) holds %q of another container", data, o.Log, first, container[first], m)
				}
			}
		}
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%v:\ngot  %v\nwant %v", data, got, want)
		}
		if r.Joined() != joined {
			t.Fatalf("%v: joined %d, want %d", data, r.Joined(), joined)
		}
	})
}

func TestLevel(t *testing.T) {
	tests := []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"log": `{"level":"warn","msg":"x"}`}, "warn"},
		{map[string]any{"log": `{"msg":"x","severity":"ERROR","nested":{"level":"no"}}`}, "ERROR"},
		{map[string]any{"log": `{"severity":"low","level":"info"}`}, "info"},
		{map[string]any{"log": "plain text level=warn"}, ""},
		{map[string]any{"log": `{"level":5}`}, ""},
		{map[string]any{"log": `{"level":"a\"b"}`}, ""},
		{map[string]any{"log": `{broken`}, ""},
		{map[string]any{"log": "x", "level": "debug"}, "debug"},
	}
	for _, tt := range tests {
		e, _ := read(event.Event{Body: eventtest.Marshal(tt.body)}, nil, nil, nil)
		if got := string(e.Context().Level); got != tt.want {
			t.Errorf("%v: level %q, want %q", tt.body, got, tt.want)
		}
	}
	// A CRI message's JSON counts too.
	e, _ := read(event.Event{Body: eventtest.Marshal(map[string]any{"log": `2026-11-22T10:00:00Z stdout F {"level":"error"}`})}, nil, nil, nil)
	if string(e.Context().Level) != "error" {
		t.Errorf("level of a CRI message: %q", e.Context().Level)
	}
}

// Trace and span ids come from the record's fields, else the JSON message,
// best-ranked key first; traceparent gives both; off (no keys) reads none.
func TestTraceContext(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	defaults := NewKeys(DefaultTraceKeys, DefaultSpanKeys)
	tests := []struct {
		name              string
		keys              *Keys
		body              map[string]any
		trace, span, from string
	}{
		{"json_message", defaults, map[string]any{"log": `{"msg":"x","trace_id":"abc1","span_id":"def2"}`}, "abc1", "def2", "trace_id"},
		{"camel_case", defaults, map[string]any{"log": `{"traceId":"abc1","spanId":"def2","level":"info"}`}, "abc1", "def2", "traceId"},
		{"record_fields_win", defaults, map[string]any{"traceID": "rec1", "spanID": "rec2", "log": `{"trace_id":"json1","span_id":"json2"}`}, "rec1", "rec2", "traceID"},
		{"record_trace_json_span", defaults, map[string]any{"trace_id": "rec1", "log": `{"span_id":"json2"}`}, "rec1", "json2", "trace_id"},
		{"best_rank_wins", defaults, map[string]any{"log": `{"dd.trace_id":"123","trace_id":"abc1"}`}, "abc1", "", "trace_id"},
		{"datadog_tracer", defaults, map[string]any{"log": `{"dd.trace_id":"1234567","dd.span_id":"89"}`}, "1234567", "89", "dd.trace_id"},
		{"traceparent", defaults, map[string]any{"traceparent": tp}, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "traceparent"},
		{"span_field_over_traceparent", defaults, map[string]any{"traceparent": tp, "log": `{"span_id":"s1"}`}, "4bf92f3577b34da6a3ce929d0e0e4736", "s1", "traceparent"},
		{"bad_traceparent", defaults, map[string]any{"traceparent": "00-xyz-01"}, "", "", ""},
		{"nested_ignored", defaults, map[string]any{"log": `{"ctx":{"trace_id":"no"}}`}, "", "", ""},
		{"escaped_ignored", defaults, map[string]any{"log": `{"trace_id":"a\"b"}`}, "", "", ""},
		{"off", nil, map[string]any{"log": `{"trace_id":"abc1","span_id":"def2"}`}, "", "", ""},
		{"custom_keys", NewKeys([]string{"tid"}, []string{"sid"}), map[string]any{"log": `{"trace_id":"no","tid":"t","sid":"s"}`}, "t", "s", "tid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := read(event.Event{Body: eventtest.Marshal(tt.body)}, nil, nil, tt.keys)
			c := e.Context()
			if string(c.TraceID) != tt.trace || string(c.SpanID) != tt.span || c.TraceKey != tt.from {
				t.Errorf("trace %q span %q from %q, want %q %q from %q", c.TraceID, c.SpanID, c.TraceKey, tt.trace, tt.span, tt.from)
			}
		})
	}
}

// The scanner agrees with encoding/json on valid objects.
func FuzzJSONContext(f *testing.F) {
	f.Add(`{"level":"warn","msg":"x"}`)
	f.Add(`{"a":{"level":"no"},"severity":"ERROR","b":[1,"level"]}`)
	f.Add(`{"msg":"say \"level\":\"x\"","lvl":"debug"}`)
	f.Add(`{"level":"0","\b":""}`)
	f.Add(`{"lev\u0065l":"x","level":"a\nb","severity":"y","severity":"z"}`)
	f.Add(`{"trace_id":"a","traceId":"b","spanId":"c","dd.span_id":"d","x":{"span_id":"e"}}`)
	keys := NewKeys(DefaultTraceKeys[:4], DefaultSpanKeys) // traceparent's parsing is TestTraceContext's
	f.Fuzz(func(t *testing.T, s string) {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil {
			return
		}
		got := scanJSON([]byte(s), keys)
		for _, k := range []struct {
			names []string
			got   []byte
		}{{levelKeys, got.Level}, {keys.trace, got.TraceID}, {keys.span, got.SpanID}} {
			if want := wantField(t, s, k.names); string(k.got) != want {
				t.Fatalf("%s: %v: %q, encoding/json says %q", s, k.names, k.got, want)
			}
		}
	})
}

// wantField is scanJSON's rule applied with encoding/json's tokenizer to a
// valid object: of the top-level keys written without escapes, the best
// ranked whose value is a non-empty string without escapes, the first of
// equal rank.
func wantField(t *testing.T, s string, names []string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	want, best := "", len(names)
	for dec.More() {
		from := dec.InputOffset()
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		rawKey := strings.Trim(s[from:dec.InputOffset()], " \t\r\n,")
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		r := slices.Index(names, strings.Trim(rawKey, `"`))
		if r < 0 {
			r = len(names)
		}
		if strings.Contains(rawKey, `\`) || r >= best {
			continue
		}
		if len(v) > 2 && v[0] == '"' && !strings.Contains(string(v), `\`) {
			want, best = string(v[1:len(v)-1]), r
		}
	}
	return want
}

// A joined entry keeps the first part's fields while later parts are read.
func TestJoinedEntryKeepsFirstFields(t *testing.T) {
	_, r := readAll(t) // a Reader to reuse
	r.Reset(eventtest.Chunk(true,
		eventtest.Event{Time: t0, Body: map[string]any{"log": "a", "logtag": "P", "stream": "stdout", "first": "yes"}},
		eventtest.Event{Time: t0, Body: map[string]any{"log": "b", "logtag": "F", "stream": "stdout", "last": "yes"}},
		eventtest.Event{Time: t0, Body: map[string]any{"log": "c", "stream": "stdout"}},
	))
	var keys []string
	for r.Next() {
		var ks []string
		for _, f := range r.Entry().Fields {
			ks = append(ks, string(f.Key))
		}
		keys = append(keys, strings.Join(ks, ","))
	}
	if want := "first,log,logtag,stream|log,stream"; strings.Join(keys, "|") != want {
		t.Errorf("fields %q, want %q", strings.Join(keys, "|"), want)
	}
}

// An entry's Kubernetes is the record's kubernetes map, and nil when the
// record has none or its value is not a map.
func TestKubernetesIsAMap(t *testing.T) {
	var r Reader
	r.Reset(eventtest.Chunk(true,
		eventtest.Event{Time: t0, Body: map[string]any{"log": "a", "kubernetes": map[string]any{"pod_name": "p"}}},
		eventtest.Event{Time: t0, Body: map[string]any{"log": "b", "kubernetes": "p"}},
		eventtest.Event{Time: t0, Body: map[string]any{"log": "c"}},
	))
	var got []string
	for r.Next() {
		got = append(got, fmt.Sprintf("%x", r.Entry().Kubernetes))
	}
	if want := []string{fmt.Sprintf("%x", eventtest.Marshal(map[string]any{"pod_name": "p"})), "", ""}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Kubernetes = %q, want %q", got, want)
	}
}

// Which kubernetes maps fargateChunk's records carry.
type chunkMaps uint8

const (
	// mapPerRecord: FargateBody's own, which differ from record to record
	// (13 containers, each on several hosts): the worst case, where every
	// part of a split line reads its map's docker_id.
	mapPerRecord chunkMaps = iota
	// mapPerPod: 13 containers, each with one map, as a tag that covers
	// several containers carries them.
	mapPerPod
	// oneMap: one container, as a tail tag of one file carries it.
	oneMap
)

// fargateChunk is 1000 Fargate-shaped records: raw CRI lines in `log`, or
// the CRI parser's fields; with split, two of three records are P parts and
// the streams' parts interleave.
func fargateChunk(raw, split bool, maps chunkMaps) []byte {
	events := make([]eventtest.Event, 1000)
	for i := range events {
		body := eventtest.FargateBody(i)
		switch maps {
		case mapPerPod:
			body["kubernetes"] = eventtest.FargateBody(i % 13)["kubernetes"]
		case oneMap:
			body["kubernetes"] = eventtest.FargateBody(0)["kubernetes"]
		}
		if split && i%3 != 2 {
			body["logtag"] = "P"
		}
		if raw {
			body["log"] = fmt.Sprintf("%s %s %s %s", body["time"], body["stream"], body["logtag"], body["log"])
			delete(body, "stream")
			delete(body, "logtag")
			delete(body, "time")
		}
		events[i] = eventtest.Event{Time: t0.Add(time.Duration(i)), Body: body}
	}
	return eventtest.Chunk(true, events...)
}

// A reused Reader allocates nothing per record once its buffers have grown,
// split lines of both streams and of several containers included.
func TestReaderAllocatesNothing(t *testing.T) {
	for _, raw := range []bool{false, true} {
		for _, split := range []bool{false, true} {
			for _, maps := range []chunkMaps{mapPerRecord, mapPerPod, oneMap} {
				chunk := fargateChunk(raw, split, maps)
				var r Reader
				allocs := testing.AllocsPerRun(20, func() {
					r.Reset(chunk)
					for r.Next() {
					}
				})
				if r.Err() != nil {
					t.Fatal(r.Err())
				}
				if allocs != 0 {
					t.Errorf("raw %v, split %v, maps %d: %v allocations per chunk, want 0", raw, split, maps, allocs)
				}
			}
		}
	}
}

// BenchmarkReader reads a chunk of 1000 records with a reused Reader, as a
// pooled Datadog batch does. The split chunks' records come from 13
// containers, each record with its own map (split_interleaved, see
// mapPerRecord), or each container with its own (split_pods), or from one
// container (split_one_container).
func BenchmarkReader(b *testing.B) {
	for _, bc := range []struct {
		name       string
		raw, split bool
		maps       chunkMaps
		join       *Joining
	}{{"parsed", false, false, mapPerRecord, nil}, {"raw_cri", true, false, mapPerRecord, nil},
		{"parsed_split_interleaved", false, true, mapPerRecord, nil}, {"raw_cri_split_interleaved", true, true, mapPerRecord, nil},
		{"parsed_split_pods", false, true, mapPerPod, nil}, {"raw_cri_split_pods", true, true, mapPerPod, nil},
		{"parsed_split_one_container", false, true, oneMap, nil}, {"raw_cri_split_one_container", true, true, oneMap, nil},
		// auto_multiline on lines that are no trace: what joining costs
		// every line (test/multiline's benchmarks read traces).
		{"parsed_one_container_auto_multiline", false, false, oneMap, &Joining{Auto: true}},
		{"parsed_one_container", false, false, oneMap, nil}} {
		b.Run(bc.name, func(b *testing.B) {
			chunk := fargateChunk(bc.raw, bc.split, bc.maps)
			var r Reader
			r.Join = bc.join
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(chunk)
				for r.Next() {
				}
				if r.Err() != nil {
					b.Fatal(r.Err())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
		})
	}
}
