package websocket

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// channelFixture is a fixture whose canister has test_publish (channel, payload; traps after
// publishing when the payload is "trap").
func channelFixture(t *testing.T, cfg Config) *fixture {
	f := newFixture(t, cfg)
	f.h.code.Updates["test_publish"] = f.s.Batch(func(ic cdk.System) {
		var ch string
		var p []byte
		args(ic, &ch, &p)
		if err := f.s.Publish(ic, ch, p); err != nil {
			ic.Trap(err.Error())
		}
		if string(p) == "trap" {
			ic.Trap("application trap")
		}
		ic.Reply([]byte(replyUnit))
	})
	return f
}

func (f *fixture) publish(ch, payload string) error {
	return f.h.call(f.user, "test_publish", nil, ch, []byte(payload))
}

// control sends C2 as c's next service message through gw.
func (f *fixture) control(gw principal.Principal, c *testClient, ctl protocol.ChannelControl) {
	f.t.Helper()
	ok, err := f.message(gw, c, c.seq, &protocol.WebsocketMessage{Service: true, Message: ctl.Marshal()})
	if !ok || err != nil {
		f.t.Fatalf("channel control %+v: %v, %v", ctl, ok, err)
	}
	c.seq++
}

// statuses returns the C3s of client's service messages in gw's queue from nonce on.
func (f *fixture) statuses(gw principal.Principal, client uint64) []protocol.ChannelStatus {
	f.t.Helper()
	var out []protocol.ChannelStatus
	for _, m := range f.poll(gw, 0).Messages {
		w, err := protocol.DecodeWebsocketMessage(m.Val)
		if err != nil || w.ClientID != client || !w.Service || len(w.Message) == 0 {
			continue
		}
		st, err := protocol.DecodeChannelStatus(w.Message)
		if err != nil {
			f.t.Fatalf("C3 of %q: %v", m.Key, err)
		}
		out = append(out, st)
	}
	return out
}

// channelPoll queries ws_get_channel_messages as gw and checks every batch as a client would.
func (f *fixture) channelPoll(gw principal.Principal, req ...protocol.ChannelFrom) protocol.ChannelMessages {
	f.t.Helper()
	var res protocol.ChannelMessages
	if err := f.h.query(gw, protocol.MethodGetChannelMessages, &res, req); err != nil {
		f.t.Fatalf("%s: %v", protocol.MethodGetChannelMessages, err)
	}
	for _, b := range res.Channels {
		if len(b.Vals) == 0 {
			continue
		}
		if want := append([]byte("cert:"), f.h.certified...); !bytes.Equal(res.Cert, want) {
			f.t.Fatalf("cert = %x, want %x", res.Cert, want)
		}
		tree, err := hashtree.Unmarshal(b.Tree)
		if err != nil {
			f.t.Fatalf("tree: %v", err)
		}
		if d := hashtree.Digest(tree); !bytes.Equal(d[:], f.h.certified) {
			f.t.Fatalf("witness digest %x != certified data %x", d, f.h.certified)
		}
		for i, v := range b.Vals {
			seq := b.First + uint64(i)
			r := hashtree.Lookup(tree, []byte(Label), []byte(protocol.ChannelKey(b.Channel, seq)))
			sum := sha256.Sum256(v)
			if r.Status != hashtree.Found || !bytes.Equal(r.Value, sum[:]) {
				f.t.Fatalf("channel %s seq %d: %v in the witness", b.Channel, seq, r.Status)
			}
			m, err := protocol.DecodeChannelMessage(v)
			if err != nil || m.Channel != b.Channel || m.Seq != seq {
				f.t.Fatalf("val %d: %+v, %v", i, m, err)
			}
		}
	}
	return res
}

func payloads(b protocol.ChannelBatch) string {
	var s []string
	for _, v := range b.Vals {
		m, _ := protocol.DecodeChannelMessage(v)
		s = append(s, fmt.Sprintf("%d:%s", m.Seq, m.Message))
	}
	return fmt.Sprint(s)
}

