package faultinject

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
	"github.com/kubeship/kubeship/test/lokiserver"
	"github.com/kubeship/kubeship/test/proc"
)

// dupLines is how many numbered lines TestFluentBitDuplicatesUnderRestarts
// writes, dupBatch at a time every dupTick: 6,000 over 20 s.
const (
	dupLines = 6000
	dupBatch = 30
	dupTick  = 100 * time.Millisecond
)

// dupPad makes each line 400 bytes or so, an application's line with some
// context.
var dupPad = strings.Repeat("ctx=abcdefghijklmnopqrstuvwxyz ", 12)

// dupSlack is how many more duplicates kubeship may leave than the
// built-in loki output under the same faults, stored by Loki or received
// by it. The two run in two
// Fluent Bits killed at the same moment, over the same files into the same
// Loki, but each is at its own point of its own flush when a fault lands:
// what one had sent and not yet had acknowledged, the other may not have
// sent yet. That is at most one flush of each output for each fault that
// can make an output send again (Loki's crash, the kill): a second of
// lines each, dupBatch lines per dupTick.
const dupSlack = 2 * dupBatch * int(time.Second/dupTick)

// dupCount is what one output delivered of the numbered lines: the
// entries Loki stored (distinct counts each line once), and the lines Loki
// received, failed pushes and duplicates included.
type dupCount struct {
	entries, distinct, lost, duplicates int
	received                            int
}

func (c dupCount) String() string {
	return fmt.Sprintf("%d entries stored, %d distinct lines, %d lost, %d duplicates; %d lines received",
		c.entries, c.distinct, c.lost, c.duplicates, c.received)
}

// dupFluentBit is one of the test's two Fluent Bits: its directory
// (storage, tail DB) and its running process, replaced by the restart.
type dupFluentBit struct {
	dir, conf string
	mu        sync.Mutex
	p         *fluentbit.Process
	logs      string // what the killed process printed
}

