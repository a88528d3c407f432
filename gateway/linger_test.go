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

// TestCloseDespiteUnreadInput has the gateway end a connection while the client's bytes are
// still unread (an oversized frame, of which it reads only what MaxMessageBytes allows) and its
// own frames still on their way to the client, which reads slowly (small socket buffers). A
// socket closed with unread input sends a TCP reset, and the client's system then drops what it
// had not received yet: the last frames and the Close with its code. The client must get every
// frame and then the Close, 1009.
func TestCloseDespiteUnreadInput(t *testing.T) {
	ic := startIC(t)
	gw := startGatewayOn(t, ic, Config{MaxMessageBytes: 64 << 10, MessageRate: -1, MaxPendingMessages: 64, WriteTimeout: time.Hour},
		net.ListenConfig{Control: smallBuffer(syscall.SO_SNDBUF)})
	c := register(t, ic.agent(t), ic.echo)
	if err := c.dialWith(gw.url, &net.Dialer{Control: smallBuffer(syscall.SO_RCVBUF)}); err != nil {
		t.Fatal(err)
	}
	defer c.ws.Close()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, c.firstMessage()); err != nil {
		t.Fatal(err)
	}
	waitOpen(t, gw.Gateway, 1)
	const n = 40
	filler := strings.Repeat("x", 3000)
	for i := range n {
		if err := c.sendText(fmt.Sprintf("echo #%d %s", i, filler)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the echoes polled", func() bool { return gw.m.messagesPolled.get() >= n+1 })
	// The oversized frame: its write ends when the socket does.
	wrote := make(chan error, 1)
	go func() {
		c.ws.SetWriteDeadline(time.Now().Add(readWait))
		wrote <- c.ws.WriteMessage(websocket.BinaryMessage, make([]byte, 4<<20))
	}()
	time.Sleep(100 * time.Millisecond) // the gateway reads what it allows and closes (not a result: the reads below check)
	got := 0
	for {
		c.ws.SetReadDeadline(time.Now().Add(readWait))
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != int(websocket.CloseMessageTooBig) {
				t.Fatalf("after %d of %d messages: %v, want the Close 1009", got, n+1, err)
			}
			break
		}
		if _, err := c.check(data); err != nil {
			t.Fatalf("message %d: %v", got, err)
		}
		got++
		time.Sleep(10 * time.Millisecond) // a slow reader: the gateway's last frames wait in its socket

	}
	if got != n+1 {
		t.Errorf("got %d messages before the Close, want %d", got, n+1)
	}
	<-wrote
}
