package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/cdk/websocket"
	"github.com/icws/icws/client"
	"github.com/icws/icws/protocol"
)

// newChanEcho is a test canister with certified channels: an app message "pub <channel>
// <t1,t2,…>" publishes each text to the channel in one update (so they come in one batch); any
// other message is echoed. Subscribing to "secret" is refused. Heartbeats every second.
func newChanEcho() *cdk.Canister {
	var s *websocket.Server
	s = websocket.New(websocket.Config{
		OnMessage: func(ic cdk.System, client uint64, payload []byte) {
			m, err := protocol.DecodeAppMessage(payload)
			if f := strings.Fields(m.Text); err == nil && len(f) == 3 && f[0] == "pub" {
				for _, t := range strings.Split(f[2], ",") {
					if err := s.Publish(ic, f[1], protocol.AppMessage{Text: t}.Marshal()); err != nil {
						ic.Trap(err.Error())
					}
				}
				return
			}
			if f := strings.Fields(m.Text); err == nil && len(f) == 2 && f[0] == "many" { // batch_test.go
				for _, t := range strings.Split(f[1], ",") {
					if err := s.Send(ic, client, protocol.AppMessage{Text: t}.Marshal()); err != nil {
						ic.Trap(err.Error())
					}
				}
				return
			}
			if err := s.Send(ic, client, payload); err != nil {
				ic.Trap(err.Error())
			}
		},
		HeartbeatInterval: time.Second,
		TickInterval:      250 * time.Millisecond,
		Channels: websocket.ChannelConfig{AuthorizeSubscribe: func(ic cdk.System, client uint64, ch string) error {
			if ch == "secret" {
				return errors.New("members only")
			}
			return nil
		}},
	})
	c := &cdk.Canister{}
	s.Register(c)
	return c
}

// recvChannel receives until a channel message of ch arrives (per-client messages, if any, are
// skipped) and returns its text.
func recvChannel(t *testing.T, ctx context.Context, c *client.Conn, ch string) (string, client.Message) {
	t.Helper()
	for range 1000 {
		m, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for a message of channel %s: %v", ch, err)
		}
		if m.Channel == ch {
			return textOf(t, m.Payload), m
		}
	}
	t.Fatalf("no message of channel %s in 1000", ch)
	return "", client.Message{}
}

