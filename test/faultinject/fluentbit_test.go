package faultinject

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
	"github.com/kubeship/kubeship/test/proc"
)

// fbScenario is a real Fluent Bit with filesystem storage tailing one
// Fargate-named container log into kubeship, which sends through the proxy.
// Fluent Bit's scheduler retries what kubeship hands back (FLB_RETRY).
type fbScenario struct {
	t         *testing.T
	name      string
	dest      destination
	proxy     *Proxy
	bin, so   string
	dir, logs string
	conf      string
	fb        *fluentbit.Process
	lines     map[string]bool
	next      int
}

func newFBScenario(t *testing.T, d destination, keys host.Instance) *fbScenario {
	t.Helper()
	bin := fluentbit.Need(t)
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(d.upstream(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	s := &fbScenario{t: t, name: scenarioName(t), dest: d, proxy: p, bin: bin,
		so: filepath.Join(root, "build", "out_kubeship.so"), dir: t.TempDir(), lines: map[string]bool{}}
	s.logs = filepath.Join(s.dir, "containers")
	if err := os.MkdirAll(s.logs, 0o755); err != nil {
		t.Fatal(err)
	}
	in := d.keys(p.URL(), s.name)
	in["retry_budget"], in["timeout"] = "1s", "1s"
	for k, v := range keys { // "" leaves a key out: its default applies
		if in[k] = v; v == "" {
			delete(in, k)
		}
	}
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	sort.Strings(names)
	output := "[OUTPUT]\n    Name kubeship\n    Match kube.*\n    Workers 1\n    Retry_Limit no_limits\n"
	for _, k := range names {
		output += fmt.Sprintf("    %s %s\n", k, in[k])
	}
	// The tail DB keeps file offsets across a restart, so what was read
	// before comes back only from storage, not from the file again.
	s.conf = "[SERVICE]\n    Flush 0.2\n    Grace 5\n    Log_Level info\n" +
		"    storage.path " + filepath.Join(s.dir, "storage") + "\n    scheduler.base 1\n    scheduler.cap 2\n\n" +
		fargate.TailInput(s.logs) + "    storage.type filesystem\n    DB " + filepath.Join(s.dir, "tail.db") + "\n\n" + output
	t.Cleanup(func() {
		if s.fb != nil && !s.fb.Exited() {
			s.fb.Kill()
		}
	})
	return s
}

func (s *fbScenario) start() {
	s.t.Helper()
	fb, err := fluentbit.Start(s.bin, s.so, s.dir, s.conf)
	if err != nil {
		fluentbit.SkipIfMissing(s.t, err)
		s.t.Fatal(err)
	}
	s.fb = fb
}

// write appends n lines, unique to the scenario, to the container log.
func (s *fbScenario) write(n int) {
	s.t.Helper()
	lines := make([]fargate.Line, n)
	for i := range lines {
		text := fmt.Sprintf("%s line=%d", s.name, s.next)
		s.next++
		s.lines[text] = true
		lines[i] = fargate.Line{Time: time.Now(), Stream: "stdout", Text: text}
	}
	if err := fargate.WriteLogs(s.logs, fargate.Pods()[0], lines); err != nil {
		s.t.Fatal(err)
	}
}

// waitArrived waits until every line written so far arrived.
func (s *fbScenario) waitArrived() {
	s.t.Helper()
	if n, _ := countArrived(s.t, s.dest.arrived(s.t, s.name, len(s.lines)), s.lines, len(s.lines)); n != len(s.lines) {
		s.t.Fatalf("%d of %d lines arrived:\n%s", n, len(s.lines), s.fb.Logs())
	}
}

// check waits for every line written, counts duplicates and records the
// scenario's row with Fluent Bit's peak RSS.
func (s *fbScenario) check() {
	s.t.Helper()
	distinct, dups := countArrived(s.t, s.dest.arrived(s.t, s.name, len(s.lines)), s.lines, len(s.lines))
	rss, _ := proc.MemoryMB(s.fb.PID(), "VmHWM")
	addRow(row{s.name, len(s.lines), distinct, dups, rss})
	if s.t.Failed() {
		s.t.Logf("Fluent Bit's log:\n%s", s.fb.Logs())
	}
}

// The destination is down when Fluent Bit starts, then comes back: what
// Fluent Bit read meanwhile is kept in its storage and arrives.
func TestFluentBitDownAtStartThenBack(t *testing.T) {
	dests(t, func(t *testing.T, d destination) {
		s := newFBScenario(t, d, nil)
		if err := s.proxy.Set(Mode{Refuse: true}, 0); err != nil {
			t.Fatal(err)
		}
		s.write(100)
		s.start()
		if !s.fb.WaitLog("connection refused", 20*time.Second) {
			t.Fatalf("kubeship never found the destination down:\n%s", s.fb.Logs())
		}
		time.Sleep(2 * time.Second) // Fluent Bit's scheduler retries meanwhile
		if err := s.proxy.Set(Mode{}, 0); err != nil {
			t.Fatal(err)
		}
		s.write(100)
		s.check()
	})
}

// Down for a while in the middle of the stream, with resets and 503s on
// the way back: every line arrives.
func TestFluentBitOutageMidStream(t *testing.T) {
	dests(t, func(t *testing.T, d destination) {
		s := newFBScenario(t, d, nil)
		s.start()
		s.write(100)
		s.waitArrived()
		if err := s.proxy.Set(Mode{Refuse: true}, 0); err != nil {
			t.Fatal(err)
		}
		s.write(100)
		if !s.fb.WaitLog("connection refused", 20*time.Second) {
			t.Fatalf("kubeship never found the destination down:\n%s", s.fb.Logs())
		}
		s.write(100)
		time.Sleep(2 * time.Second)
		if err := s.proxy.Set(Mode{Status: 503}, 3); err != nil {
			t.Fatal(err)
		}
		s.write(100)
		s.check()
	})
}

// Shutdown during an outage: Fluent Bit waits for a running flush before
// it calls the plugin's exit (src/flb_output.c joins the worker threads
// first), so a flush must end by itself: every request is cut off at
// retry_budget (4s by default) and the chunk is handed back to Fluent
// Bit's filesystem storage. Started again with the destination back, Fluent
// Bit sends it: nothing acknowledged is lost.
func TestFluentBitShutdownDuringOutage(t *testing.T) {
	s := newFBScenario(t, lokiDest{}, host.Instance{"retry_budget": "", "timeout": ""})
	if err := s.proxy.Set(Mode{Stall: time.Hour}, 0); err != nil { // hangs every request
		t.Fatal(err)
	}
	s.write(10)
	s.start()
	waitRequests(s.proxy, 1, 10*time.Second)
	if len(s.proxy.Requests()) == 0 {
		t.Fatalf("kubeship never sent:\n%s", s.fb.Logs())
	}
	rss, _ := proc.MemoryMB(s.fb.PID(), "VmHWM")
	start := time.Now()
	if err := s.fb.Stop(5 * time.Second); err != nil {
		t.Errorf("%v\n%s", err, s.fb.Logs())
	}
	// A retry Fluent Bit starts at the end of Grace runs for up to one more
	// retry_budget before the worker can stop.
	took := time.Since(start)
	if limit := 5*time.Second + 4*time.Second + 2*time.Second; took > limit {
		t.Errorf("Fluent Bit took %s to stop with a flush stuck in an outage, want within Grace + retry_budget + 2s = %s:\n%s", took, limit, s.fb.Logs())
	}
	if !strings.Contains(s.fb.Logs(), "retry budget spent, handing the chunk back") {
		t.Errorf("the stuck flush was not handed back:\n%s", s.fb.Logs())
	}
	t.Logf("stopped %s after SIGTERM", took.Round(100*time.Millisecond))
	if err := s.proxy.Set(Mode{}, 0); err != nil {
		t.Fatal(err)
	}
	s.start()
	distinct, dups := countArrived(t, s.dest.arrived(t, s.name, len(s.lines)), s.lines, len(s.lines))
	addRow(row{s.name, len(s.lines), distinct, dups, rss})
	if t.Failed() {
		t.Logf("Fluent Bit's log after the restart:\n%s", s.fb.Logs())
	}
}
