//go:build unix

package bench

import "syscall"

// Signals that pause and resume a process (the outage scenario).
const (
	sigStop = syscall.SIGSTOP
	sigCont = syscall.SIGCONT
)
