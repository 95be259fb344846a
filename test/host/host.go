// Package host drives kubeship-host (host.c), a small C program that loads a
// Fluent Bit Go output plugin .so through the same ABI and call sequence as
// Fluent Bit 5.1 and 4.2 (or, built as kubeship-host-1.9, Fluent Bit 1.9;
// built as kubeship-host-hidden, a Fluent Bit that exports no functions to
// plugins), so Go tests can exercise the real c-shared plugin without a
// Fluent Bit binary. Like Fluent Bit 2.0 and later, it gives each instance a
// metrics context and exports the cmetrics functions a plugin reports
// through, as fakes whose series Metrics reads (Options.Metrics for the
// Fluent Bits that have none).
//
// Binaries: <root>/build/kubeship-host{,-1.9,-hidden} and <root>/build/out_kubeship.so,
// where <root> is the directory holding the go.mod of module
// github.com/kubeship/kubeship (found by walking up from the working
// directory). The host binaries are (re)compiled from test/host/host.c with
// cc when missing or older than host.c; the plugin .so is never built here
// (run `make build`).
//
// With $KUBESHIP_HOST_ARCH=arm64 the host and plugin are the cross-built
// ones in <root>/build/arm64 (`make build GOARCH=arm64`), run under
// $KUBESHIP_HOST_EMULATOR (default "qemu-aarch64 -L /usr/aarch64-linux-gnu").
//
// Methods that take no testing.TB use the one given to Start/StartOpts and may
// call t.Fatalf, so call them from the test's own goroutine.
package host

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/proc"
)

// Return codes of FLBPluginFlush, as in fluent-bit-go's output package.
// Fluent Bit treats any other value as FLB_ERROR.
const (
	FLB_ERROR = 0
	FLB_OK    = 1
	FLB_RETRY = 2
)

// Default bounds on waiting for the host.
const (
	DefaultFlushTimeout = 2 * time.Minute // per Flush/FlushConcurrent and for all inits
	closeTimeout        = 10 * time.Second
)

const modulePath = "github.com/kubeship/kubeship"

// Instance is one [OUTPUT] section's keys (without Name). Keys are passed to
// the host in sorted order. As in Fluent Bit v4.2: lookups by the plugin are
// case-insensitive; empty values read back as unset; keys Fluent Bit keeps
// for itself (name, match, match_regex, alias, log_level, workers,
// retry_limit, storage.total_limit_size, host, port, ipv6, tls, tls.*,
// net.*, ...) read back empty; log_level sets the instance's level for
// output_log_check; and "tls": "on" makes start-up fail, because Go proxy
// plugins register without TLS support.
type Instance map[string]string

// Options tunes StartOpts. The zero value is the default.
type Options struct {
	// LogLevel is the Fluent Bit log level that output_log_check compares
	// against (error=1, warn=2, info=3, debug=4, trace=5). 0 means 3 (info).
	LogLevel int
	// SO overrides the plugin path (default <root>/build/out_kubeship.so).
	SO string
	// Env is added to the host process's environment (KEY=value entries).
	Env []string
	// FlushTimeout bounds each Flush/FlushConcurrent call and the whole
	// start-up (registration plus all inits). 0 means DefaultFlushTimeout.
	FlushTimeout time.Duration
	// ABI is the Fluent Bit whose plugin ABI the host mirrors: "5.1" (the
	// default when empty), "4.2", "1.9" (the separate kubeship-host-1.9) or
	// "hidden" (5.1, from kubeship-host-hidden, which exports nothing).
	ABI string
	// Metrics is "" for an instance's cmetrics context as Fluent Bit 2.0+
	// gives it, "off" for the API table of a Fluent Bit built without
	// metrics (output_get_cmt_instance uninitialised: calling it crashes),
	// "null" for output_get_cmt_instance returning NULL.
	Metrics string
}

// Host is a running kubeship-host process with the plugin loaded and all
// instances initialised.
type Host struct {
	t       testing.TB
	proc    *proc.Process
	log     proc.Log // stderr without the sync marks
	stdin   io.WriteCloser
	lines   chan string // protocol answers from stdout; closed once the host exited
	timeout time.Duration
	tmp     string
	reg     string
	inits   []int

	mu     sync.Mutex // serialises commands
	closed bool
	killed bool // killed after a failure that was already reported
	exitRC int
	seq    int

	syncMu   sync.Mutex
	syncCond *sync.Cond // signalled when marks grows or the host exited
	marks    int        // sync marks seen on stderr (one per answer)
	answers  int        // answers read from stdout
	exited   bool       // stderr drained
}

