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

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/protocol/omnia"
)

// An Omnia client that sends and stops reading is closed with 4003 when its send queue
// overflows, after a gapless prefix of its messages, while another client of the same canister
// (the same poller) keeps getting its echoes. The write deadline is not under test (see
// TestSlowReaderDoesNotStallOthers), so it is set beyond the run.
func TestOmniaSlowReaderClosed(t *testing.T) {
	ic, echo, _ := startOmniaIC(t, time.Minute, time.Minute)
	canister := principal.MustDecode(echo)
	gw := startGatewayOn(t, ic, Config{SendQueueSize: 16, MessageRate: -1, MaxPendingMessages: 256, WriteTimeout: time.Hour},
		net.ListenConfig{Control: smallBuffer(syscall.SO_SNDBUF)})
	fast := newOmniaClient(t, canister)
	fast.open(gw)
	slow := newOmniaClient(t, canister)
	slow.dialWith(gw, &net.Dialer{Control: smallBuffer(syscall.SO_RCVBUF)})
	slow.send(slow.openFrame(slow.gateway))

	const posts = 120
	filler := strings.Repeat("x", 3000)
	for i := uint64(1); i <= posts; i++ {
		slow.send(slow.message(i, false, appMessage(t, fmt.Sprint(i, filler))))
	}
	// The fast client is served on time meanwhile.
	for i := uint64(1); i <= 20; i++ {
		fast.send(fast.message(i, false, appMessage(t, fmt.Sprint("fast ", i))))
		if m := fast.next(); m.SequenceNum != i+1 {
			t.Fatalf("fast client: message %d has sequence number %d", i, m.SequenceNum)
		}
	}
	waitFor(t, "the slow client's overflow", func() bool { return gw.m.queueOverflows.get() == 1 })

	// Now read: a gapless prefix (OpenMessage, echoes), then the Close frame with 4003.
	want := uint64(1)
	for {
		slow.ws.SetReadDeadline(time.Now().Add(readWait))
		_, data, err := slow.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != int(protocol.CloseTooSlow) {
				t.Fatalf("closed with %d %q, want 4003", ce.Code, ce.Text)
			}
			break
		}
		if err != nil {
			t.Fatalf("slow client: %v after %d messages", err, want-1)
		}
		f, err := omnia.DecodeFrame(data)
		if err != nil {
			t.Fatal(err)
		}
		m, err := omnia.UnmarshalWebsocketMessage(f.Content)
		if err != nil || m.SequenceNum != want {
			t.Fatalf("slow client: message %+v (%v), want sequence number %d", m, err, want)
		}
		want++
	}
	if want-1 >= posts+1 {
		t.Fatalf("the slow client got all %d messages: its queue never overflowed", want-1)
	}
	t.Logf("the slow client got %d messages before 4003", want-1)
}
