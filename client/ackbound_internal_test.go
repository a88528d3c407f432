package client

import (
	"errors"
	"testing"
	"time"

	"github.com/icws/icws/protocol"
)

// TestCheckAckedCountsFrom: the acknowledgement bound counts a message from its write, or, when
// it was written behind an unconfirmed one, from the time the canister accepted that one: the
// ack_time of the service message that confirmed it, or that message's own time from a canister
// without ack_time.
func TestCheckAckedCountsFrom(t *testing.T) {
	const bound = time.Second
	t0 := time.Unix(1_700_000_000, 0)
	ns := func(d time.Duration) uint64 { return uint64(t0.Add(d).UnixNano()) }
	tests := []struct {
		name     string
		behind   bool
		ackTime  time.Duration // of the service message confirming message 0; -1: none (old canister)
		confirm  time.Duration // the confirming message's timestamp
		beat     time.Duration // the checked heartbeat's timestamp (it does not cover message 1)
		withheld bool
	}{
		{"alone, in time", false, 500 * time.Millisecond, 800 * time.Millisecond, 900 * time.Millisecond, false},
		{"alone, late", false, 500 * time.Millisecond, 800 * time.Millisecond, 1100 * time.Millisecond, true},
		{"behind, from the acceptance: in time", true, 500 * time.Millisecond, 1200 * time.Millisecond, 1400 * time.Millisecond, false},
		{"behind, from the acceptance: late", true, 500 * time.Millisecond, 1200 * time.Millisecond, 1600 * time.Millisecond, true},
		{"behind, old canister: from the heartbeat", true, -1, 1200 * time.Millisecond, 1600 * time.Millisecond, false},
		{"behind, old canister: late", true, -1, 1200 * time.Millisecond, 2300 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Conn{cfg: Config{AckTimeout: bound}, ackWake: make(chan struct{})}
			c.unacked = []sentMessage{{seq: 0, sent: t0}, {seq: 1, sent: t0, behind: tt.behind}}
			c.nextOut, c.written = 2, 2
			confirm := &protocol.WebsocketMessage{Service: true, Ack: 1, Timestamp: ns(tt.confirm)}
			if tt.ackTime >= 0 {
				confirm.AckTime = ns(tt.ackTime)
			}
			s := &socket{gateway: "ws://g.test"}
			c.ack(confirm.Ack, acceptedAt(confirm))
			if err := c.checkAcked(s, confirm); err != nil {
				t.Fatalf("the confirming message: %v", err)
			}
			err := c.checkAcked(s, &protocol.WebsocketMessage{Service: true, Ack: 1, Timestamp: ns(tt.beat)})
			var ve *VerifyError
			if got := errors.As(err, &ve) && ve.Kind == Withheld; got != tt.withheld {
				t.Fatalf("checkAcked = %v, want withheld %v", err, tt.withheld)
			}
		})
	}
}