func TestChannels(t *testing.T) {
	errSecret := errors.New("members only")
	f := channelFixture(t, Config{Channels: ChannelConfig{
		AuthorizeSubscribe: func(ic cdk.System, client uint64, ch string) error {
			if ch == "secret" {
				return errSecret
			}
			return nil
		},
	}})
	a, b := f.register(1), f.register(2)
	f.mustOpen(f.gwA, a)
	f.mustOpen(f.gwB, b)
	if err := f.publish("lobby", "before"); err != nil {
		t.Fatal(err)
	}
	f.control(f.gwA, a, protocol.ChannelControl{Subscribe: "lobby"})
	f.control(f.gwA, a, protocol.ChannelControl{Subscribe: "secret"})
	sts := f.statuses(f.gwA, a.id)
	if len(sts) != 2 || sts[0].Subscribed != "lobby" || sts[0].Head != 1 || sts[1].Unsubscribed != "secret" || sts[1].Reason != errSecret.Error() {
		t.Fatalf("statuses = %+v", sts)
	}
	if got := fmt.Sprint(sts[1].Heads); got != "[{lobby 1}]" {
		t.Fatalf("heads = %s", got)
	}
	for _, p := range []string{"one", "two"} {
		if err := f.publish("lobby", p); err != nil {
			t.Fatal(err)
		}
	}
	res := f.channelPoll(f.gwA, protocol.ChannelFrom{Channel: "lobby", From: 1}, protocol.ChannelFrom{Channel: "other", From: 0})
	if len(res.Channels) != 1 || payloads(res.Channels[0]) != "[1:one 2:two]" || res.Channels[0].Head != 3 {
		t.Fatalf("channel poll = %+v", res.Channels)
	}
	// A gateway with no subscriber of the channel gets nothing of it.
	if res := f.channelPoll(f.gwB, protocol.ChannelFrom{Channel: "lobby"}); len(res.Channels) != 0 {
		t.Fatalf("gateway B got %+v", res.Channels)
	}
	// A heartbeat carries the heads.
	if err := f.h.advance(uint64(DefaultHeartbeatInterval) + 1); err != nil {
		t.Fatal(err)
	}
	sts = f.statuses(f.gwA, a.id)
	if last := sts[len(sts)-1]; last.Subscribed != "" || fmt.Sprint(last.Heads) != "[{lobby 3}]" {
		t.Fatalf("heartbeat C3 = %+v", last)
	}
	// A trapped Publish leaves nothing.
	root := f.h.certified
	if err := f.publish("lobby", "trap"); err == nil {
		t.Fatal("trap did not trap")
	}
	if f.s.ChannelHead("lobby") != 3 || !bytes.Equal(root, f.h.certified) {
		t.Fatalf("after a trapped Publish: head %d", f.s.ChannelHead("lobby"))
	}
	// Resubscribing from a kept seq starts there; from a deleted one, at the head.
	f.control(f.gwA, a, protocol.ChannelControl{Subscribe: "lobby", From: 2, HasFrom: true})
	sts = f.statuses(f.gwA, a.id)
	if last := sts[len(sts)-1]; last.Subscribed != "lobby" || last.Head != 2 {
		t.Fatalf("resubscribe C3 = %+v", last)
	}
	// Unsubscribe and close end subscriptions.
	f.control(f.gwB, b, protocol.ChannelControl{Subscribe: "lobby"})
	f.control(f.gwA, a, protocol.ChannelControl{Unsubscribe: "lobby"})
	if got := f.s.Subscribers("lobby"); fmt.Sprint(got) != fmt.Sprint([]uint64{b.id}) {
		t.Fatalf("subscribers = %v", got)
	}
	if res := f.channelPoll(f.gwA, protocol.ChannelFrom{Channel: "lobby"}); len(res.Channels) != 0 {
		t.Fatalf("gateway A, no subscribers left, got %+v", res.Channels)
	}
	if err := f.h.call(f.user, "test_close", nil, b.id); err != nil {
		t.Fatal(err)
	}
	if got := f.s.Subscribers("lobby"); len(got) != 0 {
		t.Fatalf("subscribers after close = %v", got)
	}
}

