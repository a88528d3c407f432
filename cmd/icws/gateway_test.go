package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/protocol/omnia"
)

// TestGatewayOmniaListen runs `icws gateway --omnia-listen` on free loopback ports and checks that
// both the Omnia listener (any path) and /omnia on the main listener greet with the Omnia
// handshake naming the gateway's principal. The gateway makes no IC call before a client's first
// frame, so no replica is needed.
func TestGatewayOmniaListen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runGateway(ctx, []string{"--ic-url", "http://127.0.0.1:1", "--fetch-root-key", "--listen", "127.0.0.1:0",
			"--omnia-listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--log-level", "error"}, pw)
		pw.Close()
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	go io.Copy(io.Discard, pr)
	if len(lines) < 2 || !strings.Contains(lines[1], "listening for Omnia") {
		t.Fatalf("icws gateway printed %q, want the listener, then the Omnia listener", lines)
	}
	principalText := strings.Fields(lines[0])[2]
	main := strings.Fields(lines[0])[len(strings.Fields(lines[0]))-1]
	omniaURL := strings.Fields(lines[1])[len(strings.Fields(lines[1]))-1]
	for _, url := range []string{omniaURL, omniaURL + "/any/path", main + "/omnia"} {
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, hs, err := ws.ReadMessage()
		ws.Close()
		if err != nil {
			t.Fatalf("%s: reading the handshake: %v", url, err)
		}
		p, err := omnia.DecodeHandshake(hs)
		if err != nil || p.String() != principalText {
			t.Fatalf("%s: handshake %x names %v (%v), want %s", url, hs, p, err, principalText)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("icws gateway: %v", err)
	}
}
