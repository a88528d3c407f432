package client_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/icws/icws/client"
	"github.com/icws/icws/protocol"
)

// TestChannelFailoverResubscribes: a subscriber reads a channel through gateway A; A stops (or
// its connections are cut) and messages are published while the subscriber is away; its Recv,
// with Config.Failover and Gateways [A, B], moves to B, resubscribes from the next seq it
// expects, and delivers every message once, in order — those published during the gap, and
// those after. A publisher subscribed through B shows the publications happened.
func TestChannelFailoverResubscribes(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name string
		kill bool
	}{
		{"graceful stop", false},
		{"kill", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			const ch = "room:failover"
			urlA, stopA := e.stoppableGateway(t)
			pa := newTCPProxy(t, urlA)
			b := e.gateway(t)
			var mv moves
			cfg := e.config(e.chanEcho, "")
			cfg.Gateways = []string{pa.url(), b}
			cfg.Failover = &client.Failover{OnReconnect: mv.add}
			member := dial(t, ctx, cfg)
			pub := dial(t, ctx, e.config(e.chanEcho, b))
			subscribed(t, ctx, member, ch)
			subscribed(t, ctx, pub, ch)

			// The channel may hold an earlier case's messages: both start at its head.
			var base uint64
			publish := func(from, to int) {
				t.Helper()
				var list string
				for i := from; i < to; i++ {
					if i > from {
						list += ","
					}
					list += fmt.Sprint(i)
				}
				if err := pub.Send(ctx, text("pub "+ch+" "+list)); err != nil {
					t.Fatal(err)
				}
				for i := from; i < to; i++ {
					got, m := recvChannel(t, ctx, pub, ch)
					if i == 0 {
						base = m.Seq
					}
					if got != fmt.Sprint(i) || m.Seq != base+uint64(i) {
						t.Fatalf("publisher: message %d is %q seq %d", i, got, m.Seq)
					}
				}
			}
			expect := func(from, to int) {
				t.Helper()
				for i := from; i < to; i++ {
					got, m := recvChannel(t, ctx, member, ch)
					if got != fmt.Sprint(i) || m.Seq != base+uint64(i) || m.Key != protocol.ChannelKey(ch, base+uint64(i)) {
						t.Fatalf("subscriber: message %d is %q seq %d key %s (want seq %d: nothing lost, nothing doubled)", i, got, m.Seq, m.Key, base+uint64(i))
					}
				}
			}
			publish(0, 10)
			expect(0, 10)
			if tt.kill {
				pa.cut()
			} else {
				stopA()
			}
			publish(10, 20) // while the subscriber is away
			expect(10, 20)  // Recv fails over to B and resubscribes from base+10
			publish(20, 30)
			expect(20, 30)
			if got := mv.get(); len(got) != 1 || got[0].To != b || got[0].Err != nil {
				t.Fatalf("moves %+v, want one, to B, without error", got)
			}
			if subs := member.Subscriptions(); len(subs) != 1 || subs[0] != ch {
				t.Fatalf("subscriptions after the failover %v, want [%s]", subs, ch)
			}
		})
	}
}