// syncMark is what host.c writes to stderr before each answer when
// KUBESHIP_HOST_SYNC is set; it is removed from Logs.
const syncMark = "\x00kubeship-host-sync\x00"

// Start starts the host with the default plugin and options and fails the
// test if registration or any init fails. Close is registered with t.Cleanup.
func Start(t testing.TB, instances ...Instance) *Host {
	t.Helper()
	h, err := StartOpts(t, Options{}, instances...)
	if err != nil {
		t.Fatalf("host: %v", err)
	}
	return h
}

// StartOpts starts the host and waits for registration and every init. It
// returns an error (whose text includes the host's stderr) when the host
// exits or stops answering during start-up, e.g. when an init returns <= 0
// or the configuration is refused. Missing binaries fail the test instead.
// On success Close is registered with t.Cleanup.
func StartOpts(t testing.TB, opts Options, instances ...Instance) (*Host, error) {
	t.Helper()
	hostBin, so := binaries(t, opts.SO, opts.ABI)

	level := opts.LogLevel
	if level == 0 {
		level = 3
	}
	args := []string{"-l", strconv.Itoa(level), so}
	if opts.Metrics != "" {
		args = append([]string{"-m", opts.Metrics}, args...)
	}
	if opts.ABI == "4.2" || opts.ABI == "5.1" {
		args = append([]string{"-a", opts.ABI}, args...)
	} else if _, ok := flavors[opts.ABI]; !ok {
		t.Fatalf("host: unknown ABI %q (want 5.1, 4.2, 1.9 or hidden)", opts.ABI)
	}
	for _, in := range instances {
		args = append(args, "-i")
		keys := make([]string, 0, len(in))
		for k := range in {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "" || strings.Contains(k, "=") {
				t.Fatalf("host: invalid key %q", k)
			}
			args = append(args, "-k", k+"="+in[k])
		}
	}

	h := &Host{
		t:       t,
		lines:   make(chan string, 64),
		timeout: opts.FlushTimeout,
		tmp:     t.TempDir(),
	}
	h.syncCond = sync.NewCond(&h.syncMu)
	if h.timeout <= 0 {
		h.timeout = DefaultFlushTimeout
	}
	run := append(emulator(), hostBin)
	cmd := exec.Command(run[0], append(run[1:], args...)...)
	cmd.Env = append(append(os.Environ(), opts.Env...), "KUBESHIP_HOST_SYNC=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("host: %v", err)
	}
	h.stdin = stdin
	errs := &stderr{h: h}
	cmd.Stdout, cmd.Stderr = &stdout{lines: h.lines}, errs
	if h.proc, err = proc.Start(cmd, &h.log); err != nil {
		t.Fatalf("host: start %s: %v", hostBin, err)
	}
	go func() {
		<-h.proc.Done() // all output written: no more Writes
		close(h.lines)
		errs.flush()
	}()

	deadline := time.After(h.timeout)
	line, err := h.next(deadline)
	if err == nil && !strings.HasPrefix(line, "registered ") {
		err = fmt.Errorf("unexpected answer %q", line)
	}
	h.reg = line
	for i := 0; err == nil && i < len(instances); i++ {
		line, err = h.next(deadline)
		if err != nil {
			break
		}
		var n, rc int
		if _, serr := fmt.Sscanf(line, "init %d rc=%d", &n, &rc); serr != nil || n != i {
			err = fmt.Errorf("unexpected answer %q", line)
			break
		}
		h.inits = append(h.inits, rc)
		if rc <= 0 {
			err = fmt.Errorf("init of instance %d returned %d: %w", i, rc, errExited)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kubeship-host start-up failed: %v; %s", err, h.stop(errors.Is(err, errExited)))
	}
	t.Cleanup(func() { h.Close() })
	return h, nil
}

// Registration returns the host's "registered name=... description=...
// event_type=..." line.
func (h *Host) Registration() string { return h.reg }

// InitRCs returns the value each instance's FLBPluginInit returned.
func (h *Host) InitRCs() []int { return append([]int(nil), h.inits...) }

// Flush hands chunk (raw msgpack, as in a Fluent Bit chunk) to the given
// instance's FLBPluginFlushCtx (or FLBPluginFlush) and returns its rc
// unchanged (Fluent Bit would treat anything but FLB_OK/FLB_RETRY as
// FLB_ERROR). The host fills the buffer with 0xAA and frees it after the
// call, so a plugin that keeps pointers into it misbehaves. A flush that has
// not returned after Options.FlushTimeout kills the host and fails the test.
func (h *Host) Flush(instance int, tag string, chunk []byte) int {
	h.t.Helper()
	return h.flush("flush", strconv.Itoa(instance), tag, chunk, 1)[0]
}

// FlushStale flushes with the context the instance had before the last
// Reload, as a Fluent Bit would that called a retired instance.
func (h *Host) FlushStale(instance int, tag string, chunk []byte) int {
	h.t.Helper()
	return h.flush("flush", "old."+strconv.Itoa(instance), tag, chunk, 1)[0]
}

// Reload does what Fluent Bit's hot reload does to the plugin: every
// instance's exit, then a new init of each with the same keys. It fails
// the test unless every init succeeds.
func (h *Host) Reload() {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	deadline := time.After(h.timeout)
	_, err := h.send("reload", deadline) // "reload exit <rc>"; then one "init" line per instance
	for i := 0; err == nil && i < len(h.inits); i++ {
		var (
			line  string
			n, rc int
		)
		if line, err = h.next(deadline); err == nil {
			if _, serr := fmt.Sscanf(line, "init %d rc=%d", &n, &rc); serr != nil || n != i || rc <= 0 {
				err = fmt.Errorf("unexpected answer %q", line)
			}
		}
	}
	if err != nil {
		h.t.Fatalf("host: reload: %v; %s", err, h.stop(errors.Is(err, errExited)))
	}
}

// Metrics returns every live instance's cmetrics context as Fluent Bit's
// /api/v2/metrics/prometheus shows it, one series a line (without HELP and
// TYPE lines), then a line "# kubeship-host overlapping=N after_destroy=N
// bad=N" counting the plugin's cmetrics calls that overlapped on one
// context, came after the context was destroyed (the instance's exit), or
// did not fit the metric.
func (h *Host) Metrics() string {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		h.t.Fatalf("host: metrics after Close")
	}
	line, err := h.send("metrics", time.After(h.timeout))
	if err != nil || !strings.HasPrefix(line, "metrics ") {
		h.t.Fatalf("host: metrics: %q, %v; %s", line, err, h.stop(errors.Is(err, errExited)))
	}
	return strings.ReplaceAll(strings.TrimPrefix(line, "metrics "), "\t", "\n")
}

