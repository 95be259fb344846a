package multiline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/chart"
	"github.com/kubeship/kubeship/test/ddintake"
	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
	"github.com/kubeship/kubeship/test/lokiserver"
)

var ctx = context.Background()

func TestMain(m *testing.M) {
	if bin, err := fluentbit.Find(); err == nil {
		fmt.Printf("multiline: using %s (%s)\n", bin, fluentbit.Version(bin))
	} else {
		fmt.Printf("multiline: SKIPPING every real-Fluent-Bit test: %v\n", err)
	}
	code := m.Run()
	lokiserver.StopShared()
	os.Exit(code)
}

// pair is a router Fluent Bit and an aggregator Fluent Bit to run the path
// on.
type pair struct{ name, router, aggregator string }

// fluentBits are the Fluent Bits to run the path on: $FLUENT_BIT (or PATH)
// as both router and aggregator (make e2e runs each of $FLUENT_BITS so),
// and each Fluent Bit older than 2.0 of $FLUENT_BITS as the router into it
// (what aws-for-fluent-bit 2.x runs; it cannot load kubeship).
func fluentBits(t *testing.T) []pair {
	agg := fluentbit.Need(t)
	if major, err := fluentbit.Major(agg); err == nil && major < 2 {
		t.Skipf("SKIPPED: the aggregator loads kubeship, which needs Fluent Bit 2.0+; $FLUENT_BIT is %s", fluentbit.Version(agg))
	}
	out := []pair{{strings.TrimPrefix(fluentbit.Version(agg), "Fluent Bit "), agg, agg}}
	for _, b := range strings.Fields(os.Getenv("FLUENT_BITS")) {
		if major, err := fluentbit.Major(b); err == nil && major < 2 {
			out = append(out, pair{"router_" + strings.TrimPrefix(fluentbit.Version(b), "Fluent Bit "), b, agg})
		}
	}
	return out
}

// path is one run of the Fargate path: Fargate-named CRI files, the
// router's rendered aws-logging behind a tail input over them, and the
// rendered aggregator (conf/k8s/fargate-both.yaml) with kubeship into a
// real Loki and the Datadog intake.
type path struct {
	t               *testing.T
	root, so, dir   string
	logs, meta, run string
	loki            *lokiserver.Server
	dd              *ddintake.Server
	router, agg     *fluentbit.Process
	files           []*File
	pods            []fargate.Pod
	// writes, by pod: each corpus file's, with their times.
	writes [][]timed
}

const apiKey = "multiline0123456789abcdef012345"

func newPath(t *testing.T, files []*File, copies int) *path {
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(root, "build", "out_kubeship.so")
	if _, err := os.Stat(so); err != nil {
		t.Fatalf("%s missing: run `make build`", so)
	}
	dir := t.TempDir()
	p := &path{t: t, root: root, so: so, dir: dir, logs: filepath.Join(dir, "containers"), meta: filepath.Join(dir, "meta"),
		run: fmt.Sprintf("%s-%d", strings.ToLower(strings.NewReplacer("/", "-", ".", "-").Replace(t.Name())), time.Now().UnixNano()%1e6)}
	for _, d := range []string{p.logs, p.meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Microsecond)
	for c := range copies {
		for i, f := range files {
			pod := podOf(f, c*len(files)+i)
			p.files = append(p.files, f)
			p.pods = append(p.pods, pod)
			p.writes = append(p.writes, times(f, base.Add(time.Duration(c*len(files)+i)*time.Second)))
		}
	}
	if err := fargate.WriteMeta(p.meta, p.pods); err != nil {
		t.Fatal(err)
	}
	p.loki = lokiserver.Shared(t, lokiserver.Options{})
	if p.dd, err = ddintake.Start(ddintake.Options{APIKey: apiKey}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.dd.Close)
	return p
}