// Duplicates counted end to end: real Fluent Bits with filesystem storage
// and a tail DB read the same numbered lines through the Fargate router's
// CRI parser, one into kubeship, one into its built-in loki output, both
// into one real Loki. While the lines are being written, Loki crashes
// (SIGKILL) and is started again on its data; as soon as it is back, while
// both retry what failed meanwhile, both Fluent Bits are killed with
// SIGKILL and started again on their storage. Every line arrives through
// kubeship, and kubeship leaves no more duplicates than the built-in
// output (up to dupSlack), counted two ways. The entries Loki stored; and,
// each output being a tenant of its own, the lines Loki received from it
// (loki_distributor_lines_received_total, read before the crash and at the
// end), failed pushes included, which says how much each sent again: of
// two entries with the same time, line and metadata Loki drops the second
// when it arrives after the first in its stream, or while the first is in
// the stream's head block, and merges them when it reads them back
// (pkg/iter's merge iterator), so a chunk sent again with the times it
// was read with is received twice and read back once.
//
// The outputs run in two Fluent Bits, not one: Fluent Bit keeps a chunk in
// its storage until every output has delivered it, so in one process a
// kill makes the output that was ahead send again what the other had not
// yet sent, and the counts would say which was faster, not what each sends
// again.
func TestFluentBitDuplicatesUnderRestarts(t *testing.T) {
	bin := fluentbit.Need(t)
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(root, "build", "out_kubeship.so")
	router, err := fargate.ReadRouter(filepath.Join(root, "conf", "k8s", "fargate-loki.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "containers")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	lokiDir := filepath.Join(dir, "loki")
	var lokiMu sync.Mutex // guards loki, replaced by the restart
	lokiOpts := lokiserver.Options{Dir: lokiDir, HTTPPort: port, MultiTenant: true}
	loki, err := lokiserver.Start(lokiOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		lokiMu.Lock()
		defer lokiMu.Unlock()
		loki.Stop()
	})

	run := fmt.Sprintf("dup%d", time.Now().UnixNano()%1e6)
	// The router's CRI parser gives both outputs the line's own time;
	// Fluent Bit's scheduler retries for ever. The built-in sends the
	// message alone (drop_single_key), as kubeship does. Each line holds
	// "line=N end", so the lines are counted by N.
	outputs := map[string]string{
		"kubeship": fmt.Sprintf("[OUTPUT]\n    Name kubeship\n    Match kube.*\n    Retry_Limit no_limits\n    url %s\n"+
			"    tenant_id kubeship\n    labels run=%s,out=kubeship\n", loki.PushURL(), run),
		"builtin": fmt.Sprintf("[OUTPUT]\n    Name loki\n    Match kube.*\n    Retry_Limit no_limits\n    Host 127.0.0.1\n    Port %d\n"+
			"    tenant_id builtin\n    labels run=%s, out=builtin\n    remove_keys stream, logtag\n    drop_single_key raw\n", port, run),
	}
	parser := fargate.DropFilter(router.Filters, "kubernetes")
	fbs := map[string]*dupFluentBit{}
	for name, out := range outputs {
		d := &dupFluentBit{dir: filepath.Join(dir, name)}
		if err := os.MkdirAll(d.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d.dir, "parsers.conf"), []byte(router.Parsers), 0o644); err != nil {
			t.Fatal(err)
		}
		d.conf = "[SERVICE]\n    Flush 1\n    Grace 5\n    Log_Level info\n    Parsers_File parsers.conf\n" +
			"    storage.path " + filepath.Join(d.dir, "storage") + "\n    scheduler.base 1\n    scheduler.cap 2\n\n" +
			fargate.TailInput(logs) + "    storage.type filesystem\n    DB " + filepath.Join(d.dir, "tail.db") + "\n\n" +
			parser + "\n" + out
		fbs[name] = d
		t.Cleanup(func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.p != nil && !d.p.Exited() {
				d.p.Kill()
			}
		})
	}
	start := func(d *dupFluentBit) error {
		p, err := fluentbit.Start(bin, so, d.dir, d.conf)
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.p = p
		d.mu.Unlock()
		return nil
	}
	for _, d := range fbs {
		if err := start(d); err != nil {
			fluentbit.SkipIfMissing(t, err)
			t.Fatal(err)
		}
	}

	// The faults, while the lines flow: Loki killed at 4 s and started
	// again on the same data and port 2 s later (what it had received read
	// just before); once it is ready, both Fluent Bits killed while they
	// retry what failed meanwhile, and started again a second later on
	// their storage and tail DB.
	faults := make(chan error, 1)
	var receivedBefore map[string]int
	go func() {
		faults <- func() error {
			time.Sleep(4 * time.Second)
			lokiMu.Lock()
			var err error
			receivedBefore, err = lokiReceived(loki)
			loki.Kill()
			lokiMu.Unlock()
			if err != nil {
				return err
			}
			time.Sleep(2 * time.Second)
			l, err := lokiserver.Start(lokiOpts)
			if err != nil {
				return fmt.Errorf("Loki did not start again: %w", err)
			}
			lokiMu.Lock()
			loki = l
			lokiMu.Unlock()
			time.Sleep(500 * time.Millisecond)
			for _, d := range fbs {
				d.mu.Lock()
				d.p.Kill()
				d.logs = d.p.Logs()
				d.mu.Unlock()
			}
			time.Sleep(time.Second)
			for _, d := range fbs {
				if err := start(d); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
	pod := fargate.Pods()[0]
	for i := 0; i < dupLines; i += dupBatch {
		lines := make([]fargate.Line, dupBatch)
		for j := range lines {
			lines[j] = fargate.Line{Time: time.Now(), Stream: "stdout", Text: fmt.Sprintf("%s %s line=%d end", run, dupPad, i+j)}
		}
		if err := fargate.WriteLogs(logs, pod, lines); err != nil {
			t.Fatal(err)
		}
		time.Sleep(dupTick)
	}
	if err := <-faults; err != nil {
		t.Fatal(err)
	}

	// Wait until every line arrived through both outputs, then stop the
	// Fluent Bits, so that nothing more comes while counting.
	var counts map[string]dupCount
	deadline := time.Now().Add(60 * time.Second)
	for {
		if counts, err = countDuplicates(loki, run); err != nil {
			t.Fatal(err)
		}
		if (counts["kubeship"].lost == 0 && counts["builtin"].lost == 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	rss := map[string]float64{}
	for name, d := range fbs {
		d.mu.Lock()
		rss[name], _ = proc.MemoryMB(d.p.PID(), "VmHWM")
		if err := d.p.Stop(5 * time.Second); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		d.mu.Unlock()
	}
	if counts, err = countDuplicates(loki, run); err != nil {
		t.Fatal(err)
	}
	receivedAfter, err := lokiReceived(loki)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range counts {
		c.received = receivedBefore[name] + receivedAfter[name]
		counts[name] = c
	}
	ks, bi := counts["kubeship"], counts["builtin"]
	t.Logf("%s, %d lines written; Loki crashed and restarted, then Fluent Bit killed and restarted, while they flowed:\n  kubeship: %s\n  built-in loki: %s",
		fluentbit.Version(bin), dupLines, ks, bi)
	addRow(row{"duplicates_under_restarts_kubeship", dupLines, ks.distinct, ks.duplicates, rss["kubeship"]})
	addRow(row{"duplicates_under_restarts_builtin_loki", dupLines, bi.distinct, bi.duplicates, rss["builtin"]})
	if ks.lost > 0 {
		t.Errorf("kubeship lost %d of %d lines", ks.lost, dupLines)
	}
	if ks.duplicates > bi.duplicates+dupSlack {
		t.Errorf("Loki stored %d duplicates from kubeship, %d from the built-in loki output under the same faults: more than %d over",
			ks.duplicates, bi.duplicates, dupSlack)
	}
	if ks.received-dupLines > bi.received-dupLines+dupSlack {
		t.Errorf("Loki received %d lines from kubeship, %d from the built-in loki output, of %d written, under the same faults: more than %d over",
			ks.received, bi.received, dupLines, dupSlack)
	}
	if t.Failed() {
		for name, d := range fbs {
			d.mu.Lock()
			t.Logf("%s's Fluent Bit, killed:\n%s\nstarted again:\n%s", name, d.logs, d.p.Logs())
			d.mu.Unlock()
		}
	}
}

// lokiReceived reads the lines Loki received since it started, by tenant.
func lokiReceived(loki *lokiserver.Server) (map[string]int, error) {
	resp, err := http.Get(loki.URL + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	n := map[string]int{}
	for _, l := range strings.Split(string(body), "\n") {
		if m := receivedLine.FindStringSubmatch(l); m != nil {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", l, err)
			}
			n[m[1]] += int(v)
		}
	}
	return n, nil
}

var receivedLine = regexp.MustCompile(`^loki_distributor_lines_received_total\{.*tenant="([^"]+)".*\} (\S+)$`)

var dupLine = regexp.MustCompile(`line=(\d+) end$`)

// countDuplicates reads back the numbered lines of run, by output label.
// Loki answers at most 5,000 entries a query, so the lines are read in ten
// queries, by the last digit of their number.
func countDuplicates(loki *lokiserver.Server, run string) (map[string]dupCount, error) {
	out := map[string]dupCount{}
	for _, output := range []string{"kubeship", "builtin"} {
		seen := make([]int, dupLines)
		var c dupCount
		for d := range 10 {
			query := fmt.Sprintf(`{run=%q, out=%q} |= "%d end"`, run, output, d)
			streams, err := loki.Query(context.Background(), output, query)
			if err != nil {
				return nil, err
			}
			n := 0
			for _, st := range streams {
				for _, e := range st.Entries {
					n++
					m := dupLine.FindStringSubmatch(e.Line)
					if m == nil {
						return nil, fmt.Errorf("%s: unexpected line %q", output, e.Line)
					}
					i, err := strconv.Atoi(m[1])
					if err != nil || i >= dupLines {
						return nil, fmt.Errorf("%s: unexpected line %q", output, e.Line)
					}
					seen[i]++
				}
			}
			if n >= 5000 {
				return nil, fmt.Errorf("%s: %d entries for %s, Loki's limit: count in smaller parts", output, n, query)
			}
			c.entries += n
		}
		for _, k := range seen {
			if k > 0 {
				c.distinct++
			} else {
				c.lost++
			}
		}
		c.duplicates = c.entries - c.distinct
		out[output] = c
	}
	return out, nil
}
