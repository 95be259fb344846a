// Package fluentbit runs a real Fluent Bit, found through $FLUENT_BIT or
// PATH, with out_kubeship.so loaded, for end-to-end tests, the demo and
// benchmarks. Fluent Bit is not in any package registry: build it beside the
// project and point $FLUENT_BIT at the binary.
package fluentbit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/proc"
)

// Find returns the Fluent Bit binary: $FLUENT_BIT, else fluent-bit on PATH.
func Find() (string, error) {
	name := os.Getenv("FLUENT_BIT")
	if name == "" {
		name = "fluent-bit"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("no Fluent Bit: set $FLUENT_BIT to a fluent-bit binary or put one on PATH (%v)", err)
	}
	return bin, nil
}

// RequiredEnv makes Need fail instead of skip (`make e2e`).
const RequiredEnv = "KUBESHIP_REQUIRE_FLUENT_BIT"

// Need returns the Fluent Bit binary, or skips the test saying so loudly
// (fails it when $KUBESHIP_REQUIRE_FLUENT_BIT is set).
func Need(t testing.TB) string {
	t.Helper()
	bin, err := Find()
	if err == nil {
		return bin
	}
	if os.Getenv(RequiredEnv) != "" {
		t.Fatalf("%v", err)
	}
	t.Skipf("SKIPPED: real-Fluent-Bit end-to-end test: %v", err)
	return ""
}

// Version returns the first line of `fluent-bit --version`.
func Version(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown version"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// Major returns the major version of bin, from `fluent-bit --version`.
func Major(bin string) (int, error) {
	v := Version(bin)
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, fmt.Errorf("%s: no version in %q", bin, v)
	}
	return strconv.Atoi(m[1])
}

var versionRE = regexp.MustCompile(`\bv?(\d+)\.\d+`)

// MissingError says the Fluent Bit found lacks plugins a config names, as
// a build with FLB_MINIMAL or with plugins switched off does.
type MissingError struct {
	Bin     string
	Plugins []string // "input elasticsearch", ...
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s lacks %s: build Fluent Bit with its default plugin set",
		e.Bin, strings.Join(e.Plugins, ", "))
}

// SkipIfMissing skips the test when err is a *MissingError (fails it when
// $KUBESHIP_REQUIRE_FLUENT_BIT is set), so a partial Fluent Bit on PATH is
// reported as such instead of failing tests for plugins it was built without.
func SkipIfMissing(t testing.TB, err error) {
	t.Helper()
	var m *MissingError
	if !errors.As(err, &m) {
		return
	}
	if os.Getenv(RequiredEnv) != "" {
		t.Fatalf("%v", err)
	}
	t.Skipf("SKIPPED: real-Fluent-Bit end-to-end test: %v", err)
}

var builtins sync.Map // bin → map["input tail"]bool, from `fluent-bit --help`

// Check returns a *MissingError naming the plugins that the [INPUT],
// [FILTER] and [OUTPUT] sections of a classic config name and bin was not
// built with. Plugins loaded from shared objects (kubeship, grafana-loki)
// are not built in and are not checked.
func Check(bin, config string) error {
	have, ok := builtins.Load(bin)
	if !ok {
		// --help exits non-zero by design; its output is what counts.
		out, _ := exec.Command(bin, "--help").Output()
		m := parseHelp(string(out))
		if len(m) == 0 {
			return fmt.Errorf("%s --help listed no plugins: is it Fluent Bit?", bin)
		}
		have, _ = builtins.LoadOrStore(bin, m)
	}
	if missing := missingFrom(have.(map[string]bool), config); len(missing) > 0 {
		return &MissingError{Bin: bin, Plugins: missing}
	}
	return nil
}

func missingFrom(have map[string]bool, config string) []string {
	var missing []string
	kind := ""
	for _, line := range strings.Split(config, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			kind = map[string]string{"[INPUT]": "input", "[FILTER]": "filter", "[OUTPUT]": "output"}[strings.ToUpper(line)]
			continue
		}
		key, value, _ := strings.Cut(line, " ")
		name := strings.ToLower(strings.TrimSpace(value))
		if kind == "" || !strings.EqualFold(key, "name") || name == "kubeship" || name == "grafana-loki" {
			continue
		}
		if p := kind + " " + name; !have[p] && !slices.Contains(missing, p) {
			missing = append(missing, p)
		}
	}
	return missing
}

// parseHelp reads the Inputs, Filters and Outputs lists of `fluent-bit
// --help`: a bold heading, then one "  name  description" line per plugin.
func parseHelp(help string) map[string]bool {
	m := map[string]bool{}
	kind := ""
	for _, line := range strings.Split(ansi.ReplaceAllString(help, ""), "\n") {
		switch {
		case line == "Inputs" || line == "Filters" || line == "Outputs":
			kind = strings.ToLower(strings.TrimSuffix(line, "s"))
		case !strings.HasPrefix(line, "  "):
			if line != "" {
				kind = ""
			}
		case kind != "":
			if f := strings.Fields(line); len(f) > 0 {
				m[kind+" "+f[0]] = true
			}
		}
	}
	return m
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// Process is a running Fluent Bit: its PID, Logs, WaitLog, Exited and Kill
// are proc's.
type Process struct {
	*proc.Process
	Dir string
}

// Start writes config (classic format) and a plugins file that loads so
// (none when so is "") into dir, and runs Fluent Bit with them. The config may use
// `Plugins_File plugins.conf`, which Start adds to [SERVICE] when absent.
func Start(bin, so, dir, config string) (*Process, error) {
	if so != "" { // "" runs Fluent Bit's own plugins only
		so, err := filepath.Abs(so)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(so); err != nil {
			return nil, fmt.Errorf("plugin %s missing: run `make build`", so)
		}
		plugins := filepath.Join(dir, "plugins.conf")
		if err := os.WriteFile(plugins, []byte("[PLUGINS]\n    Path "+so+"\n"), 0o644); err != nil {
			return nil, err
		}
		if !strings.Contains(strings.ToLower(config), "plugins_file") {
			config = strings.Replace(config, "[SERVICE]\n", "[SERVICE]\n    Plugins_File "+plugins+"\n", 1)
		}
	}
	if err := Check(bin, config); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "fluent-bit.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Dir = dir
	p, err := proc.Start(cmd, nil)
	if err != nil {
		return nil, err
	}
	return &Process{p, dir}, nil
}

// Stop sends SIGTERM, which makes Fluent Bit flush its pending chunks
// within its Grace period, and waits for it; it kills it after grace plus a
// margin. It returns an error when Fluent Bit had to be killed or crashed.
func (p *Process) Stop(grace time.Duration) error {
	if p.Process.Stop(syscall.SIGTERM, grace+10*time.Second) {
		return fmt.Errorf("fluent bit did not stop within %s of SIGTERM; killed", grace+10*time.Second)
	}
	st := p.Cmd.ProcessState
	if st == nil || st.Success() {
		return nil
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Errorf("fluent bit died of %s", ws.Signal())
	}
	return errors.New("fluent bit exited with " + st.String())
}