func TestChannelRetention(t *testing.T) {
	f := channelFixture(t, Config{Channels: ChannelConfig{Retention: 2}})
	a := f.register(1)
	f.mustOpen(f.gwA, a)
	f.control(f.gwA, a, protocol.ChannelControl{Subscribe: "news"})
	for i := range 5 {
		if err := f.publish("news", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	res := f.channelPoll(f.gwA, protocol.ChannelFrom{Channel: "news", From: 0})
	if len(res.Channels) != 1 || payloads(res.Channels[0]) != "[3:3 4:4]" {
		t.Fatalf("after retention 2: %+v", res.Channels)
	}
	// Everything expires after the TTL, at a tick.
	if err := f.h.advance(uint64(DefaultMessageTTL) + uint64(DefaultTickInterval)); err != nil {
		t.Fatal(err)
	}
	if err := f.h.advance(uint64(DefaultTickInterval)); err != nil {
		t.Fatal(err)
	}
	// (The client timed out too: it sent no keep-alive.)
	if ch := f.s.channels["news"]; len(ch.vals) != 0 || ch.first != 5 || f.s.ChannelHead("news") != 5 {
		t.Fatalf("after the TTL: %d values from %d", len(ch.vals), ch.first)
	}
	if _, _, ok := f.s.tree.First("~"); ok {
		t.Fatal("channel keys left in the certified map after the TTL")
	}
}

func TestChannelRequestErrors(t *testing.T) {
	f := channelFixture(t, Config{})
	for _, tc := range []struct {
		name string
		req  []protocol.ChannelFrom
		want string
	}{
		{"bad name", []protocol.ChannelFrom{{Channel: "a~b"}}, "bad channel name"},
		{"twice", []protocol.ChannelFrom{{Channel: "a"}, {Channel: "a"}}, "named twice"},
		{"too many", make([]protocol.ChannelFrom, protocol.MaxChannelsPerQuery+1), "at most 256"},
	} {
		var res protocol.ChannelMessages
		wantTrap(t, f.h.query(f.gwA, protocol.MethodGetChannelMessages, &res, tc.req), tc.want)
	}
	if err := f.publish("a b", "x"); err == nil {
		t.Fatal("Publish to a bad name succeeded")
	}
}

// TestPublishIndependentOfSubscribers checks that a Publish does the same work whatever the
// number of subscribers: one certified-map insert and one certification.
func TestPublishIndependentOfSubscribers(t *testing.T) {
	for _, n := range []int{10, 10000} {
		s, h, ic, _ := benchServer(t, 0)
		subscribeMany(t, s, "fan", n)
		before, calls := s.tree.Len(), h.certCalls
		if err := s.Publish(ic, "fan", []byte("payload")); err != nil {
			t.Fatal(err)
		}
		if d, c := s.tree.Len()-before, h.certCalls-calls; d != 1 || c != 1 {
			t.Errorf("%d subscribers: Publish inserted %d keys and certified %d times, want 1 and 1", n, d, c)
		}
	}
}

// subscribeMany subscribes n clients (ids from 1000 on) of s's gateway to channel.
func subscribeMany(t testing.TB, s *Server, channel string, n int) {
	ch, err := s.channelFor(channel)
	if err != nil {
		t.Fatal(err)
	}
	g := s.clients[16].gw
	for i := range n {
		c := &client{id: uint64(1000 + i), gw: g, channels: []string{channel}}
		s.clients[c.id] = c
		ch.subs[c.id] = struct{}{}
	}
}

// BenchmarkPublish is the cost of one Publish with 10 to 10,000 subscribers: flat.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, h, ic, _ := benchServer(b, 0)
			subscribeMany(b, s, "fan", n)
			payload := protocol.AppMessage{Text: "a message of a typical size for a chat or a game"}.Marshal()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.now++
				if err := s.Publish(ic, "fan", payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// dumpChannels writes the channels of s for dumpState.
func dumpChannels(b *strings.Builder, s *Server) {
	names := make([]string, 0, len(s.channels))
	for name := range s.channels {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ch := s.channels[name]
		fmt.Fprintf(b, "\nchannel %s next=%d first=%d times=%v subs=%v vals:", name, ch.next, ch.first, ch.times, s.Subscribers(name))
		for _, v := range ch.vals {
			fmt.Fprintf(b, " %x", sha256.Sum256(v))
		}
	}
	ids := make([]uint64, 0, len(s.clients))
	for id, c := range s.clients {
		if len(c.channels) > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(b, "\nclient %d channels=%v", id, s.clients[id].channels)
	}
}
