// Command matrix runs every suite that needs a real Fluent Bit against each
// Fluent Bit binary of $FLUENT_BITS (space-separated; else $FLUENT_BIT or
// fluent-bit on PATH) and prints a version × suite table: passed, failed
// with the first failure's line, or skipped with the reason. `make e2e`.
// A Fluent Bit older than 2.0 runs only the version suite, which checks
// that kubeship refuses it cleanly.
// It exits non-zero when a suite failed or no Fluent Bit was given.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kubeship/kubeship/test/fluentbit"
)

// A suite is a go test invocation that needs a real Fluent Bit.
type suite struct {
	name string
	args []string
}

var suites = []suite{
	{"version", []string{"./test/e2e", "-run", "^TestVersionSupport$"}},
	{"e2e", []string{"./test/e2e"}},
	{"metrics", []string{"./test/e2e", "-run", "^TestFluentBitEndpointMetrics$"}}, // kubeship's metrics on Fluent Bit's endpoint
	{"conf", []string{"./test/conf"}},
	{"faults", []string{"./test/faultinject", "-run", "^TestFluentBit"}},
	{"readme", []string{"./test/readme"}},
	{"differential", []string{"./test/differential"}},
	{"chart", []string{"./test/chart"}},
	{"multiline", []string{"./test/multiline", "-run", "^TestFargatePathJoinsTraces$"}}, // stack traces through the Fargate path
}

func main() {
	out := flag.String("o", "build/e2e/matrix.md", "also write the table here")
	flag.Parse()
	bins := strings.Fields(os.Getenv("FLUENT_BITS"))
	if len(bins) == 0 {
		bin, err := fluentbit.Find()
		if err != nil {
			fmt.Fprintf(os.Stderr, "matrix: %v; or set FLUENT_BITS=\"/path/a /path/b\"\n", err)
			os.Exit(1)
		}
		bins = []string{bin}
	}

	var table strings.Builder
	table.WriteString("| Fluent Bit |")
	for _, s := range suites {
		table.WriteString(" " + s.name + " |")
	}
	table.WriteString("\n|---|" + strings.Repeat("---|", len(suites)) + "\n")
	failed := false
	for _, bin := range bins {
		abs, err := exec.LookPath(bin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "matrix: %v\n", err)
			os.Exit(1)
		}
		version := strings.TrimPrefix(fluentbit.Version(abs), "Fluent Bit ")
		fmt.Fprintf(&table, "| %s |", version)
		major, _ := fluentbit.Major(abs)
		for i, s := range suites {
			if major < 2 && i > 0 {
				// kubeship refuses to start there: the version suite checks how.
				table.WriteString(" not run: refused at init |")
				continue
			}
			fmt.Fprintf(os.Stderr, "== %s: %s\n", version, s.name)
			r := run(abs, s)
			failed = failed || r.failed > 0 || r.err != ""
			fmt.Fprintf(&table, " %s |", r)
		}
		table.WriteString("\n")
	}
	fmt.Print(table.String())
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err == nil {
			_ = os.WriteFile(*out, []byte(table.String()), 0o644)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// result counts one suite's tests (not subtests) by outcome.
type result struct {
	passed, failed, skipped int
	first                   string // the first failure's line, or the first skip's reason
	err                     string // the suite did not run (build failure, ...)
}

func (r result) String() string {
	switch {
	case r.err != "":
		return "error: " + r.err
	case r.failed > 0:
		return fmt.Sprintf("**failed** %d of %d: %s", r.failed, r.passed+r.failed+r.skipped, r.first)
	case r.passed == 0 && r.skipped > 0:
		return "skipped: " + r.first
	case r.skipped > 0:
		return fmt.Sprintf("passed %d, skipped %d: %s", r.passed, r.skipped, r.first)
	default:
		return fmt.Sprintf("passed (%d)", r.passed)
	}
}

// event is one line of `go test -json`.
type event struct {
	Action string
	Test   string
	Output string
}

func run(bin string, s suite) result {
	args := append([]string{"test", "-count=1", "-json", "-timeout", "20m"}, s.args...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "FLUENT_BIT="+bin, fluentbit.RequiredEnv+"=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return result{err: err.Error()}
	}
	if err := cmd.Start(); err != nil {
		return result{err: err.Error()}
	}
	var r result
	lines := map[string][]string{} // a top-level test's output so far
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
			continue
		}
		top, _, sub := strings.Cut(e.Test, "/")
		switch e.Action {
		case "output":
			lines[top] = append(lines[top], strings.TrimSpace(e.Output))
		case "pass", "fail", "skip":
			if sub {
				continue
			}
			switch e.Action {
			case "pass":
				r.passed++
			case "fail":
				if r.failed == 0 {
					r.first = e.Test + ": " + firstProblem(lines[top])
				}
				r.failed++
			case "skip":
				if r.skipped == 0 && r.failed == 0 {
					r.first = firstProblem(lines[top])
				}
				r.skipped++
			}
		}
	}
	werr := cmd.Wait()
	if werr != nil && r.failed == 0 {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = werr.Error()
		}
		r.err = strings.ReplaceAll(msg, "\n", " ")
	}
	return r
}

// firstProblem picks the first line a test wrote at a file:line (t.Errorf,
// t.Fatalf, t.Skipf), cut to fit a table cell.
func firstProblem(lines []string) string {
	for _, l := range lines {
		if strings.Contains(l, "_test.go:") || strings.Contains(l, ".go:") && strings.Contains(l, "SKIPPED") {
			l = strings.ReplaceAll(l, "|", "\\|")
			if len(l) > 200 {
				l = l[:200] + "…"
			}
			return l
		}
	}
	return "(no message)"
}
