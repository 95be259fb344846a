package multiline

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/entry"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/test/fargate"
)

var t0 = time.Date(2024, 5, 14, 9, 20, 0, 0, time.UTC)

func load(t testing.TB) []*File {
	t.Helper()
	files, err := Load(filepath.Join("testdata", "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// The date a line of the rule pod starts with, as its annotation says.
const rulePattern = `\d{4}-(0?[1-9]|1[012])-(0?[1-9]|[12][0-9]|3[01])`

// podOf is the pod a corpus file's container runs in: the rule file's pod
// has the multi_line annotation.
func podOf(f *File, i int) fargate.Pod {
	p := fargate.Pod{Namespace: "corpus", Name: fmt.Sprintf("%s-7d9f8c6b5-%05d", f.Name, i), Container: f.Name,
		UID: fmt.Sprintf("5b3a7c1e-0f3c-4a9b-8d7e-%012d", i), ContainerID: fmt.Sprintf("%064x", 0xc0ffee00+i),
		Image: "registry.example.com/corpus/" + f.Name + ":1.0", Node: "fargate-ip-10-0-1-23.ec2.internal",
		Labels: map[string]string{"app.kubernetes.io/name": f.Name}}
	if f.Name == "rule" {
		p.Annotations = map[string]string{"ad.datadoghq.com/rule.logs": `[{"source":"java","log_processing_rules":[` +
			`{"type":"multi_line","name":"log_start_with_date","pattern":"` + strings.ReplaceAll(rulePattern, `\`, `\\`) + `"}]}]`}
	}
	return p
}

// timed is a corpus file's writes with their times: a millisecond apart,
// a microsecond within a trace, as a runtime stamps lines it reads at once.
type timed struct {
	Write
	Time time.Time
}

func times(f *File, base time.Time) []timed {
	out := make([]timed, len(f.Writes))
	at := base
	var last *Event
	for i, w := range f.Writes {
		if w.Event == last && w.Event.Trace() {
			at = at.Add(time.Microsecond)
		} else {
			at = at.Add(time.Millisecond)
		}
		last = w.Event
		out[i] = timed{w, at}
	}
	return out
}

// firstTimes is each event's first line's time.
func firstTimes(ws []timed) map[*Event]time.Time {
	m := map[*Event]time.Time{}
	for _, w := range ws {
		if _, ok := m[w.Event]; !ok {
			m[w.Event] = w.Time
		}
	}
	return m
}

// chunk is the records of writes as the aggregator receives them from the
// router: the CRI parser's fields (no log for an empty line: the regex
// parser drops an empty capture), the kubernetes filter's map, and the es
// hop's @timestamp (after the elasticsearch input's @meta, which sorts
// first here too).
func chunk(p fargate.Pod, ws []timed) []byte {
	var events []eventtest.Event
	for _, w := range ws {
		body := fargate.Record(p, fargate.Line{Time: w.Time, Stream: w.Stream, Text: w.Text})
		rec := map[string]any{
			"@meta":      map[string]any{"create": map[string]any{"_index": "fargate"}},
			"@timestamp": w.Time.UTC().Format("2006-01-02T15:04:05.000000000Z"),
			"stream":     body["stream"], "logtag": "F", "log": body["log"], "kubernetes": body["kubernetes"],
			"flb_tag": p.Tag(),
		}
		if w.Text == "" {
			delete(rec, "log")
		}
		events = append(events, eventtest.Event{Time: w.Time.Add(time.Second), Body: rec})
	}
	return eventtest.Chunk(true, events...)
}

type gotEntry struct {
	Text, Stream string
	Time         time.Time
}

func read(t testing.TB, j *entry.Joining, chunk []byte) []gotEntry {
	t.Helper()
	r := entry.Reader{Join: j}
	r.Reset(chunk)
	var out []gotEntry
	for r.Next() {
		e := r.Entry()
		out = append(out, gotEntry{string(e.Message()), string(e.Stream), time.Unix(0, e.Time).UTC()})
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return out
}

// ruleOf is the Joining.Rule of the corpus pods: the rule file's pattern.
func ruleOf(k8s []byte) *regexp.Regexp {
	if strings.Contains(string(k8s), "log_start_with_date") {
		return regexp.MustCompile("^" + rulePattern)
	}
	return nil
}

// check compares what arrived with the file's events: each exactly once,
// whole, with its stream and its first line's time; it returns the
// problems, one line each.
func check(f *File, first map[*Event]time.Time, got []gotEntry) []string {
	want := map[string][]*Event{}
	for _, e := range f.Events {
		want[e.Text()] = append(want[e.Text()], e)
	}
	var problems []string
	seen := map[string]int{}
	for _, g := range got {
		es, ok := want[g.Text]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: an entry that is no event of the corpus (%d lines): %.300q", f.Name, strings.Count(g.Text, "\n")+1, g.Text))
			continue
		}
		e := es[min(seen[g.Text], len(es)-1)]
		seen[g.Text]++
		if g.Stream != e.Stream {
			problems = append(problems, fmt.Sprintf("%s %s: stream %s, want %s", f.Name, name(e), g.Stream, e.Stream))
		}
		if !g.Time.Equal(first[e]) {
			problems = append(problems, fmt.Sprintf("%s %s: time %s, want its first line's %s", f.Name, name(e), g.Time, first[e]))
		}
	}
	for text, es := range want {
		if seen[text] != len(es) {
			problems = append(problems, fmt.Sprintf("%s %s: arrived %d times, want %d", f.Name, name(es[0]), seen[text], len(es)))
		}
	}
	slices.Sort(problems)
	return problems
}

func name(e *Event) string {
	if e.Trace() {
		return "trace " + e.Name
	}
	return fmt.Sprintf("line %.80q", e.Lines[0])
}

// Every corpus file as one chunk through the entry reader with automatic
// detection (and the rule pod's multi_line rule): every trace is one
// entry with its first line's time, every single line itself.
func TestCorpusThroughTheReader(t *testing.T) {
	for i, f := range load(t) {
		t.Run(f.Name, func(t *testing.T) {
			ws := times(f, t0.Add(time.Duration(i)*time.Minute))
			got := read(t, &entry.Joining{Auto: true, Rule: ruleOf}, chunk(podOf(f, i), ws))
			for _, p := range check(f, firstTimes(ws), got) {
				t.Error(p)
			}
			t.Logf("%d traces, %d single lines: %d entries", f.Traces(), f.Singles(), len(got))
		})
	}
}

// Without joining, the check fails for every trace: it is not vacuous.
func TestCorpusCheckSeesUnjoinedTraces(t *testing.T) {
	for i, f := range load(t) {
		ws := times(f, t0)
		problems := check(f, firstTimes(ws), read(t, nil, chunk(podOf(f, i), ws)))
		traces := 0
		for _, p := range problems {
			if strings.Contains(p, "arrived 0 times") {
				traces++
			}
		}
		if traces != f.Traces() {
			t.Errorf("%s: unjoined, %d traces reported missing, want all %d", f.Name, traces, f.Traces())
		}
	}
}

// A trace split across two chunks, at every line of every file: what
// arrives is pieces of events, each line once; only the events the cut
// crosses arrive in pieces (two, or more when the second begins with lines
// that continue a trace only after its first line: SqlException's
// trailer), and no single line is joined to another.
// The reader counts the split when the second chunk begins inside a trace.
func TestCorpusCutAtEveryLine(t *testing.T) {
	for i, f := range load(t) {
		ws := times(f, t0)
		p := podOf(f, i)
		for cut := 1; cut < len(ws); cut++ {
			var got []gotEntry
			splits := 0
			for _, part := range [][]timed{ws[:cut], ws[cut:]} {
				r := entry.Reader{Join: &entry.Joining{Auto: true, Rule: ruleOf}}
				r.Reset(chunk(p, part))
				for r.Next() {
					e := r.Entry()
					got = append(got, gotEntry{string(e.Message()), string(e.Stream), time.Unix(0, e.Time).UTC()})
				}
				_, _, s := r.Multiline()
				splits += s
			}
			// The events the cut crosses: written on both sides of it.
			crossed := map[*Event]bool{}
			before := map[*Event]bool{}
			for _, w := range ws[:cut] {
				before[w.Event] = true
			}
			for _, w := range ws[cut:] {
				if before[w.Event] {
					crossed[w.Event] = true
				}
			}
			problems := checkPieces(f, got, crossed)
			for _, pr := range problems {
				t.Errorf("%s cut before line %d (%.60q): %s", f.Name, cut, ws[cut].Text, pr)
			}
			if len(problems) > 0 {
				return
			}
			if splits > len(crossed) {
				t.Errorf("%s cut before line %d: %d splits counted, %d events crossed", f.Name, cut, splits, len(crossed))
			}
		}
	}
}

// checkPieces checks entries that may be pieces of events: each piece is
// consecutive lines of one event of its stream, each line of the file
// arrives once, and an event comes whole unless crossed.
func checkPieces(f *File, got []gotEntry, crossed map[*Event]bool) []string {
	var problems []string
	// Lines of each event, in order, and which arrived.
	pieces := map[*Event]int{}
	covered := map[*Event][]int{}
	// The longest pieces first: a blank line alone would otherwise claim
	// the blank line of another event.
	got = slices.Clone(got)
	slices.SortStableFunc(got, func(a, b gotEntry) int { return strings.Count(b.Text, "\n") - strings.Count(a.Text, "\n") })
	for _, g := range got {
		lines := strings.Split(g.Text, "\n")
		found := false
		for _, e := range f.Events {
			if e.Stream != g.Stream {
				continue
			}
			if at := free(e.Lines, lines, covered[e]); at >= 0 {
				if covered[e] == nil {
					covered[e] = make([]int, len(e.Lines))
				}
				for k := range lines {
					covered[e][at+k]++
				}
				pieces[e]++
				found = true
				break
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("an entry that is no piece of one event (%d lines): %.200q", len(lines), g.Text))
		}
	}
	for _, e := range f.Events {
		for k, n := range covered[e] {
			if n != 1 {
				problems = append(problems, fmt.Sprintf("%s: line %d arrived %d times", name(e), k, n))
			}
		}
		if covered[e] == nil {
			problems = append(problems, fmt.Sprintf("%s: never arrived", name(e)))
		}
		if pieces[e] > 1 && !crossed[e] {
			problems = append(problems, fmt.Sprintf("%s: arrived in %d pieces, not crossed by the cut", name(e), pieces[e]))
		}
	}
	return problems
}

// free returns where sub is in lines on lines not covered yet, -1 when
// nowhere.
func free(lines, sub []string, covered []int) int {
	for i := 0; i+len(sub) <= len(lines); i++ {
		if slices.Equal(lines[i:i+len(sub)], sub) && (covered == nil || !overlaps(covered, i, len(sub))) {
			return i
		}
	}
	return -1
}

func overlaps(covered []int, at, n int) bool {
	for k := at; k < at+n; k++ {
		if covered[k] > 0 {
			return true
		}
	}
	return false
}
