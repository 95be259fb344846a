package readme

import (
	"os/exec"
	"syscall"
)

// The Quick start starts Loki and Fluent Bit in the background: run it in a
// process group of its own so that all of it can be stopped.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
