//go:build !unix

package web

import "os/exec"

// killProcessGroup leaves cmd as it is: only node is killed when the test times out.
func killProcessGroup(*exec.Cmd) {}
