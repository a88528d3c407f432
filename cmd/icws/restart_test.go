package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a process of the built icws binary whose stdout lines the test reads.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
	stdin io.WriteCloser

	mu     sync.Mutex
	stderr strings.Builder
}

func startProc(t *testing.T, ctx context.Context, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.CommandContext(ctx, bin, args...), lines: make(chan string, 1024)}
	p.cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.stderr.Write(b)
	})
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // by its pid; a no-op once it exited
		_ = p.cmd.Wait()
	})
	return p
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func (p *proc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// waitLine returns the first stdout line that match accepts, within d.
func (p *proc) waitLine(d time.Duration, what string, match func(string) bool) string {
	p.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("%s: the process ended waiting for %s; stderr:\n%s", p.cmd.Args[1], what, p.errText())
			}
			if match(l) {
				return l
			}
		case <-timeout:
			p.t.Fatalf("%s: no %s within %v; stderr:\n%s", p.cmd.Args[1], what, d, p.errText())
		}
	}
}

func waitListening(t *testing.T, addr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %v: %v", addr, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestReplicaKillRestartResumesSession is the fault the state directory is for, with the built
// binary: `icws replica --state-dir` serves the echo canister, `icws gateway` and `icws client`
// hold a session; the replica gets SIGKILL and starts again on the same directory and address;
// the client's session goes on (no 4008 "session ended by the canister"): the next line it sends
// comes back.
func TestReplicaKillRestartResumesSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "icws")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	replicaAddr, gatewayAddr := freePort(t), freePort(t)
	state := filepath.Join(dir, "replica-state")
	startReplica := func() (*proc, string) {
		p := startProc(t, ctx, bin, "replica", "--native", "--listen", replicaAddr, "--state-dir", state)
		l := p.waitLine(2*time.Minute, "canister echo line", func(l string) bool { return strings.HasPrefix(l, "canister echo ") })
		return p, strings.Fields(l)[2]
	}
	rep, echoID := startReplica()
	icURL := "http://" + replicaAddr
	startProc(t, ctx, bin, "gateway", "--listen", gatewayAddr, "--ic-url", icURL, "--fetch-root-key", "--state-dir", filepath.Join(dir, "gateway"))
	waitListening(t, gatewayAddr, time.Minute)
	cl := startProc(t, ctx, bin, "client", "--json", "--gateway", "ws://"+gatewayAddr, "--ic-url", icURL, "--fetch-root-key", "--canister", echoID)
	text := func(want string) func(string) bool {
		return func(l string) bool {
			var m struct {
				Text *string `json:"text"`
			}
			return json.Unmarshal([]byte(l), &m) == nil && m.Text != nil && *m.Text == want
		}
	}
	say := func(s string) {
		t.Helper()
		if _, err := fmt.Fprintf(cl.stdin, "{\"text\": %q}\n", s); err != nil {
			t.Fatalf("client stdin: %v; stderr:\n%s", err, cl.errText())
		}
	}
	cl.waitLine(time.Minute, `"ping"`, text("ping"))
	say("before")
	cl.waitLine(time.Minute, `"before ping"`, text("before ping"))

	if err := rep.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = rep.cmd.Wait()
	rep2, echo2 := startReplica()
	if echo2 != echoID {
		t.Fatalf("echo has id %s after the restart, was %s", echo2, echoID)
	}
	say("after")
	cl.waitLine(time.Minute, `"after ping" after the restart`, text("after ping"))
	if strings.Contains(cl.errText(), "4008") {
		t.Errorf("the client's session ended:\n%s", cl.errText())
	}
	_ = cl.stdin.Close()
	_ = rep2
	if _, err := os.Stat(filepath.Join(state, "state", "replica.state")); err != nil {
		t.Errorf("no state file: %v", err)
	}
}
