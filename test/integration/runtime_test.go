package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeship/kubeship/test/host"
)

// The plugin quiets its Go runtime inside the process that loads it (see
// plugin/procs.go): one P unless $GOMAXPROCS says otherwise, and 1 ms of
// timer slack for the runtime's threads only, never for the loading
// thread, whose slack the engine and workers Fluent Bit starts inherit.
func TestQuietRuntime(t *testing.T) {
	s := loki(t)
	tests := []struct {
		env  []string
		want string
	}{
		{nil, "GOMAXPROCS 1, "},
		{[]string{"GOMAXPROCS=2"}, "GOMAXPROCS 2, "},
	}
	for _, tt := range tests {
		h, err := host.StartOpts(t, host.Options{Env: tt.env}, host.Instance{"url": s.PushURL()})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(h.Logs(), tt.want) {
			t.Errorf("env %v: start-up line lacks %q:\n%s", tt.env, tt.want, h.Logs())
		}
		slack := map[int]int{} // thread id → timer slack (ns)
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", h.PID()))
		for _, task := range tasks {
			var tid, ns int
			fmt.Sscan(filepath.Base(task), &tid)
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", tid))
			if err != nil {
				// Another process's slack needs Linux 4.6+ and CAP_SYS_NICE.
				t.Skipf("cannot read timer slack: %v", err)
			}
			fmt.Sscan(string(b), &ns)
			slack[tid] = ns
		}
		if slack[h.PID()] == 1_000_000 {
			t.Errorf("the loading thread kept the runtime's 1 ms timer slack: %v", slack)
		}
		n := 0
		for _, ns := range slack {
			if ns == 1_000_000 {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no thread of the Go runtime has 1 ms timer slack: %v", slack)
		}
		h.Close()
	}
}
