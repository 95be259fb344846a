package host

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	echoOnce sync.Once
	echoPath string
	echoErr  error
	echoDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if echoDir != "" {
		os.RemoveAll(echoDir)
	}
	os.Exit(code)
}

// echoSO builds testdata/echoplugin as a c-shared library once per test
// binary.
func echoSO(t testing.TB) string {
	t.Helper()
	echoOnce.Do(func() {
		echoDir, echoErr = os.MkdirTemp("", "kubeship-echo-")
		if echoErr != nil {
			return
		}
		echoPath = filepath.Join(echoDir, "echo.so")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", echoPath, "./testdata/echoplugin")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			echoErr = fmt.Errorf("building echo plugin: %v\n%s", err, out)
		}
	})
	if echoErr != nil {
		t.Fatal(echoErr)
	}
	return echoPath
}

func startEcho(t *testing.T, instances ...Instance) *Host {
	t.Helper()
	h, err := StartOpts(t, Options{SO: echoSO(t)}, instances...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// chunk is one v2 Fluent Bit event: [[ts(ext 0), {}], {"log": "hi"}].
var chunk = []byte{
	0x92, 0x92, 0xd7, 0x00, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80,
	0x81, 0xa3, 'l', 'o', 'g', 0xa2, 'h', 'i',
}

func chunkSum() int {
	s := 0
	for _, b := range chunk {
		s += int(b)
	}
	return s
}

func TestRegistration(t *testing.T) {
	h := startEcho(t, Instance{})
	if got, want := h.Registration(), "registered name=echo description=test echo plugin event_type=0 config_map=none"; got != want {
		t.Errorf("Registration() = %q, want %q", got, want)
	}
	if got := h.InitRCs(); len(got) != 1 || got[0] != FLB_OK {
		t.Errorf("InitRCs() = %v, want [1]", got)
	}
	// The plugin's fmt.Println goes to stderr, not into the protocol.
	if !strings.Contains(h.Logs(), "this goes to stdout") {
		t.Errorf("plugin stdout missing from Logs():\n%s", h.Logs())
	}
}

func TestKeys(t *testing.T) {
	core := []string{"name", "Match", "match_regex", "alias", "workers", "retry_limit",
		"log_level", "storage.total_limit_size", "host", "port", "tls", "tls.verify",
		"tls.ca_file", "net.keepalive"}
	in := Instance{"probe": strings.Join(core, ",") + ",url,Url,URL,empty,eq,unset"}
	for _, k := range core {
		in[k] = "x"
	}
	in["log_level"] = "info"
	in["tls"] = "off"
	in["URL"] = "http://loki:3100"
	in["empty"] = ""
	in["eq"] = "a=b c"
	h := startEcho(t, in)
	tests := []struct{ key, want string }{
		{"url", "http://loki:3100"}, // case-insensitive
		{"Url", "http://loki:3100"},
		{"URL", "http://loki:3100"},
		{"empty", ""},
		{"eq", "a=b c"}, // split at the first '=', spaces kept
		{"unset", ""},
	}
	for _, k := range core {
		tests = append(tests, struct{ key, want string }{k, ""}) // Fluent Bit keeps these
	}
	logs := h.Logs()
	for _, tc := range tests {
		if line := fmt.Sprintf("echo 0: key %s=%s\n", tc.key, tc.want); !strings.Contains(logs, line) {
			t.Errorf("want log line %q", line)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", logs)
	}
}

func TestPerInstanceContexts(t *testing.T) {
	h := startEcho(t,
		Instance{"greeting": "hello", "rc": "1"},
		Instance{"Greeting": "bonjour", "rc": "2"},
		Instance{"rc": "0"},
	)
	for _, want := range []string{"echo 0: greeting=hello\n", "echo 1: greeting=bonjour\n", "echo 2: greeting=\n"} {
		if !strings.Contains(h.Logs(), want) {
			t.Errorf("want log %q in:\n%s", want, h.Logs())
		}
	}
	for i, want := range []int{FLB_OK, FLB_RETRY, FLB_ERROR} {
		if got := h.Flush(i, "app.log", chunk); got != want {
			t.Errorf("Flush(%d) = %d, want %d", i, got, want)
		}
	}
	if got := h.Flush(1, "again", chunk); got != FLB_RETRY {
		t.Errorf("second Flush(1) = %d, want %d", got, FLB_RETRY)
	}
	want := fmt.Sprintf("echo 1: flush tag=again bytes=%d sum=%d total=%d", len(chunk), chunkSum(), 2*len(chunk))
	if !strings.Contains(h.Logs(), want) {
		t.Errorf("want log %q in:\n%s", want, h.Logs())
	}
}

func TestFlushRC(t *testing.T) {
	for _, rc := range []int{FLB_ERROR, FLB_OK, FLB_RETRY, 7, -1} {
		t.Run(fmt.Sprint(rc), func(t *testing.T) {
			h := startEcho(t, Instance{"rc": fmt.Sprint(rc)})
			if got := h.Flush(0, "kube.var.log", chunk); got != rc {
				t.Errorf("Flush = %d, want %d", got, rc)
			}
			if got := h.Flush(0, "empty", nil); got != rc {
				t.Errorf("Flush(empty chunk) = %d, want %d", got, rc)
			}
		})
	}
}

func TestFlushConcurrent(t *testing.T) {
	h := startEcho(t, Instance{"sleep_ms": "200"})
	got := h.FlushConcurrent(0, "workers", chunk, 4)
	if fmt.Sprint(got) != "[1 1 1 1]" {
		t.Errorf("FlushConcurrent = %v, want [1 1 1 1]", got)
	}
	if !strings.Contains(h.Logs(), "inflight_max=4") {
		t.Errorf("flushes did not overlap:\n%s", h.Logs())
	}
	if !strings.Contains(h.Logs(), fmt.Sprintf("total=%d ", 4*len(chunk))) {
		t.Errorf("not all 4 flushes counted:\n%s", h.Logs())
	}
}

func TestLogLevels(t *testing.T) {
	h, err := StartOpts(t, Options{SO: echoSO(t), LogLevel: 2},
		Instance{}, Instance{"log_level": "debug"})
	if err != nil {
		t.Fatal(err)
	}
	logs := h.Logs()
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"[error] echo 0 at level 1\n", true},
		{"[warn] echo 0 at level 2\n", true},
		{"[info] echo 0 at level 3\n", false},
		{"[debug] echo 1 at level 4\n", true}, // per-instance log_level
		{"[trace] echo 1 at level 5\n", false},
	} {
		if strings.Contains(logs, tc.line) != tc.want {
			t.Errorf("log %q present=%v, want %v", tc.line, !tc.want, tc.want)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", logs)
	}
}

func TestStartFailure(t *testing.T) {
	tests := []struct {
		name      string
		instances []Instance
		want      []string
	}{
		{"init fails", []Instance{{"fail": "yes"}},
			[]string{"init of instance 0 returned 0", "echo 0: init failing on purpose", "failed to initialize"}},
		{"second init fails", []Instance{{}, {"fail": "1"}},
			[]string{"init of instance 1 returned 0", "echo 1: init failing on purpose"}},
		{"tls on is refused", []Instance{{"tls": "on"}},
			[]string{"echo.0 does not support TLS"}},
		{"bad log_level", []Instance{{"log_level": "loud"}},
			[]string{"invalid log_level"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := StartOpts(t, Options{SO: echoSO(t)}, tc.instances...)
			if err == nil {
				h.Close()
				t.Fatal("StartOpts succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "exit total") {
				t.Errorf("exit callbacks ran after a failed init:\n%v", err)
			}
		})
	}
}

func TestExit(t *testing.T) {
	h := startEcho(t, Instance{}, Instance{})
	h.Flush(1, "t", chunk)
	if rc := h.Close(); rc != FLB_OK {
		t.Errorf("Close() = %d, want %d", rc, FLB_OK)
	}
	logs := h.Logs()
	i0 := strings.Index(logs, "echo 0: exit total=0\n")
	i1 := strings.Index(logs, fmt.Sprintf("echo 1: exit total=%d\n", len(chunk)))
	if i0 < 0 || i1 < 0 || i0 > i1 {
		t.Errorf("want exit of instance 0 then 1:\n%s", logs)
	}
	if rc := h.Close(); rc != FLB_OK {
		t.Errorf("second Close() = %d, want %d", rc, FLB_OK)
	}
}

// fatalTB records Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func TestHungFlushIsBounded(t *testing.T) {
	ftb := &fatalTB{TB: t}
	h, err := StartOpts(ftb, Options{SO: echoSO(t), FlushTimeout: 300 * time.Millisecond},
		Instance{"sleep_ms": "20000"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Flush(0, "slow", chunk)
	}()
	<-done
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Flush took %v despite a 300ms timeout", d)
	}
	if !strings.Contains(ftb.msg, "timed out") {
		t.Errorf("Fatalf message = %q, want a timeout", ftb.msg)
	}
}

func TestMissingPlugin(t *testing.T) {
	ftb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		StartOpts(ftb, Options{SO: filepath.Join(t.TempDir(), "missing.so")})
	}()
	<-done
	if !strings.Contains(ftb.msg, "run `make build`") {
		t.Errorf("Fatalf message = %q, want a hint to run make build", ftb.msg)
	}
}
