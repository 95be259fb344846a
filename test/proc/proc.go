// Package proc runs the child processes of the test harnesses (the C test
// host, Fluent Bit, Loki) and keeps what they print, for assertions and
// failure messages.
package proc

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Log keeps everything written to it and may be read while a process
// writes. The zero value is ready; Tee, set before the first Write, gets a
// copy of every write.
type Log struct {
	Tee io.Writer

	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Tee != nil {
		_, _ = l.Tee.Write(p)
	}
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Process is a running command and what it printed.
type Process struct {
	Cmd  *exec.Cmd
	log  *Log
	done chan struct{}
	err  error // what Cmd.Wait returned, once done is closed
}

// Start starts cmd, sends its stdout and stderr (those it has none for) to
// log (a new Log when nil) and waits for it in the background.
func Start(cmd *exec.Cmd, log *Log) (*Process, error) {
	if log == nil {
		log = &Log{}
	}
	if cmd.Stdout == nil {
		cmd.Stdout = log
	}
	if cmd.Stderr == nil {
		cmd.Stderr = log
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, log: log, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// PID is the process's id (for /proc measurements).
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// Logs returns everything the process printed so far.
func (p *Process) Logs() string { return p.log.String() }

// WaitLog waits until the process printed substr; false when it exited
// without printing it or the timeout passed.
func (p *Process) WaitLog(substr string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for !strings.Contains(p.Logs(), substr) {
		select {
		case <-p.done:
			return strings.Contains(p.Logs(), substr)
		case <-deadline:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}

// Done is closed once the process has exited and all it printed is in
// Logs.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is what waiting for the process returned (nil for a clean exit);
// valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Exited reports whether the process has stopped.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends sig and waits for the process; after grace it kills it. It
// reports whether the process had to be killed.
func (p *Process) Stop(sig os.Signal, grace time.Duration) (killed bool) {
	if p.Exited() {
		return false
	}
	_ = p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return false
	case <-time.After(grace):
		p.Kill()
		return true
	}
}

// Kill stops the process at once (SIGKILL), as a crash or an OOM kill
// would, and waits for it.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// MemoryMB reads one size of a process's /proc/<pid>/status in MB: VmRSS
// (resident now) or VmHWM (its peak).
func MemoryMB(pid int, field string) (float64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
