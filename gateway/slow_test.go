//go:build unix

package gateway

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// smallBuffer sets a socket buffer option to a few KiB before the socket connects, so that a
// client that does not read blocks the gateway's writes after a few frames instead of megabytes.
func smallBuffer(opt int) func(network, address string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 4096) })
		if err != nil {
			return err
		}
		return serr
	}
}

// TestSlowReaderDoesNotStallOthers is DERP's TestSendFreeze on real sockets: one chat member stops
// reading while the others keep chatting. The others get every message in order and on time; the
// slow one's queue overflows and it is closed with 4003 after a gapless prefix of its messages.
//
// The write deadline is not under test here (TestWriteTimeoutSynctest is its test),
// so it is set beyond any run: the slow client's writer blocks from about the third post until
// the slow client reads, after the others got all 200. At the default 10s the deadline raced
// with the overflow, and the outcome measured the machine's speed: on a loaded machine it fired
// before 64 more posts had arrived (no overflow, the socket dropped) or before the others were
// done (the Close frame lost behind a failed write).
func TestSlowReaderDoesNotStallOthers(t *testing.T) {
	ic := startIC(t)
	gw := startGatewayOn(t, ic, Config{SendQueueSize: 64, MessageRate: -1, MaxPendingMessages: 256, WriteTimeout: time.Hour},
		net.ListenConfig{Control: smallBuffer(syscall.SO_SNDBUF)})
	var fast []*testClient
	for i := 0; i < 3; i++ {
		fast = append(fast, openClient(t, ic, gw, ic.chat))
	}
	a := ic.agent(t)
	slow := register(t, a, ic.chat)
	if err := slow.dialWith(gw.url, &net.Dialer{Control: smallBuffer(syscall.SO_RCVBUF)}); err != nil {
		t.Fatal(err)
	}
	defer slow.ws.Close()
	if err := slow.ws.WriteMessage(2, slow.firstMessage()); err != nil {
		t.Fatal(err)
	}
	waitOpen(t, gw.Gateway, 4)
	drainGreetings(t, fast)

	const posts = 200
	filler := strings.Repeat("x", 3000)
	errs := make(chan error, len(fast))
	for j, c := range fast {
		go func() {
			for i := 0; i < posts; i++ {
				got, err := c.readText(readWait)
				if err != nil {
					errs <- fmt.Errorf("fast client %d, post %d: %w", j, i, err)
					return
				}
				if !strings.HasPrefix(got, fmt.Sprintf("post #%d ", i)) {
					errs <- fmt.Errorf("fast client %d got %.20q, want post #%d", j, got, i)
					return
				}
			}
			errs <- nil
		}()
	}
	for i := 0; i < posts; i++ {
		if err := fast[0].sendText(fmt.Sprintf("post #%d %s", i, filler)); err != nil {
			t.Fatal(err)
		}
	}
	for range fast {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if gw.m.queueOverflows.get() != 1 {
		t.Fatalf("queue overflows = %d, want 1 (the slow client)", gw.m.queueOverflows.get())
	}
	// The slow client reads now: a prefix of its messages in order (check verifies the sequence
	// numbers), then the close.
	n := 0
	for {
		slow.ws.SetReadDeadline(time.Now().Add(readWait))
		_, data, err := slow.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4003 {
				t.Fatalf("slow client ended with %v after %d messages, want close 4003", err, n)
			}
			break
		}
		if _, err := slow.check(data); err != nil {
			t.Fatalf("slow client message %d: %v", n, err)
		}
		n++
	}
	if n >= posts {
		t.Fatalf("the slow client got all %d messages; it was not slow", n)
	}
	waitFor(t, "ws_close for the slow client", func() bool { return wsCloses(gw.Gateway) == 1 })
}

// The write deadline (a client that stops reading is cut off after WriteTimeout, before its
// queue is full, and ws_close is called) is TestWriteTimeoutSynctest.
