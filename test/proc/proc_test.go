package proc

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcess(t *testing.T) {
	for _, tc := range []struct {
		name, script, substr string
		found, killed        bool
	}{
		{"finds_stdout", "echo ready; exec sleep 30", "ready", true, false},
		{"finds_stderr", "echo ready >&2; exec sleep 30", "ready", true, false},
		{"gives_up_once_exited", "echo other", "ready", false, false},
		{"kills_what_ignores_the_signal", "trap '' TERM; echo ready; while :; do sleep 0.1; done", "ready", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tee strings.Builder // written under the Log's lock
			p, err := Start(exec.Command("sh", "-c", tc.script), &Log{Tee: &tee})
			if err != nil {
				t.Fatal(err)
			}
			begin := time.Now()
			if found := p.WaitLog(tc.substr, 20*time.Second); found != tc.found || time.Since(begin) > 10*time.Second {
				t.Fatalf("WaitLog = %t after %s, want %t at once; logs %q", found, time.Since(begin), tc.found, p.Logs())
			}
			if killed := p.Stop(syscall.SIGTERM, time.Second); killed != tc.killed || !p.Exited() {
				t.Errorf("Stop: killed %t, exited %t; want killed %t and exited", killed, p.Exited(), tc.killed)
			}
			if tee.String() != p.Logs() {
				t.Errorf("Tee got %q, Logs %q", tee.String(), p.Logs())
			}
		})
	}
}

// MemoryMB reads this process's resident and peak memory; an unknown field
// is an error.
func TestMemoryMB(t *testing.T) {
	rss, err := MemoryMB(os.Getpid(), "VmRSS")
	if err != nil || rss <= 0 {
		t.Fatalf("VmRSS = %v, %v", rss, err)
	}
	if peak, err := MemoryMB(os.Getpid(), "VmHWM"); err != nil || peak < rss {
		t.Errorf("VmHWM = %v (VmRSS %v), %v", peak, rss, err)
	}
	if _, err := MemoryMB(os.Getpid(), "VmNone"); err == nil {
		t.Error("no error for a missing field")
	}
}
