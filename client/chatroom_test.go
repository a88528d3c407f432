package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/client"
	"github.com/icws/icws/ic/cbor"
)

// TestChatRooms: members of a chat room through two gateways get every room message, once, in
// the same order, through the room's certified channel; a client outside the room gets none;
// subscribing to a channel that is not a room is refused by the canister.
func TestChatRooms(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	gws := []string{e.gateway(t), e.gateway(t)}
	room := chat.RoomChannel("go")
	a := dial(t, ctx, e.config(e.chat, gws[0]))
	b := dial(t, ctx, e.config(e.chat, gws[1]))
	outsider := dial(t, ctx, e.config(e.chat, gws[0]))
	subscribed(t, ctx, a, room)
	subscribed(t, ctx, b, room)
	if err := outsider.Subscribe(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		_, err := outsider.Recv(ctx)
		var ce *client.ChannelError
		if errors.As(err, &ce) {
			if ce.Channel != "lobby" {
				t.Fatalf("refusal = %v", err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	const each = 5
	for i := range each {
		for j, c := range []*client.Conn{a, b} {
			p, err := cbor.Marshal(chat.RoomMessage{Room: "go", Text: fmt.Sprintf("%d says %d", j, i)})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Send(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	var seen [2][]string
	for k, c := range []*client.Conn{a, b} {
		for range 2 * each {
			m := recvRoom(t, ctx, c, room)
			seen[k] = append(seen[k], fmt.Sprintf("%d:%s", m.From, m.Text))
		}
	}
	if fmt.Sprint(seen[0]) != fmt.Sprint(seen[1]) {
		t.Fatalf("members saw different orders:\n%v\n%v", seen[0], seen[1])
	}
	// The outsider gets its own chat events (joins), never a room message.
	if err := outsider.Send(ctx, text("hello")); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		m, err := outsider.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Channel != "" {
			t.Fatalf("the outsider got a message of %s", m.Channel)
		}
		if ev, err := chat.Decode(m.Payload); err == nil && ev.Message != nil && ev.Message.Text == "hello" {
			return
		}
	}
	t.Fatal("the outsider's own message never came back")
}

// recvRoom receives until a message of room's channel arrives.
func recvRoom(t *testing.T, ctx context.Context, c *client.Conn, room string) chat.RoomMessage {
	t.Helper()
	_, m := recvChannelMsg(t, ctx, c, room)
	r, err := chat.DecodeRoom(m.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// recvChannelMsg receives until a message of channel ch arrives.
func recvChannelMsg(t *testing.T, ctx context.Context, c *client.Conn, ch string) (int, client.Message) {
	t.Helper()
	for i := range 1000 {
		m, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for a message of %s: %v", ch, err)
		}
		if m.Channel == ch {
			return i, m
		}
	}
	t.Fatalf("no message of %s in 1000", ch)
	return 0, client.Message{}
}
