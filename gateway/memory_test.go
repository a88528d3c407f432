package gateway

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
)

// envIdleChild makes the test binary run idleChild instead of the tests (see TestMain).
const envIdleChild = "ICWS_GATEWAY_IDLE_CHILD"

// BenchmarkIdleConnMemory measures the gateway's memory per idle open connection. The replica and
// the clients run in a child process (this test binary, see idleChild), so only the gateway is
// counted: heap and goroutine stacks in use after a GC, before and after 1,000 open connections
// of the echo canister.
//
//	go test -run '^$' -bench IdleConnMemory -benchtime 1x ./gateway
//
// With ICWS_IDLE_PROFILE=DIR (and -memprofilerate 1 for an exact heap profile) it writes, at the
// moment it measures, DIR/idle-heap.pprof and DIR/idle-goroutines.txt (every goroutine's stack).
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 1000
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", envIdleChild, n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewReader(out)
	var url, keyHex, echoText string
	if line, err := lines.ReadString('\n'); err != nil || strings.Count(line, " ") != 3 {
		b.Fatalf("child: %q, %v", line, err)
	} else {
		fmt.Sscan(line, new(string), &url, &keyHex, &echoText)
	}
	rootKey, err := hex.DecodeString(keyHex)
	if err != nil {
		b.Fatal(err)
	}
	echo := principal.MustDecode(echoText)
	id, err := identity.GenerateEd25519()
	if err != nil {
		b.Fatal(err)
	}
	a, err := agent.New(agent.Config{URL: url, Identity: id, RootKey: rootKey})
	if err != nil {
		b.Fatal(err)
	}
	gw := startGatewayWithAgent(b, a, Config{MaxConnections: -1, MaxConnectionsPerIP: -1})
	inuse := func() (heap, stack uint64) {
		// Several collections: each one may halve the stack of a goroutine that uses little of
		// it, as a long-lived idle connection sees over time.
		for range 5 {
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse, m.StackInuse
	}
	// One measurement, whatever b.N: the child opens its clients once.
	// Warm up: one client starts the poller and fills the pools and caches.
	warm := register(b, a, echo)
	warm.connect(gw.url)
	if err := warm.expect("ping"); err != nil {
		b.Fatal(err)
	}
	heap0, stack0 := inuse()
	fmt.Fprintln(stdin, gw.url)
	if line, err := lines.ReadString('\n'); err != nil || line != "ready\n" {
		b.Fatalf("child: %q, %v", line, err)
	}
	waitOpen(b, gw.Gateway, n+1)
	waitFor(b, "every open message delivered", func() bool { return gw.m.framesOut.get() >= n+1 })
	heap1, stack1 := inuse()
	if dir := os.Getenv(envIdleProfile); dir != "" {
		if err := writeIdleProfiles(dir); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
	}
	b.ReportMetric(float64(heap1+stack1-heap0-stack0)/n, "bytes/idle-conn")
	b.ReportMetric(float64(stack1-stack0)/n, "stack-bytes/idle-conn")
	b.ReportMetric(0, "ns/op")
	warm.ws.Close()
}

// envIdleProfile names the directory BenchmarkIdleConnMemory writes its profiles into.
const envIdleProfile = "ICWS_IDLE_PROFILE"

// writeIdleProfiles writes the heap profile and every goroutine's stack into dir.
func writeIdleProfiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, debug := range map[string]int{"heap": 0, "goroutine": 1} {
		ext := ".pprof"
		if debug != 0 {
			ext = ".txt"
		}
		f, err := os.Create(filepath.Join(dir, "idle-"+name+ext))
		if err != nil {
			return err
		}
		if err := pprof.Lookup(name).WriteTo(f, debug); err != nil {
			f.Close()
			return fmt.Errorf("write the %s profile: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// idleChild is the child process of BenchmarkIdleConnMemory: it runs the replica, prints its URL,
// root key and the echo canister's id, reads the gateway's URL, opens n clients through it, prints
// "ready" and holds them until its stdin closes.
func idleChild(n int) error {
	tb := &childTB{}
	defer tb.cleanup()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil && tb.err == nil {
				tb.err = fmt.Errorf("%v", r)
			}
		}()
		ic := startIC(tb)
		fmt.Printf("ic %s %x %s\n", ic.url(), ic.rep.RootKey(), ic.echo)
		in := bufio.NewReader(os.Stdin)
		gwURL, rerr := in.ReadString('\n')
		if rerr != nil {
			tb.err = rerr
			return
		}
		cs := openMany(tb, ic.agent(tb), strings.TrimSpace(gwURL), ic.echo, n, nil, func(_ int, c *testClient) {
			if err := c.expect("ping"); err != nil { // the open is done; the client then idles
				tb.Error(err)
			}
		})
		fmt.Println("ready")
		io.Copy(io.Discard, in)
		for _, c := range cs {
			c.ws.Close()
		}
	}()
	if tb.err != nil {
		err = tb.err
	}
	return err
}

// childTB lets the test helpers run outside a test, in the child process. Fatal panics (and
// idleChild recovers).
type childTB struct {
	testing.TB
	mu       sync.Mutex
	err      error
	cleanups []func()
}

func (t *childTB) Helper() {}
func (t *childTB) Error(args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = fmt.Errorf("%s", fmt.Sprint(args...))
	}
}
func (t *childTB) Errorf(format string, args ...any) { t.Error(fmt.Sprintf(format, args...)) }
func (t *childTB) Fatal(args ...any)                 { t.Error(args...); panic(t.err) }
func (t *childTB) Fatalf(format string, args ...any) { t.Fatal(fmt.Sprintf(format, args...)) }
func (t *childTB) FailNow()                          { panic(t.err) }
func (t *childTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err != nil
}
func (t *childTB) Name() string { return "idle-child" }
func (t *childTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}
func (t *childTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// TestMain runs the idle-clients child when asked to, and the tests otherwise.
func TestMain(m *testing.M) {
	if s := os.Getenv(envIdleChild); s != "" {
		var n int
		fmt.Sscan(s, &n)
		if err := idleChild(n); err != nil {
			fmt.Fprintln(os.Stderr, "idle child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