// subscribed subscribes c to ch and waits until the canister confirmed it.
func subscribed(t *testing.T, ctx context.Context, c *client.Conn, ch string) {
	t.Helper()
	if err := c.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if contains(c.Subscriptions(), ch) {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := c.Recv(rctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("subscribing to %s: %v", ch, err)
		}
	}
	t.Fatalf("subscription to %s not confirmed", ch)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestChannelsEndToEnd(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	gw := e.gateway(t)
	a := dial(t, ctx, e.config(e.chanEcho, gw))
	b := dial(t, ctx, e.config(e.chanEcho, gw))
	subscribed(t, ctx, a, "room")
	subscribed(t, ctx, b, "room")

	// A refusal comes back as a *ChannelError from Recv, and the connection goes on.
	if err := b.Subscribe(ctx, "secret"); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := b.Recv(ctx)
		var ce *client.ChannelError
		if errors.As(err, &ce) {
			if ce.Channel != "secret" || ce.Reason != "members only" || client.IsFatal(err) {
				t.Fatalf("refusal = %v", err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	const n = 30
	for i := range n / 3 {
		if err := a.Send(ctx, text(fmt.Sprintf("pub room %d,%d,%d", 3*i, 3*i+1, 3*i+2))); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*client.Conn{a, b} {
		for i := range n {
			got, m := recvChannel(t, ctx, c, "room")
			if got != fmt.Sprint(i) || m.Seq != uint64(i) || m.Key != protocol.ChannelKey("room", uint64(i)) {
				t.Fatalf("message %d: %q seq %d key %s", i, got, m.Seq, m.Key)
			}
		}
	}
	// Unsubscribed, A gets no more of the channel; B does.
	if err := a.Unsubscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, text("echo")); err != nil {
		t.Fatal(err)
	}
	if m, err := a.Recv(ctx); err != nil || textOf(t, m.Payload) != "echo" {
		t.Fatalf("echo: %v %+v", err, m)
	}
	if err := b.Send(ctx, text("pub room last")); err != nil {
		t.Fatal(err)
	}
	if got, _ := recvChannel(t, ctx, b, "room"); got != "last" {
		t.Fatalf("B got %q", got)
	}
	if err := a.Send(ctx, text("echo2")); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := a.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Channel != "" {
			t.Fatalf("A got channel message %q after unsubscribing", m.Payload)
		}
		if textOf(t, m.Payload) == "echo2" {
			break
		}
	}
}

// channelProxy is a proxy that passes everything but hands the S8 frames to edit.
func channelProxy(t *testing.T, gw string, edit func(f protocol.ChannelFrame, raw []byte) [][]byte) *proxy {
	return newProxy(t, gw, func(f *proxyFrame) [][]byte {
		if !protocol.IsChannelFrame(f.data) {
			return [][]byte{f.data}
		}
		cf, err := protocol.DecodeChannelFrame(f.data)
		if err != nil {
			t.Errorf("the gateway sent a bad channel frame: %v", err)
			return [][]byte{f.data}
		}
		return edit(cf, f.data)
	})
}

// TestChannelWithheld: a gateway that passes everything to a client but the channel's frames is
// caught by the heads in the canister's heartbeats, within the grace; a client of the same
// channel through the honest gateway gets every message.
func TestChannelWithheld(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	gw := e.gateway(t)
	var drop atomic.Bool
	p := channelProxy(t, gw, func(f protocol.ChannelFrame, raw []byte) [][]byte {
		if drop.Load() {
			return nil
		}
		return [][]byte{raw}
	})
	honest := dial(t, ctx, e.config(e.chanEcho, gw))
	cfg := e.config(e.chanEcho, p.url)
	cfg.ChannelGrace = 2 * time.Second
	victim := dial(t, ctx, cfg)
	subscribed(t, ctx, honest, "news")
	subscribed(t, ctx, victim, "news")
	if err := honest.Send(ctx, text("pub news a")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Conn{honest, victim} {
		if got, _ := recvChannel(t, ctx, c, "news"); got != "a" {
			t.Fatalf("got %q, want a", got)
		}
	}
	drop.Store(true)
	if err := honest.Send(ctx, text("pub news b,c")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"b", "c"} {
		if got, _ := recvChannel(t, ctx, honest, "news"); got != want {
			t.Fatalf("honest got %q, want %q", got, want)
		}
	}
	start := time.Now()
	for range 1000 {
		m, err := victim.Recv(ctx)
		if err == nil {
			if m.Channel != "" {
				t.Fatalf("the victim got %q of a dropped frame", m.Payload)
			}
			continue
		}
		var ve *client.VerifyError
		if !errors.As(err, &ve) || ve.Kind != client.Withheld || !strings.Contains(ve.Detail, `channel "news"`) {
			t.Fatalf("want Withheld for channel news, got %v", err)
		}
		t.Logf("withholding detected %v after the publication: %v", time.Since(start).Round(time.Millisecond), err)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("detected after %v, want within heartbeat (1 s) + grace (2 s) + slack", d)
		}
		return
	}
	t.Fatal("no error in 1000 frames")
}

// TestChannelForgedFrames: a gateway that changes, reorders or replays channel frames.
func TestChannelForgedFrames(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		edit func(f protocol.ChannelFrame, raw []byte) [][]byte
		want client.Kind // 0: every message arrives once, in order
	}{
		{"forged value", func(f protocol.ChannelFrame, raw []byte) [][]byte {
			f.Vals[0] = (&protocol.ChannelMessage{Channel: f.Channel, Seq: f.First, Message: text("forged")}).Marshal()
			return [][]byte{f.Marshal()}
		}, client.Tampered},
		{"values swapped", func(f protocol.ChannelFrame, raw []byte) [][]byte {
			if len(f.Vals) > 1 {
				f.Vals[0], f.Vals[1] = f.Vals[1], f.Vals[0]
			}
			return [][]byte{f.Marshal()}
		}, client.Tampered},
		{"renumbered", func(f protocol.ChannelFrame, raw []byte) [][]byte {
			f.First++
			return [][]byte{f.Marshal()}
		}, client.Tampered},
		{"other channel", func(f protocol.ChannelFrame, raw []byte) [][]byte {
			f.Channel = "room"
			return [][]byte{f.Marshal()}
		}, client.Tampered},
		{"replayed", func() func(protocol.ChannelFrame, []byte) [][]byte {
			var mu sync.Mutex
			var seen [][]byte
			return func(f protocol.ChannelFrame, raw []byte) [][]byte {
				mu.Lock()
				defer mu.Unlock()
				out := append([][]byte{raw}, seen...) // every earlier frame again after each
				seen = append(seen, raw)
				return out
			}
		}(), 0},
	} {
		news := strings.ReplaceAll(tc.name, " ", "-") // a fresh channel per case: the canister is shared
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			gw := e.gateway(t)
			p := channelProxy(t, gw, tc.edit)
			c := dial(t, ctx, e.config(e.chanEcho, p.url))
			subscribed(t, ctx, c, "room")
			subscribed(t, ctx, c, news)
			if err := c.Send(ctx, text("pub "+news+" x,y,z")); err != nil {
				t.Fatal(err)
			}
			if err := c.Send(ctx, text("pub "+news+" w")); err != nil {
				t.Fatal(err)
			}
			if tc.want != 0 {
				for range 100 {
					m, err := c.Recv(ctx)
					if err == nil {
						if m.Channel != "" {
							t.Fatalf("a %s frame was delivered: %q", tc.name, m.Payload)
						}
						continue
					}
					var ve *client.VerifyError
					if !errors.As(err, &ve) || ve.Kind != tc.want || !client.IsFatal(err) {
						t.Fatalf("want a fatal %v, got %v", tc.want, err)
					}
					return
				}
				t.Fatal("no error in 100 frames")
			}
			for i, want := range []string{"x", "y", "z", "w"} {
				got, m := recvChannel(t, ctx, c, news)
				if got != want || m.Seq != uint64(i) {
					t.Fatalf("got %q seq %d, want %q seq %d", got, m.Seq, want, i)
				}
			}
		})
	}
}
