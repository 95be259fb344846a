package entry

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/event"
	"github.com/kubeship/kubeship/internal/event/eventtest"
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
		e, _ := read(event.Event{Body: eventtest.Marshal(tt.body)}, nil, nil)
		if got := string(e.Level()); got != tt.want {
			t.Errorf("%v: level %q, want %q", tt.body, got, tt.want)
		}
	}
	// A CRI message's JSON counts too.
	e, _ := read(event.Event{Body: eventtest.Marshal(map[string]any{"log": `2026-11-22T10:00:00Z stdout F {"level":"error"}`})}, nil, nil)
	if string(e.Level()) != "error" {
		t.Errorf("level of a CRI message: %q", e.Level())
	}
}

// The scanner agrees with encoding/json on valid objects.
func FuzzJSONLevel(f *testing.F) {
	f.Add(`{"level":"warn","msg":"x"}`)
	f.Add(`{"a":{"level":"no"},"severity":"ERROR","b":[1,"level"]}`)
	f.Add(`{"msg":"say \"level\":\"x\"","lvl":"debug"}`)
	f.Add(`{"level":"0","\b":""}`)
	f.Add(`{"lev\u0065l":"x","level":"a\nb","severity":"y","severity":"z"}`)
	f.Fuzz(func(t *testing.T, s string) {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil {
			return
		}
		got, want := jsonLevel([]byte(s)), wantLevel(t, s)
		if string(got) != want {
			t.Fatalf("%s: level %q, encoding/json says %q", s, got, want)
		}
	})
}

// wantLevel is jsonLevel's rule applied with encoding/json's tokenizer to a
// valid object: of the top-level keys written without escapes, the best
// ranked whose value is a non-empty string without escapes, the first of
// equal rank.
func wantLevel(t *testing.T, s string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	want, best := "", len(levelKeys)
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
		r := levelRank([]byte(strings.Trim(rawKey, `"`)))
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
