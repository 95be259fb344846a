package entry

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/kube"
	"github.com/kubeship/kubeship/internal/record"
)

// pl is a line of a pod's stream, as the router's CRI parser and kubernetes
// filter make its record (no log when the line is empty, as the regex
// parser drops an empty capture).
type pl struct {
	pod, stream, text string
}

func (l pl) event(i int) eventtest.Event {
	kv := []any{"stream", l.stream, "logtag", "F"}
	if l.text != "" {
		// i tells which record an entry's fields are (an empty line's
		// record has Fluent Bit's keys only).
		kv = append(kv, "log", l.text, "i", strconv.Itoa(i))
	}
	if l.pod != "" {
		kv = append(kv, "kubernetes", pods[l.pod])
	}
	return eventtest.Event{Time: t0.Add(time.Duration(i) * time.Second), Body: eventtest.Ordered(kv...)}
}

type joinedOut struct {
	Sec               int
	Log, Stream, Name string
	I                 string // the `i` of its fields: its first record's
}

func readJoined(t testing.TB, j *Joining, lines ...pl) ([]joinedOut, *Reader) {
	t.Helper()
	var events []eventtest.Event
	for i, l := range lines {
		events = append(events, l.event(i))
	}
	r := &Reader{Join: j}
	r.Reset(eventtest.Chunk(true, events...))
	var out []joinedOut
	for r.Next() {
		e := r.Entry()
		o := joinedOut{int((e.Time - t0.UnixNano()) / int64(time.Second)), string(e.Message()), string(e.Stream),
			string(kube.FromMap(e.Kubernetes).Namespace), ""}
		for _, f := range e.Fields {
			if string(f.Key) == "i" {
				v, _ := record.Text(f.Value)
				o.I = string(v)
			}
		}
		out = append(out, o)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return out, r
}

var auto = &Joining{Auto: true}

// A trace joins into its first line's entry, with that line's time, fields
// and metadata, whatever lines of the other stream and of other containers
// come between its lines; and they pass through as they are.
func TestReaderJoinsATracePerContainerAndStream(t *testing.T) {
	got, r := readJoined(t, auto,
		pl{"a", "stdout", "2024-05-14 ERROR c.e.Repo - Failed to persist order 8813"},
		pl{"a", "stdout", "java.lang.IllegalStateException: boom"},
		pl{"a", "stderr", "Picked up JAVA_TOOL_OPTIONS"},
		pl{"b", "stdout", "\tat b.is.another.Container(B.java:1)"},
		pl{"a", "stdout", "\tat com.example.Repo.save(Repo.java:42)"},
		pl{"x", "stdout", "plain line of x"},
		pl{"a", "stdout", "Caused by: java.io.IOException: disk full"},
		pl{"a", "stdout", "\t... 3 more"},
		pl{"a", "stdout", "2024-05-14 INFO next"},
	)
	want := []joinedOut{
		{0, "2024-05-14 ERROR c.e.Repo - Failed to persist order 8813\njava.lang.IllegalStateException: boom\n\tat com.example.Repo.save(Repo.java:42)\nCaused by: java.io.IOException: disk full\n\t... 3 more", "stdout", "ns-a", "0"},
		{2, "Picked up JAVA_TOOL_OPTIONS", "stderr", "ns-a", "2"},
		{3, "\tat b.is.another.Container(B.java:1)", "stdout", "ns-b", "3"},
		{5, "plain line of x", "stdout", "ns-x", "5"},
		{8, "2024-05-14 INFO next", "stdout", "ns-a", "8"},
	}
	sortOut(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
	joined, cut, split := r.Multiline()
	// b's chunk begins with a frame: a trace begun in an earlier chunk.
	if joined != 4 || cut != 0 || split != 1 {
		t.Errorf("joined %d, cut %d, split %d; want 4, 0, 1", joined, cut, split)
	}
}

func sortOut(o []joinedOut) {
	slices.SortStableFunc(o, func(a, b joinedOut) int { return a.Sec - b.Sec })
}

// Blank lines inside a trace join it (their records have no log); a blank
// line that no trace line follows is its own record.
func TestReaderJoinsBlankLinesOfATrace(t *testing.T) {
	got, _ := readJoined(t, auto,
		pl{"a", "stderr", "panic: boom"},
		pl{"a", "stderr", ""},
		pl{"a", "stderr", "goroutine 1 [running]:"},
		pl{"a", "stderr", "main.main()"},
		pl{"a", "stderr", "\t/src/main.go:3 +0x1d"},
		pl{"a", "stderr", ""},
		pl{"a", "stderr", "2024/05/14 10:00:00 restarted"},
	)
	want := []joinedOut{
		{0, "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:3 +0x1d", "stderr", "ns-a", "0"},
		{5, "", "stderr", "ns-a", ""},
		{6, "2024/05/14 10:00:00 restarted", "stderr", "ns-a", "6"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

// A record whose JSON line was merged and removed (Merge_Log On, Keep_Log
// Off) has no log but fields of its own: never taken for an empty line.
func TestReaderDoesNotJoinAMergedRecord(t *testing.T) {
	ts := t0.Format(time.RFC3339Nano)
	events := []eventtest.Event{
		pl{"a", "stdout", "java.lang.IllegalStateException: boom"}.event(0),
		{Time: t0.Add(time.Hour), Body: eventtest.Ordered("time", ts, "stream", "stdout", "logtag", "F", "level", "info", "msg", "merged", "kubernetes", pods["a"])},
		pl{"a", "stdout", "\tat com.example.Repo.save(Repo.java:42)"}.event(2),
	}
	r := Reader{Join: auto}
	r.Reset(eventtest.Chunk(true, events...))
	var got []string
	for r.Next() {
		e := r.Entry()
		got = append(got, string(e.Message()))
		if e.Message() == nil && len(e.Fields) != 6 {
			t.Errorf("the merged record lost its fields: %d", len(e.Fields))
		}
	}
	// The frame continues the trace across the merged record, which
	// passes through as it is.
	want := []string{"", "java.lang.IllegalStateException: boom\n\tat com.example.Repo.save(Repo.java:42)"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// A joined entry stops growing at MaxBytes and at MaxLines: the next line
// begins a new entry that goes on joining, each counted.
func TestReaderBoundsAJoinedEntry(t *testing.T) {
	frame := "\tat com.example.Deep.recurse(Deep.java:10)"
	lines := []pl{{"a", "stdout", "java.lang.StackOverflowError: deep"}}
	for range 30 {
		lines = append(lines, pl{"a", "stdout", frame})
	}
	max := len(lines[0].text) + 10*(len(frame)+1)
	got, r := readJoined(t, &Joining{Auto: true, MaxBytes: max}, lines...)
	var sizes []int
	for _, o := range got {
		if len(o.Log) > max {
			t.Errorf("an entry of %d bytes, over %d", len(o.Log), max)
		}
		sizes = append(sizes, strings.Count(o.Log, "\n")+1)
	}
	if !slices.Equal(sizes, []int{11, 10, 10}) {
		t.Errorf("entries of %v lines, want [11 10 10]", sizes)
	}
	if joined, cut, _ := r.Multiline(); joined != 28 || cut != 2 {
		t.Errorf("joined %d, cut %d; want 28, 2", joined, cut)
	}

	lines = lines[:1]
	for range MaxLines + 5 {
		lines = append(lines, pl{"a", "stdout", frame})
	}
	got, _ = readJoined(t, auto, lines...)
	if len(got) != 2 || strings.Count(got[0].Log, "\n")+1 != MaxLines {
		t.Errorf("%d entries, the first of %d lines; want 2, %d", len(got), strings.Count(got[0].Log, "\n")+1, MaxLines)
	}
}

// A line the runtime split (P parts) inside a trace joins whole.
func TestReaderJoinsSplitLinesInATrace(t *testing.T) {
	r := Reader{Join: auto}
	long := "\tat com.example." + strings.Repeat("x", 100) + "(A.java:1)"
	r.Reset(eventtest.Chunk(true,
		line{0, "stdout", "F", "java.lang.IllegalStateException: boom"}.raw(0),
		line{1, "stdout", "P", long[:50]}.raw(1),
		line{2, "stderr", "F", "other stream"}.raw(2),
		line{3, "stdout", "F", long[50:]}.raw(3),
		line{4, "stdout", "F", "\tat com.example.B.c(B.java:2)"}.raw(4),
	))
	var got []string
	for r.Next() {
		got = append(got, string(r.Entry().Message()))
	}
	want := []string{"java.lang.IllegalStateException: boom\n" + long + "\n\tat com.example.B.c(B.java:2)", "other stream"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// A pod's multi_line rule replaces detection for its container: a line it
// matches begins a record, the others are joined.
func TestReaderAppliesAPodsRule(t *testing.T) {
	rule := regexp.MustCompile(`^\d{4}-`)
	j := &Joining{Auto: true, Rule: func(k8s []byte) *regexp.Regexp {
		if string(kube.FromMap(k8s).Pod) == "b" {
			return rule
		}
		return nil
	}}
	got, _ := readJoined(t, j,
		pl{"b", "stdout", "2024-05-14 10:00:00 INFO effective configuration:"},
		pl{"b", "stdout", "  pool.max = 20"},
		pl{"a", "stdout", "2024-05-14 10:00:00 INFO effective configuration:"},
		pl{"a", "stdout", "  pool.max = 20"},
		pl{"b", "stdout", "2024-05-14 10:00:01 INFO started"},
	)
	want := []joinedOut{
		{0, "2024-05-14 10:00:00 INFO effective configuration:\n  pool.max = 20", "stdout", "ns-b", "0"},
		{2, "2024-05-14 10:00:00 INFO effective configuration:", "stdout", "ns-a", "2"},
		{3, "  pool.max = 20", "stdout", "ns-a", "3"},
		{4, "2024-05-14 10:00:01 INFO started", "stdout", "ns-b", "4"},
	}
	sortOut(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

// The chunk's end sends what is held, and the next chunk (a reused reader)
// starts afresh: a trace that straddles them arrives as two entries, the
// second counted as split.
func TestReaderSendsHeldLinesAtTheChunksEnd(t *testing.T) {
	r := Reader{Join: auto}
	var got []string
	for _, part := range [][]pl{
		{{"a", "stdout", "java.lang.IllegalStateException: boom"}, {"a", "stdout", "\tat A.b(A.java:1)"}},
		{{"a", "stdout", "\tat A.c(A.java:2)"}, {"a", "stdout", "2024-05-14 INFO next"}},
	} {
		var events []eventtest.Event
		for i, l := range part {
			events = append(events, l.event(i))
		}
		r.Reset(eventtest.Chunk(true, events...))
		for r.Next() {
			got = append(got, string(r.Entry().Message()))
		}
	}
	want := []string{"java.lang.IllegalStateException: boom\n\tat A.b(A.java:1)", "\tat A.c(A.java:2)", "2024-05-14 INFO next"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if _, _, split := r.Multiline(); split != 1 {
		t.Errorf("split %d, want 1", split)
	}
}

// A reused Reader joining lines allocates nothing once its buffers have
// grown, with traces and without.
func TestReaderJoiningAllocatesNothing(t *testing.T) {
	var lines []pl
	for i := range 200 {
		switch i % 5 {
		case 0:
			lines = append(lines, pl{"a", "stdout", "2024-05-14 ERROR c.e.Repo - Failed"}, pl{"a", "stdout", "java.lang.X: y"})
		case 1, 2:
			lines = append(lines, pl{"a", "stdout", "\tat com.example.A.b(A.java:1)"})
		case 3:
			lines = append(lines, pl{"b", "stderr", `{"level":"info"}`}, pl{"a", "stderr", ""})
		default:
			lines = append(lines, pl{"x", "stdout", "plain"})
		}
	}
	var events []eventtest.Event
	for i, l := range lines {
		events = append(events, l.event(i))
	}
	chunk := eventtest.Chunk(true, events...)
	for _, chunk := range [][]byte{chunk, fargateChunk(false, true, mapPerPod)} {
		r := Reader{Join: &Joining{Auto: true, Rule: func([]byte) *regexp.Regexp { return nil }}}
		if allocs := testing.AllocsPerRun(20, func() {
			r.Reset(chunk)
			for r.Next() {
			}
		}); allocs != 0 {
			t.Errorf("%v allocations per chunk, want 0", allocs)
		}
	}
}

// Whatever the records (lines of traces and others, of containers and
// streams in any order, split or not, with and without maps), joining
// loses and repeats no line, joins only lines of one container stream in
// their order, and an entry keeps its first record's time and fields.
func FuzzReaderJoinLines(f *testing.F) {
	f.Add([]byte{0x00, 0x11, 0x21, 0x31, 0x02})
	f.Add([]byte{0x40, 0x51, 0x60, 0x71, 0x83, 0x90, 0xa4})
	f.Add([]byte{0x0c, 0x1d, 0x2c, 0xbc, 0xc8, 0xdd})
	f.Add([]byte{0xe0, 0xf1, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05})
	texts := []string{
		"2024-05-14 ERROR c.e.Repo - Failed to persist order 8813",
		"java.lang.IllegalStateException: boom",
		"\tat com.example.Repo.save(Repo.java:42)",
		"Caused by: java.io.IOException: disk full",
		"",
		"Traceback (most recent call last):",
		`  File "/app/w.py", line 3, in run`,
		"KeyError: 'x'",
		"panic: boom",
		"goroutine 1 [running]:",
		`{"level":"error","msg":"x"}`,
		"plain single line",
		"    at f (/app/a.js:1:2) {",
		"}",
		"Node.js v20.12.2",
		"/app/src/server.js:88",
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64 {
			data = data[:64]
		}
		var events []eventtest.Event
		type src struct{ container, stream, text string }
		var srcs []src
		for i, b := range data {
			pod := [4]string{"a", "a2", "b", ""}[b>>6&3]
			stream := [2]string{"stdout", "stderr"}[b>>5&1]
			text := texts[int(b)%len(texts)]
			if b&0x10 != 0 && b>>6 == 3 {
				text += fmt.Sprintf(" %d", i) // some lines unique
			}
			events = append(events, pl{pod, stream, text}.event(i))
			srcs = append(srcs, src{string(kube.FromMap(pods[pod]).ContainerID), stream, text})
		}
		r := Reader{Join: &Joining{Auto: true, MaxBytes: 200}}
		r.Reset(eventtest.Chunk(true, events...))
		// Each container stream's lines, as they come out of its entries.
		seen := map[string][]string{}
		firsts := map[int]bool{}
		for r.Next() {
			e := r.Entry()
			first := -1
			for _, fl := range e.Fields {
				if string(fl.Key) == "i" {
					v, _ := record.Text(fl.Value)
					first, _ = strconv.Atoi(string(v))
				}
			}
			if first < 0 {
				// An empty line alone (its record has no i): its
				// container stream by its time.
				first = int((e.Time - t0.UnixNano()) / int64(time.Second))
				if len(e.Message()) != 0 || srcs[first].text != "" {
					t.Fatalf("%x: an entry without i: %q", data, e.Message())
				}
			}
			if firsts[first] {
				t.Fatalf("%x: record %d begins two entries", data, first)
			}
			firsts[first] = true
			s := srcs[first]
			if e.Time != t0.Add(time.Duration(first)*time.Second).UnixNano() || string(e.Stream) != s.stream {
				t.Fatalf("%x: entry of record %d has time %d, stream %q", data, first, e.Time, e.Stream)
			}
			if len(e.Message()) > 200 && strings.Contains(string(e.Message()), "\n") {
				t.Fatalf("%x: a joined entry of %d bytes", data, len(e.Message()))
			}
			key := s.container + "/" + s.stream
			seen[key] = append(seen[key], strings.Split(string(e.Message()), "\n")...)
		}
		want := map[string][]string{}
		for _, s := range srcs {
			key := s.container + "/" + s.stream
			want[key] = append(want[key], s.text)
		}
		for key, lines := range want {
			if !slices.Equal(seen[key], lines) {
				t.Fatalf("%x: %s: lines\n%q\nwant\n%q", data, key, seen[key], lines)
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("%x: %d container streams out, %d in", data, len(seen), len(want))
		}
	})
}
