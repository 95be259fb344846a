package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/proc"
)

// Issue #16 part 4: Fluent Bit's resident memory around one 32 MB record,
// with each output. The record comes through its own tail input (a long
// Buffer_Max_Size) once a small corpus is acknowledged, tagged kube.huge so
// the outputs take it; the router's filters leave it as it is.

const (
	hugeSize = 32 << 20
	// hugeN is the small corpus's records: enough to start every output
	// and fill its buffers, few enough that what Fluent Bit keeps of them
	// varies little between runs (with 200,000, RSS before the record
	// varied from 51 to 108 MB between outputs).
	hugeN = 20000
	// hugeSettle is how long RSS is watched after the record is
	// acknowledged: Fluent Bit's own outputs free through malloc, kubeship
	// gives huge buffers back at once (internal/freelist).
	hugeSettle = 20 * time.Second
)

// hugeOutputs are the rows measured: null (what Fluent Bit itself keeps:
// its tail buffer grows to the line), each destination's default and its
// built-in peer.
var hugeOutputs = []string{"null", "loki-sm", "kubeship loki", "datadog", "kubeship datadog"}

// hugeUse is RSS before the record, the process's peak, and hugeSettle
// after the record was acknowledged, in MB.
type hugeUse struct {
	before, peak, after float64
}

// hugeInput is the tail input the record comes through, watching dir/huge.
func hugeInput(dir string, on bool) string {
	if !on {
		return ""
	}
	return fmt.Sprintf("[INPUT]\n    Name tail\n    Path %s/*.log\n    Tag kube.huge\n    Read_From_Head On\n    Refresh_Interval 1\n"+
		"    Buffer_Chunk_Size 1MB\n    Buffer_Max_Size 40MB\n    Mem_Buf_Limit 100MB\n\n", filepath.Join(dir, "huge"))
}

// hugeRecord writes the record where hugeInput reads it, once the first n
// records are acknowledged, and watches Fluent Bit's memory.
func hugeRecord(fb *fluentbit.Process, port int, dir string, n int) (hugeUse, error) {
	var u hugeUse
	var err error
	if u.before, err = proc.MemoryMB(fb.PID(), "VmRSS"); err != nil {
		return u, err
	}
	in := filepath.Join(dir, "huge")
	if err := os.MkdirAll(in, 0o755); err != nil {
		return u, err
	}
	line := append(bytes.Repeat([]byte("x"), hugeSize), '\n')
	// Renamed into place, so tail never reads half of it.
	if err := os.WriteFile(filepath.Join(in, "huge.tmp"), line, 0o644); err != nil {
		return u, err
	}
	if err := os.Rename(filepath.Join(in, "huge.tmp"), filepath.Join(in, "huge.log")); err != nil {
		return u, err
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		done, err := acknowledged(port)
		if err == nil && done > n {
			break
		}
		if fb.Exited() || time.Now().After(deadline) {
			return u, fmt.Errorf("the 32 MB record was not acknowledged (%v); Fluent Bit:\n%s", err, tail(fb.Logs()))
		}
	}
	time.Sleep(hugeSettle)
	if u.peak, err = proc.MemoryMB(fb.PID(), "VmHWM"); err != nil {
		return u, err
	}
	u.after, err = proc.MemoryMB(fb.PID(), "VmRSS")
	return u, err
}

// hugeReport renders the runs' table.
func hugeReport(containers int, runs map[string]result, order []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### One 32 MB record after %d records (%d containers)\n\n", hugeN, containers)
	fmt.Fprintf(&b, "| output | RSS MB before | peak | %.0f s after it was acknowledged | kept (after − before) | delivered |\n|---|---|---|---|---|---|\n", hugeSettle.Seconds())
	for _, name := range order {
		r, ok := runs[name]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.0f | %d |\n", name, r.huge.before, r.huge.peak, r.huge.after, r.huge.after-r.huge.before, r.delivered)
	}
	return b.String()
}
