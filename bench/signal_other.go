//go:build !unix

package bench

import "syscall"

// Signals that pause and resume a process: there are none outside Unix, and the outage
// scenario's Signal call fails saying so (os.Process.Signal supports only Kill there).
const (
	sigStop = syscall.Signal(0x13)
	sigCont = syscall.Signal(0x12)
)