// FlushConcurrent flushes n private copies of chunk to one instance from n
// threads at once (as Fluent Bit does with `Workers n`) and returns each rc.
func (h *Host) FlushConcurrent(instance int, tag string, chunk []byte, n int) []int {
	h.t.Helper()
	if n < 1 || n > 256 {
		h.t.Fatalf("host: FlushConcurrent n=%d out of range 1..256", n)
	}
	return h.flush("flushn", strconv.Itoa(instance), tag, chunk, n)
}

func (h *Host) flush(verb, instance, tag string, chunk []byte, n int) []int {
	h.t.Helper()
	if tag == "" || strings.ContainsAny(tag, " \t\r\n") {
		h.t.Fatalf("host: tag %q must be non-empty without whitespace", tag)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		h.t.Fatalf("host: %s after Close", verb)
	}
	h.seq++
	file := filepath.Join(h.tmp, fmt.Sprintf("chunk-%d.bin", h.seq))
	if err := os.WriteFile(file, chunk, 0o600); err != nil {
		h.t.Fatalf("host: %v", err)
	}
	defer os.Remove(file)
	cmd := fmt.Sprintf("%s %s %s %s", verb, instance, tag, file)
	if verb == "flushn" {
		cmd += " " + strconv.Itoa(n)
	}
	line, err := h.send(cmd, time.After(h.timeout))
	if err != nil {
		h.t.Fatalf("host: %s: %v; %s", cmd, err, h.stop(errors.Is(err, errExited)))
	}
	fields := strings.Fields(line)
	if len(fields) != n+1 || fields[0] != "flush" {
		h.t.Fatalf("host: %s: unexpected answer %q", cmd, line)
	}
	rcs := make([]int, n)
	for i := range rcs {
		rc, err := strconv.Atoi(fields[i+1])
		if err != nil {
			h.t.Fatalf("host: %s: unexpected answer %q", cmd, line)
		}
		rcs[i] = rc
	}
	return rcs
}

