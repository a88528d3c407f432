package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Launcher returns the command that runs Serve with args in a new process; the bench starts the
// replica, the gateway and the baseline server that way, so that each one's CPU time and memory
// can be read apart from the load clients'.
type Launcher func(args ...string) *exec.Cmd

// SelfLauncher runs the running program again with prefix before Serve's arguments: for the
// icws binary, SelfLauncher("bench", "serve").
func SelfLauncher(prefix ...string) (Launcher, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: cannot find the running program: %w", err)
	}
	return func(args ...string) *exec.Cmd {
		return exec.Command(exe, append(append([]string(nil), prefix...), args...)...)
	}, nil
}

// Timeouts of the server processes.
const (
	serverStartTimeout = 30 * time.Second
	serverReplyTimeout = 30 * time.Second
	serverStopTimeout  = 15 * time.Second
	stderrTail         = 16 << 10
)

// server is a running server process started by the bench.
type server struct {
	role   string
	cmd    *exec.Cmd
	pid    int
	stdin  io.WriteCloser
	lines  chan string // stdout, line by line; closed at EOF
	stderr *tail
	info   ready

	waited  chan struct{} // closed when the process has been reaped
	waitErr error

	mu sync.Mutex // serializes commands
}

// startServer starts a server process of the given role and waits for its ready line.
func startServer(ctx context.Context, launch Launcher, role string, args ...string) (*server, error) {
	cmd := launch(append([]string{role}, args...)...)
	s := &server{role: role, cmd: cmd, lines: make(chan string, 16), stderr: &tail{max: stderrTail}, waited: make(chan struct{})}
	cmd.Stderr = s.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// A pipe of our own rather than StdoutPipe, which Wait would close under the reader.
	stdout, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("bench: start the %s process: %w", role, err)
	}
	s.stdin, s.pid = stdin, cmd.Process.Pid
	go func() {
		defer close(s.lines)
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.waitErr = cmd.Wait()
		close(s.waited)
	}()
	line, err := s.readLine(ctx, serverStartTimeout)
	if err != nil {
		s.stop()
		return nil, err
	}
	if err := json.Unmarshal([]byte(line), &s.info); err != nil || s.info.URL == "" {
		s.stop()
		return nil, fmt.Errorf("bench: the %s process wrote %q instead of its address%s", role, line, s.stderr.suffix())
	}
	return s, nil
}

// readLine returns the next stdout line of the process.
func (s *server) readLine(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line, ok := <-s.lines:
		if !ok {
			<-s.waited
			return "", fmt.Errorf("bench: the %s process ended (%v)%s", s.role, s.waitErr, s.stderr.suffix())
		}
		return line, nil
	case <-t.C:
		return "", fmt.Errorf("bench: the %s process did not answer within %v%s", s.role, timeout, s.stderr.suffix())
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// command sends one control command and returns the process's answer.
func (s *server) command(ctx context.Context, line string) (reply, error) {
	return s.commandWithin(ctx, line, serverReplyTimeout)
}

// commandWithin is command for a command that may take up to timeout.
func (s *server) commandWithin(ctx context.Context, line string, timeout time.Duration) (reply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprintf(s.stdin, "%s\n", line); err != nil {
		return reply{}, fmt.Errorf("bench: %s process: %w%s", s.role, err, s.stderr.suffix())
	}
	ans, err := s.readLine(ctx, timeout)
	if err != nil {
		return reply{}, err
	}
	var r reply
	if err := json.Unmarshal([]byte(ans), &r); err != nil {
		return reply{}, fmt.Errorf("bench: %s process answered %q to %q", s.role, ans, line)
	}
	if !r.OK {
		return r, fmt.Errorf("bench: %s process: %s: %s", s.role, line, r.Error)
	}
	return r, nil
}

// usage reads the process's CPU time and memory.
func (s *server) usage() (procUsage, error) { return readUsage(s.pid) }

// stop ends the process: it closes its stdin, which makes Serve return, and kills it (by its pid)
// if it has not exited within serverStopTimeout.
func (s *server) stop() {
	if s == nil {
		return
	}
	s.stdin.Close()
	t := time.NewTimer(serverStopTimeout)
	defer t.Stop()
	select {
	case <-s.waited:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.waited
	}
}

// kill ends the process at once (by its pid), for the end of a run, when its state no longer
// matters: a gateway would otherwise call ws_close for each of its clients.
func (s *server) kill() {
	if s == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.waited
	s.stdin.Close()
}

// procUsage is what /proc says about a process.
type procUsage struct {
	CPU     time.Duration // user + system time since it started
	RSS     uint64        // resident memory now, bytes
	PeakRSS uint64        // the most resident memory so far, bytes
}

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat: 100 on every Linux ABI Go
// supports.
const clockTicks = 100

// readUsage reads the CPU time and memory of process pid from /proc.
func readUsage(pid int) (procUsage, error) {
	var u procUsage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name is in parentheses and may hold spaces: fields count from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, fmt.Errorf("bench: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return u, fmt.Errorf("bench: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, fmt.Errorf("bench: /proc/%d/stat: %w", pid, err)
	}
	u.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return u, fmt.Errorf("bench: /proc/%d/status: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			u.RSS = kb << 10
		} else {
			u.PeakRSS = kb << 10
		}
	}
	return u, nil
}

// tail keeps the last max bytes written to it (a server's stderr).
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// suffix is the tail of the output, to append to an error message ("" if there is none).
func (t *tail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return "; its stderr ends with:\n" + s
}

// gatewayMetrics reads the gateway process's metrics: each series (name and labels) to its value.
func gatewayMetrics(ctx context.Context, gw *server) (map[string]float64, error) {
	r, err := gw.command(ctx, "metrics")
	if err != nil {
		return nil, err
	}
	m := make(map[string]float64)
	for _, line := range strings.Split(r.Metrics, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, nil
}

// terminate sends the process sig (by its pid: SIGKILL for a crash, SIGTERM for a graceful
// stop) and waits for it to exit, killing it if a graceful stop takes more than
// serverStopTimeout. It reports how long the process took to exit.
func (s *server) terminate(sig os.Signal) (time.Duration, error) {
	start := time.Now()
	if err := s.cmd.Process.Signal(sig); err != nil {
		return 0, fmt.Errorf("bench: signal the %s process (pid %d): %w", s.role, s.pid, err)
	}
	t := time.NewTimer(serverStopTimeout)
	defer t.Stop()
	select {
	case <-s.waited:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.waited
		return time.Since(start), fmt.Errorf("bench: the %s process (pid %d) did not exit within %v of %v", s.role, s.pid, serverStopTimeout, sig)
	}
	s.stdin.Close()
	return time.Since(start), nil
}