func freePort(t *testing.T) int {
	port, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// start runs the aggregator (bin agg) and the router (bin router), the
// router's es output pointed at the aggregator's elasticsearch input. extra
// edits the rendered aggregator configuration.
func (p *path) start(router, agg string, extra func(string) string) {
	t := p.t
	port := freePort(t)
	rd, err := chart.Read(p.root, "fargate-both")
	if err != nil {
		t.Fatal(err)
	}
	aggDir := filepath.Join(p.dir, "aggregator")
	if err := os.MkdirAll(aggDir, 0o755); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(p.dir, "api-key")
	if err := os.WriteFile(keyFile, []byte(apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := rd.Aggregator(chart.Local{Dir: aggDir, Port: port, HTTPPort: freePort(t), MetricsPort: freePort(t),
		LokiURL: p.loki.PushURL(), LokiLabels: ",run=" + p.run, DatadogURL: p.dd.URL(), APIKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	// The pods' multi_line rules apply to Loki with pod_log_rules on (the
	// chart's loki.extraKeys); Datadog applies them always.
	if conf, err = chart.InsertAfter(conf, "http_user", "123456", "pod_log_rules            on"); err != nil {
		t.Fatal(err)
	}
	if extra != nil {
		conf = extra(conf)
	}
	t.Setenv("KUBESHIP_LOKI_SECRET", "s3cret")
	p.agg = p.startFB(agg, p.so, aggDir, conf)

	// The router: the managed input (a tail over Fargate-named files), then
	// the rendered aws-logging's sections.
	rr, err := chart.Read(p.root, "fargate-loki")
	if err != nil {
		t.Fatal(err)
	}
	var parts [3]string
	for i, key := range []string{"parsers.conf", "filters.conf", "output.conf"} {
		if parts[i], err = rr.ConfigMap("aws-logging", key); err != nil {
			t.Fatal(err)
		}
	}
	output, err := chart.Apply(parts[2], []chart.Mapping{
		{Section: "OUTPUT", Name: "es", Key: "host", Value: chart.Set("127.0.0.1")},
		{Section: "OUTPUT", Name: "es", Key: "port", Value: chart.Set(fmt.Sprint(port))},
	})
	if err != nil {
		t.Fatal(err)
	}
	routerDir := filepath.Join(p.dir, "router")
	if err := os.MkdirAll(routerDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(routerDir, "parsers.conf"), []byte(parts[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	rconf := "[SERVICE]\n    Flush         1\n    Grace         5\n    Log_Level     info\n    Parsers_File  parsers.conf\n\n" +
		fargate.TailInput(p.logs) + "\n" + fargate.OfflineKubernetes(parts[1], p.meta) + "\n" + output
	p.router = p.startFB(router, "", routerDir, rconf)
}

func (p *path) startFB(bin, so, dir, conf string) *fluentbit.Process {
	t := p.t
	fb, err := fluentbit.Start(bin, so, dir, conf)
	if err != nil {
		fluentbit.SkipIfMissing(t, err)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fb.Stop(20 * time.Second); err != nil {
			t.Errorf("%s: %v\n%s", dir, err, fb.Logs())
		}
		if t.Failed() {
			t.Logf("fluent bit output (%s):\n%s", dir, fb.Logs())
		}
	})
	return fb
}

// write appends each pod's lines to its log file as a runtime writes them:
// an event's lines written together in one write (a logger writes a
// record at once), gap between writes.
func (p *path) write(gap time.Duration) {
	t := p.t
	files := make([]*os.File, len(p.pods))
	for i, pod := range p.pods {
		f, err := os.OpenFile(filepath.Join(p.logs, pod.LogFile()), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	// Round robin over the pods, one event at a time: its lines in one
	// write, with the lines of the other stream written between them.
	next := make([]int, len(p.pods))
	for done := false; !done; {
		done = true
		for i := range p.pods {
			ws := p.writes[i]
			if next[i] >= len(ws) {
				continue
			}
			done = false
			var b []byte
			ev := ws[next[i]].Event
			last := next[i]
			for k := next[i]; k < len(ws); k++ {
				if ws[k].Event == ev {
					last = k
				}
			}
			for ; next[i] <= last; next[i]++ {
				w := ws[next[i]]
				b = fargate.AppendCRI(b, fargate.Line{Time: w.Time, Stream: w.Stream, Text: w.Text})
			}
			if _, err := files[i].Write(b); err != nil {
				t.Fatal(err)
			}
		}
		if gap > 0 {
			time.Sleep(gap)
		}
	}
}

// result is what arrived at one destination: per corpus file, the events
// that arrived whole, exactly once, and the problems.
type result struct {
	traces, singles   int // arrived whole, once, with their first line's time
	wantT, wantS      int
	split             int // traces that arrived in pieces, each piece consecutive lines (split across chunks, or not joined)
	problems          []string
	whole             []string // the traces that arrived whole
	entries, expected int
}

func (r *result) String() string {
	return fmt.Sprintf("traces %d/%d whole, single lines %d/%d, entries %d (want %d), split %d, problems %d",
		r.traces, r.wantT, r.singles, r.wantS, r.entries, r.expected, r.split, len(r.problems))
}

// expected is the number of entries the pods' events make.
func (p *path) expected() int {
	n := 0
	for _, f := range p.files {
		n += len(f.Events)
	}
	return n
}

// judge compares what arrived for each pod (by its container id) with its
// events; timeOK says whether an entry's time is its first line's.
func (p *path) judge(got map[string][]gotEntry, timeOK func(first, got time.Time) bool) *result {
	r := &result{}
	for i, pod := range p.pods {
		f := p.files[i]
		first := firstTimes(p.writes[i])
		entries := got[pod.ContainerID]
		r.entries += len(entries)
		r.expected += len(f.Events)
		r.wantT += f.Traces()
		r.wantS += f.Singles()
		want := map[string]int{}
		for _, e := range f.Events {
			want[e.Text()]++
		}
		seen := map[string]int{}
		var strays []gotEntry
		for _, g := range entries {
			if want[g.Text] == 0 {
				strays = append(strays, g)
				continue
			}
			seen[g.Text]++
		}
		for _, e := range f.Events {
			n := seen[e.Text()]
			ok := n == want[e.Text()]
			if ok {
				// its time: an entry of that text with the first line's time
				ok = slices.ContainsFunc(entries, func(g gotEntry) bool {
					return g.Text == e.Text() && (g.Stream == e.Stream || g.Stream == "") && timeOK(first[e], g.Time)
				})
				if !ok {
					var at []string
					for _, g := range entries {
						if g.Text == e.Text() {
							at = append(at, g.Stream+" "+g.Time.Format(time.RFC3339Nano))
						}
					}
					r.problems = append(r.problems, fmt.Sprintf("%s %s: arrived with %s, want its first line's time %s and stream %s",
						pod.Name, name(e), strings.Join(at, ", "), first[e].Format(time.RFC3339Nano), e.Stream))
					continue
				}
			}
			switch {
			case ok && e.Trace():
				r.traces++
				r.whole = append(r.whole, f.Name+"/"+e.Name)
			case ok:
				r.singles++
			case n == 0 && e.Trace():
				// Pieces of it? Then it was split across chunks.
				if pieces := piecesOf(e, strays); pieces > 1 {
					r.split++
					r.problems = append(r.problems, fmt.Sprintf("%s %s: arrived in %d pieces", pod.Name, name(e), pieces))
				} else {
					r.problems = append(r.problems, fmt.Sprintf("%s %s: arrived %d times", pod.Name, name(e), n))
				}
			default:
				r.problems = append(r.problems, fmt.Sprintf("%s %s: arrived %d times, want %d", pod.Name, name(e), n, want[e.Text()]))
			}
		}
		for _, g := range strays {
			if !isPiece(f, g) {
				r.problems = append(r.problems, fmt.Sprintf("%s: an entry that is no event of its corpus (%d lines): %.300q", pod.Name, strings.Count(g.Text, "\n")+1, g.Text))
			}
		}
	}
	sort.Strings(r.problems)
	return r
}

// piecesOf counts the strays that are consecutive lines of e.
func piecesOf(e *Event, strays []gotEntry) int {
	n := 0
	for _, g := range strays {
		if g.Stream == e.Stream && free(e.Lines, strings.Split(g.Text, "\n"), nil) >= 0 {
			n++
		}
	}
	return n
}

// isPiece reports whether g is consecutive lines of a trace of f.
func isPiece(f *File, g gotEntry) bool {
	for _, e := range f.Events {
		if e.Trace() && e.Stream == g.Stream && free(e.Lines, strings.Split(g.Text, "\n"), nil) >= 0 {
			return true
		}
	}
	return false
}

// fromLoki reads back the run's entries by container id, a container name
// (a corpus file) at a time: a query returns at most 5,000 entries.
func (p *path) fromLoki(timeout time.Duration) map[string][]gotEntry {
	t := p.t
	want := map[string]int{}
	for i, pod := range p.pods {
		want[pod.Container] += len(p.files[i].Events)
	}
	deadline := time.Now().Add(timeout)
	for c, n := range want {
		q := fmt.Sprintf(`{run=%q, container=%q}`, p.run, c)
		if _, err := p.loki.WaitFor(ctx, "", q, n, max(time.Until(deadline), time.Second)); err != nil {
			t.Error(err)
		}
	}
	time.Sleep(3 * time.Second) // a late piece or duplicate
	got := map[string][]gotEntry{}
	for c := range want {
		streams, err := p.loki.Query(ctx, "", fmt.Sprintf(`{run=%q, container=%q}`, p.run, c))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range streams {
			for _, en := range st.Entries {
				id := en.Metadata["container_id"]
				got[id] = append(got[id], gotEntry{en.Line, en.Metadata["stream"], en.Time.UTC()})
			}
		}
	}
	return got
}

// fromDatadog reads back the intake's logs by container id.
func (p *path) fromDatadog(timeout time.Duration) map[string][]gotEntry {
	if _, err := p.dd.WaitEntries(p.expected(), timeout); err != nil {
		p.t.Error(err)
	}
	time.Sleep(2 * time.Second)
	got := map[string][]gotEntry{}
	for _, en := range p.dd.Entries() {
		id, _ := en.Tag("container_id")
		// Datadog's status says the stream of a line without a level ("":
		// a JSON line's level, any stream).
		stream := map[string]string{"error": "stderr", "info": "stdout"}[en.Status]
		if strings.HasPrefix(en.Message, "{") {
			stream = ""
		}
		got[id] = append(got[id], gotEntry{en.Message, stream, time.UnixMilli(en.Timestamp).UTC()})
	}
	return got
}

// Every trace of the corpus arrives as exactly one entry in Loki and one
// log at the Datadog intake, with its first line's time, and every single
// line as itself: through the EKS Fargate path as shipped (the router's
// rendered aws-logging, es → the rendered aggregator with kubeship), on
// each Fluent Bit given.
func TestFargatePathJoinsTraces(t *testing.T) {
	files := load(t)
	for _, fb := range fluentBits(t) {
		t.Run(fb.name, func(t *testing.T) {
			p := newPath(t, files, 1)
			p.start(fb.router, fb.aggregator, nil)
			p.write(20 * time.Millisecond)
			loki := p.judge(p.fromLoki(90*time.Second), lokiTime)
			dd := p.judge(p.fromDatadog(60*time.Second), datadogTime)
			for _, r := range []struct {
				dest string
				r    *result
			}{{"loki", loki}, {"datadog", dd}} {
				for _, pr := range r.r.problems {
					t.Errorf("%s: %s", r.dest, pr)
				}
				t.Logf("%s (Fluent Bit %s): %s", r.dest, fb.name, r.r)
			}
		})
	}
}

// lokiTime: the router's regex parser computes nanoseconds through a double
// (src/flb_parser_regex.c), so a time can be up to 1µs early.
func lokiTime(first, got time.Time) bool {
	d := first.Sub(got)
	return d >= 0 && d <= time.Microsecond
}

// datadogTime: milliseconds, rounded as Fluent Bit's datadog output rounds
// them, of a time up to 1µs early.
func datadogTime(first, got time.Time) bool {
	d := first.Sub(got)
	return d > -time.Millisecond/2-time.Microsecond && d <= time.Millisecond/2
}

// Fluent Bit's own multiline filter in the aggregator, on the same corpus
// through the same path, with kubeship's joining off: the measurement
// behind joining in kubeship instead (README, "Stack traces"). The filter
// runs with the built-in java, python and go parsers and a parser written
// for Node.js, Ruby and .NET as its documentation suggests, on `log`, in
// its default buffered mode. It is a measurement, not a check: run it with
// KUBESHIP_MEASURE=1.
func TestFluentBitMultilineFilter(t *testing.T) {
	if os.Getenv("KUBESHIP_MEASURE") == "" {
		t.Skip("SKIPPED: a measurement; KUBESHIP_MEASURE=1 runs it")
	}
	var files []*File
	for _, f := range load(t) {
		if f.Name != "rule" { // the filter reads no annotations
			files = append(files, f)
		}
	}
	for _, fb := range fluentBits(t) {
		t.Run(fb.name, func(t *testing.T) {
			p := newPath(t, files, 1)
			parsers := filepath.Join(p.dir, "multiline-parsers.conf")
			if err := os.WriteFile(parsers, []byte(customParsers), 0o644); err != nil {
				t.Fatal(err)
			}
			p.start(fb.router, fb.aggregator, func(conf string) string {
				conf = strings.Replace(conf, "[SERVICE]\n", "[SERVICE]\n    Parsers_File "+parsers+"\n", 1)
				conf = strings.Replace(conf, "[OUTPUT]", multilineFilter+"\n[OUTPUT]", 1)
				return strings.ReplaceAll(conf, "    Name                     kubeship\n", "    Name                     kubeship\n    auto_multiline           off\n")
			})
			p.write(20 * time.Millisecond)
			loki := p.judge(p.fromLoki(60*time.Second), lokiTime)
			dd := p.judge(p.fromDatadog(30*time.Second), datadogTime)
			for _, r := range []struct {
				dest string
				r    *result
			}{{"loki", loki}, {"datadog", dd}} {
				t.Logf("%s, Fluent Bit's multiline filter (Fluent Bit %s): %s; whole: %s", r.dest, fb.name, r.r, strings.Join(r.r.whole, " "))
				for i, pr := range r.r.problems {
					if i == 40 {
						t.Logf("... %d more", len(r.r.problems)-i)
						break
					}
					t.Logf("  %s", pr)
				}
			}
		})
	}
}

// multilineFilter is the filter as its documentation configures it for
// container logs, placed before the outputs.
const multilineFilter = `[FILTER]
    Name                  multiline
    Match                 kube.*
    multiline.key_content log
    multiline.parser      java,python,go,stacks
`

// customParsers is a multiline parser for what the built-in ones do not
// cover: Node.js and .NET exceptions (a first line, then "at" frames),
// Ruby's from-lines, .NET's inner exception markers.
const customParsers = `[MULTILINE_PARSER]
    name          stacks
    type          regex
    flush_timeout 1000
    rule      "start_state"  "/^(?:[\w$.]*(?:Error|Exception)(?:: .*)?|Unhandled exception\. .*|.*:in .*\([A-Z][\w:]*\))$/"  "cont"
    rule      "cont"         "/^\s+(?:at |from |--- End of|---> )/"  "cont"
`

// writePaced writes each pod's events as its own application would, all
// pods at once: an event after a pause of up to 2×meanGap (uniform), its
// lines in one write (lineGap 0: a logger writes a record at once) or one
// write per line lineGap apart (a runtime printing a trace line by line).
func (p *path) writePaced(meanGap, lineGap time.Duration) {
	var wg sync.WaitGroup
	for i, pod := range p.pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.OpenFile(filepath.Join(p.logs, pod.LogFile()), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				p.t.Error(err)
				return
			}
			defer f.Close()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			ws := p.writes[i]
			left := map[*Event]int{} // an event's lines not written yet
			for _, w := range ws {
				left[w.Event]++
			}
			open := 0 // events begun and not done: a line of the other stream inside a trace
			for k := 0; k < len(ws); {
				if open == 0 {
					time.Sleep(time.Duration(rng.Int64N(int64(2 * meanGap))))
				}
				ev := ws[k].Event
				if left[ev] == len(ev.Lines) {
					open++ // its first line
				}
				var b []byte
				for ; k < len(ws) && ws[k].Event == ev; k++ {
					if left[ev]--; left[ev] == 0 {
						open--
					}
					line := fargate.AppendCRI(nil, fargate.Line{Time: ws[k].Time, Stream: ws[k].Stream, Text: ws[k].Text})
					if lineGap == 0 {
						b = append(b, line...)
						continue
					}
					if _, err := f.Write(line); err != nil {
						p.t.Error(err)
						return
					}
					time.Sleep(lineGap)
				}
				if _, err := f.Write(b); err != nil {
					p.t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// exitCounts sums a counter of the kubeship outputs' exit lines.
func exitCounts(logs, name string) int {
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, "[output:kubeship:") || !strings.Contains(l, "exit: ") {
			continue
		}
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, name+"="); ok {
				var c int
				fmt.Sscan(v, &c)
				n += c
			}
		}
	}
	return n
}

// How often a trace's lines straddle two of the aggregator's chunks (one
// chunk per container tag and flush, Flush 1 on both Fluent Bits as
// shipped): 60 pods of each corpus file, each writing its events at random
// over about 20 seconds, every line through the path as shipped. Logged
// writes (a record's lines in one write) and traces printed line by line,
// 1 ms apart. A measurement: KUBESHIP_MEASURE=1 runs it.
func TestSplitShare(t *testing.T) {
	if os.Getenv("KUBESHIP_MEASURE") == "" {
		t.Skip("SKIPPED: a measurement; KUBESHIP_MEASURE=1 runs it")
	}
	files := load(t)
	fb := fluentBits(t)[0]
	for _, mode := range []struct {
		name    string
		lineGap time.Duration
	}{{"record_per_write", 0}, {"line_per_write_1ms", time.Millisecond}} {
		t.Run(mode.name, func(t *testing.T) {
			p := newPath(t, files, 60)
			p.start(fb.router, fb.aggregator, nil)
			start := time.Now()
			p.writePaced(650*time.Millisecond, mode.lineGap)
			t.Logf("written in %s", time.Since(start).Round(time.Second))
			loki := p.judge(p.fromLoki(180*time.Second), lokiTime)
			dd := p.judge(p.fromDatadog(60*time.Second), datadogTime)
			if err := p.agg.Stop(20 * time.Second); err != nil {
				t.Error(err)
			}
			counted := exitCounts(p.agg.Logs(), "multiline_split")
			for _, r := range []struct {
				dest string
				r    *result
			}{{"loki", loki}, {"datadog", dd}} {
				t.Logf("%s (Fluent Bit %s, %s): %s; split share %.2f%%", r.dest, fb.name, mode.name, r.r, 100*float64(r.r.split)/float64(r.r.wantT))
				for i, pr := range r.r.problems {
					if i == 10 {
						break
					}
					t.Logf("  %s", pr)
				}
			}
			t.Logf("kubeship counted multiline_split=%d over both outputs", counted)
		})
	}
}

// The aggregator's CPU (user + system, from its rusage when it exits)
// for the corpus through the path, auto_multiline off and on in turn, 3
// runs each: the cost of joining in the whole process, Fluent Bit's
// elasticsearch input and both kubeship outputs (Loki and Datadog). A
// measurement: KUBESHIP_MEASURE=1 runs it.
func TestAggregatorCPU(t *testing.T) {
	if os.Getenv("KUBESHIP_MEASURE") == "" {
		t.Skip("SKIPPED: a measurement; KUBESHIP_MEASURE=1 runs it")
	}
	files := load(t)
	fb := fluentBits(t)[0]
	cpu := map[string][]time.Duration{}
	for run := range 6 {
		auto := []string{"off", "on"}[run%2]
		t.Run(fmt.Sprintf("auto_multiline_%s_%d", auto, run/2), func(t *testing.T) {
			p := newPath(t, files, 60)
			p.write(0) // every line before the router starts: the same chunks each run
			p.start(fb.router, fb.aggregator, func(c string) string {
				return strings.ReplaceAll(c, "    Name                     kubeship\n", "    Name                     kubeship\n    auto_multiline           "+auto+"\n")
			})
			want := 0
			for _, f := range p.files {
				want += len(f.Events)
				if auto == "off" && f.Name != "rule" { // the rule pod's rule joins either way
					want += len(f.Writes) - len(f.Events)
				}
			}
			if _, err := p.dd.WaitEntries(want, 120*time.Second); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Second) // Loki's pushes too
			if err := p.agg.Stop(20 * time.Second); err != nil {
				t.Fatal(err)
			}
			st := p.agg.Cmd.ProcessState
			used := st.UserTime() + st.SystemTime()
			cpu[auto] = append(cpu[auto], used)
			records := 0
			for _, w := range p.writes {
				records += len(w)
			}
			t.Logf("auto_multiline %s: %d records, %d entries each way, aggregator CPU %s: %.2f µs/record", auto, records, want,
				used.Round(time.Millisecond), float64(used.Microseconds())/float64(records))
		})
	}
	for _, auto := range []string{"off", "on"} {
		slices.Sort(cpu[auto])
		t.Logf("auto_multiline %s: median aggregator CPU %s of %v", auto, cpu[auto][len(cpu[auto])/2], cpu[auto])
	}
}