// Close runs the exit sequence (FLBPluginOutputPreExit/FLBPluginExitCtx per
// instance, FLBPluginUnregister) and returns the rc of the last exit
// callback. If the host does not finish within 10 s it is killed and the test
// fails. Calling Close again returns the first result.
func (h *Host) Close() (exitRC int) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return h.exitRC
	}
	h.closed = true
	h.exitRC = -1
	if h.killed {
		return h.exitRC
	}
	deadline := time.After(closeTimeout)
	line, err := h.send("exit", deadline)
	if err == nil {
		if _, serr := fmt.Sscanf(line, "exit %d", &h.exitRC); serr != nil {
			err = fmt.Errorf("unexpected answer %q", line)
		}
	}
	if err == nil {
		select {
		case <-h.proc.Done():
			if werr := h.proc.Err(); werr != nil {
				err = fmt.Errorf("host exited with %v", werr)
			}
		case <-deadline:
			err = errors.New("host did not exit within 10s")
		}
	}
	if err != nil {
		h.t.Errorf("host: exit: %v; %s", err, h.stop(errors.Is(err, errExited)))
	} else if h.t.Failed() {
		h.t.Logf("kubeship-host stderr:\n%s", h.Logs())
	}
	_ = h.stdin.Close()
	return h.exitRC
}

// PID is the host process's id (for /proc measurements).
func (h *Host) PID() int { return h.proc.PID() }

// Logs returns everything the host and plugin wrote to stderr (and the
// plugin's stdout, which the host redirects there) so far. Once Start,
// Flush or Close returns, Logs includes all output written before the host
// answered; output from the plugin's own goroutines may arrive later (see
// WaitLog). Safe for concurrent use.
func (h *Host) Logs() string { return h.proc.Logs() }

// WaitLog polls Logs until it contains substr; false when the host exited
// without writing it or timeout passed.
func (h *Host) WaitLog(substr string, timeout time.Duration) bool {
	return h.proc.WaitLog(substr, timeout)
}

// stdout passes the lines the host writes to stdout to next.
type stdout struct {
	lines   chan<- string
	partial []byte
}

