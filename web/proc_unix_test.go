//go:build unix

package web

import (
	"os/exec"
	"syscall"
)

// killProcessGroup makes cmd run in its own process group, and its cancellation kill the whole
// group, so that a browser started by node does not outlive a timed-out test.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
