package client_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/client"
)

// recvChat receives the next chat event.
func recvChat(t *testing.T, ctx context.Context, c *client.Conn) chat.Event {
	t.Helper()
	m, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("client %d: %v", c.ClientID(), err)
	}
	ev, err := chat.Decode(m.Payload)
	if err != nil {
		t.Fatalf("client %d: %v", c.ClientID(), err)
	}
	return ev
}

// TestChat has several clients in the chat room, through two gateways: each sees every later
// member join, every message in the same order as everyone else, and a member leave.
func TestChat(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	gws := []string{e.gateway(t), e.gateway(t)}
	const members, each = 4, 5
	conns := make([]*client.Conn, members)
	for i := range conns {
		conns[i] = dial(t, ctx, e.config(e.chat, gws[i%len(gws)]))
		// Everyone in the room, the newcomer too, sees it join.
		for j, c := range conns[:i+1] {
			ev := recvChat(t, ctx, c)
			if ev.Join == nil || *ev.Join != conns[i].ClientID() {
				t.Fatalf("member %d: got %+v, want the join of client %d", j, ev, conns[i].ClientID())
			}
		}
	}
	// Everyone talks at once.
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if err := c.Send(ctx, text(fmt.Sprintf("%d says %d", i, j))); err != nil {
					t.Errorf("member %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var first []chat.Message
	for i, c := range conns {
		var got []chat.Message
		for range members * each {
			ev := recvChat(t, ctx, c)
			if ev.Message == nil {
				t.Fatalf("member %d: got %+v, want a message", i, ev)
			}
			got = append(got, *ev.Message)
		}
		if first == nil {
			first = got
			// Each member's messages come in the order it sent them, from its own client id.
			for m := range members {
				var seq []string
				for _, msg := range got {
					if msg.From == conns[m].ClientID() {
						seq = append(seq, msg.Text)
					}
				}
				want := make([]string, each)
				for j := range want {
					want[j] = fmt.Sprintf("%d says %d", m, j)
				}
				if !slices.Equal(seq, want) {
					t.Fatalf("messages of member %d: %q, want %q", m, seq, want)
				}
			}
		} else if !slices.Equal(got, first) {
			t.Fatalf("member %d saw\n%v\nmember 0 saw\n%v", i, got, first)
		}
	}
	// One leaves; the others are told.
	leaver := conns[members-1]
	if err := leaver.Close("bye"); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns[:members-1] {
		ev := recvChat(t, ctx, c)
		if ev.Leave == nil || *ev.Leave != leaver.ClientID() {
			t.Fatalf("member %d: got %+v, want the leave of client %d", i, ev, leaver.ClientID())
		}
	}
}