func (a *stdout) Write(p []byte) (int, error) {
	a.partial = append(a.partial, p...)
	for {
		i := bytes.IndexByte(a.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		a.lines <- strings.TrimSuffix(string(a.partial[:i]), "\r")
		a.partial = a.partial[i+1:]
	}
}

// stderr copies what the host writes to stderr into its log, dropping the
// sync marks and counting them.
type stderr struct {
	h       *Host
	pending []byte
}

func (e *stderr) Write(p []byte) (int, error) {
	h := e.h
	e.pending = append(e.pending, p...)
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	for {
		i := bytes.Index(e.pending, []byte(syncMark))
		if i < 0 {
			break
		}
		_, _ = h.log.Write(e.pending[:i])
		e.pending = e.pending[i+len(syncMark):]
		h.marks++
	}
	keep := 0 // a tail that may be the start of a mark split across writes
	for k := min(len(e.pending), len(syncMark)-1); k > 0; k-- {
		if bytes.HasSuffix(e.pending, []byte(syncMark[:k])) {
			keep = k
			break
		}
	}
	_, _ = h.log.Write(e.pending[:len(e.pending)-keep])
	e.pending = append(e.pending[:0], e.pending[len(e.pending)-keep:]...)
	h.syncCond.Broadcast()
	return len(p), nil
}

// flush writes what was held back, once the host exited.
func (e *stderr) flush() {
	h := e.h
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	_, _ = h.log.Write(e.pending)
	h.exited = true
	h.syncCond.Broadcast()
}

// syncLogs waits until stderr has been read up to the mark the host wrote
// just before its latest answer, so Logs includes everything the plugin
// wrote during the call. It gives up after 5 s rather than hang.
func (h *Host) syncLogs() {
	const limit = 5 * time.Second
	deadline := time.Now().Add(limit)
	wake := time.AfterFunc(limit, func() {
		h.syncMu.Lock()
		h.syncCond.Broadcast()
		h.syncMu.Unlock()
	})
	defer wake.Stop()
	h.syncMu.Lock()
	for h.marks < h.answers && !h.exited && time.Now().Before(deadline) {
		h.syncCond.Wait()
	}
	h.syncMu.Unlock()
}

func (h *Host) send(cmd string, deadline <-chan time.Time) (string, error) {
	if _, err := io.WriteString(h.stdin, cmd+"\n"); err != nil {
		return "", fmt.Errorf("write command: %v", err)
	}
	line, err := h.next(deadline)
	if err == nil && strings.HasPrefix(line, "error ") {
		err = fmt.Errorf("host answered %q", line)
	}
	return line, err
}

func (h *Host) next(deadline <-chan time.Time) (string, error) {
	select {
	case line, ok := <-h.lines:
		if !ok {
			return "", errExited
		}
		h.syncMu.Lock()
		h.answers++
		h.syncMu.Unlock()
		h.syncLogs()
		return line, nil
	case <-deadline:
		return "", errTimeout
	}
}

var (
	errExited  = errors.New("host exited")
	errTimeout = errors.New("timed out waiting for the host (hung plugin?)")
)

// stop ends the host after a failure and describes how it ended, with its
// stderr. exiting means the host is expected to exit by itself (give it 5 s
// to finish writing its errors); otherwise it is killed at once.
func (h *Host) stop(exiting bool) string {
	h.killed = true
	grace := time.Duration(0)
	if exiting {
		grace = 5 * time.Second
	}
	select {
	case <-h.proc.Done():
	case <-time.After(grace):
		_ = h.proc.Cmd.Process.Kill()
		select {
		case <-h.proc.Done():
		case <-time.After(5 * time.Second):
			return "host could not be stopped; stderr:\n" + h.Logs()
		}
	}
	return fmt.Sprintf("host exit status: %s; stderr:\n%s", h.proc.Cmd.ProcessState, h.Logs())
}

var buildMu sync.Mutex

// flavors are the host binaries, by Options.ABI, with the Makefile's flags.
var flavors = map[string]struct {
	suffix string
	flags  []string
}{
	"":       {"", []string{"-rdynamic"}},
	"5.1":    {"", []string{"-rdynamic"}},
	"4.2":    {"", []string{"-rdynamic"}},
	"1.9":    {"-1.9", []string{"-rdynamic", "-DFLB_V1_9"}},
	"hidden": {"-hidden", nil},
}

// ArchEnv selects cross-built binaries run under emulation (see the package
// comment).
const ArchEnv = "KUBESHIP_HOST_ARCH"

// Arch returns the architecture of the host and plugin that tests run.
func Arch() string {
	if a := os.Getenv(ArchEnv); a != "" {
		return a
	}
	return runtime.GOARCH
}

func emulator() []string {
	if Arch() == runtime.GOARCH {
		return nil
	}
	if e := strings.Fields(os.Getenv("KUBESHIP_HOST_EMULATOR")); len(e) > 0 {
		return e
	}
	return []string{"qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"}
}

// binaries returns the host binary (compiling it when stale) and the plugin.
func binaries(t testing.TB, so, abi string) (hostBin, plugin string) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("host: %v", err)
	}
	dir := filepath.Join(root, "build")
	if Arch() != runtime.GOARCH {
		dir = filepath.Join(dir, Arch())
	}
	if so == "" {
		so = filepath.Join(dir, "out_kubeship.so")
	}
	if so, err = filepath.Abs(so); err != nil {
		t.Fatalf("host: %v", err)
	}
	if _, err := os.Stat(so); err != nil {
		t.Fatalf("host: plugin %s not found (run `make build`): %v", so, err)
	}
	f := flavors[abi]
	name := "kubeship-host" + f.suffix
	if Arch() != runtime.GOARCH {
		hostBin = filepath.Join(dir, name)
		if _, err := os.Stat(hostBin); err != nil {
			t.Fatalf("host: %v (run `make build GOARCH=%s`)", err, Arch())
		}
		return hostBin, so
	}
	hostBin, err = buildHost(root, name, f.flags)
	if err != nil {
		t.Fatalf("host: %v (run `make build`)", err)
	}
	return hostBin, so
}

// RepoRoot walks up from the working directory to the go.mod of module
// github.com/kubeship/kubeship.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) == 2 && f[0] == "module" && f[1] == modulePath {
					return dir, nil
				}
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// buildHost compiles build/<name> from test/host/host.c when it is missing
// or older than the source, writing to a temporary name and renaming so
// concurrent test processes never see a half-written binary. The flags are
// the Makefile's.
func buildHost(root, name string, flags []string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	bin := filepath.Join(root, "build", name)
	src := filepath.Join(root, "test", "host", "host.c")
	srcInfo, srcErr := os.Stat(src)
	if binInfo, err := os.Stat(bin); err == nil && (srcErr != nil || !binInfo.ModTime().Before(srcInfo.ModTime())) {
		return bin, nil
	}
	if srcErr != nil {
		return "", fmt.Errorf("%s missing and cannot be built: %v", bin, srcErr)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
	args := append(append([]string{"-O2", "-Wall", "-Wextra"}, flags...), "-o", tmp, src, "-ldl", "-lpthread")
	cmd := exec.Command(cc, args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("compiling %s: %v\n%s", src, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return bin, nil
}
