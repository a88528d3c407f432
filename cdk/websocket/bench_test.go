package websocket

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// benchServer is a server with one open client and queued messages, driven directly through
// the runtime API (no journal: a Wasm host rolls back by itself).
func benchServer(b testing.TB, queued int) (*Server, *host, *sys, principal.Principal) {
	s := New(Config{MaxQueuePerGateway: 1 << 30})
	code := &cdk.Canister{}
	s.Register(code)
	h := newHost(b, code, principal.MustDecode(seedCanister))
	gw := gatewayPrincipal(b, 0)
	ic := &sys{h: h, caller: gw}
	c := &client{id: 16, owner: gw}
	s.clients[16] = c
	g := s.gatewayFor(gw)
	g.bound++
	c.gw = g
	s.st.open++
	payload := protocol.AppMessage{Text: "a message of a typical size for a chat or a game"}.Marshal()
	for i := 0; i < queued; i++ {
		if err := s.Send(ic, 16, payload); err != nil {
			b.Fatal(err)
		}
	}
	h.certified = ic.cert
	return s, h, ic, gw
}

// BenchmarkSend is the cost of queueing one message (encode, hash, certified-map insert, certify)
// with a steady queue: each new message garbage-collects an expired one.
func BenchmarkSend(b *testing.B) {
	for _, queued := range []int{1000, 100000} {
		b.Run(fmt.Sprint(queued), func(b *testing.B) {
			s, h, ic, _ := benchServer(b, queued)
			payload := protocol.AppMessage{Text: "a message of a typical size for a chat or a game"}.Marshal()
			h.now += uint64(DefaultMessageTTL) + 1 // every queued message has expired
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.now++
				if err := s.Send(ic, 16, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetMessages is the cost of one ws_get_messages batch of 50: range scan, witness,
// CBOR and Candid encoding.
func BenchmarkGetMessages(b *testing.B) {
	s, h, _, gw := benchServer(b, 10000)
	q := &sys{h: h, caller: gw, query: true, method: protocol.MethodGetMessages}
	var cm protocol.CertMessages
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q.arg, _ = candid.Marshal(uint64(FirstNonce + 5000 + i%1000))
		q.answered = false
		s.wsGetMessages(q)
	}
	b.StopTimer()
	if err := candid.Unmarshal(q.reply, &cm); err != nil || len(cm.Messages) != 50 {
		b.Fatalf("%d messages, %v", len(cm.Messages), err)
	}
}

// broadcastClients is the fan-out of BenchmarkBroadcast: a chat room of this many open clients.
const broadcastClients = 1000

// BenchmarkBroadcast is the cost of one chat post fanned out to every open client in one
// message: ws_message from one client whose OnMessage Sends the payload to all 1,000 clients, then
// certifies, with Begin/Commit around it as the replica runs it. Each Send also collects expired
// messages, so the queue stays at one broadcast.
func BenchmarkBroadcast(b *testing.B) {
	var s *Server
	s = New(Config{
		MaxQueuePerGateway: 1 << 30,
		MessageTTL:         time.Nanosecond,
		OnMessage: func(ic cdk.System, _ uint64, payload []byte) {
			for _, id := range s.Clients() {
				if err := s.Send(ic, id, payload); err != nil {
					ic.Trap(err.Error())
				}
			}
		},
	})
	code := &cdk.Canister{}
	s.Register(code)
	h := newHost(b, code, principal.MustDecode(seedCanister))
	gw, user := gatewayPrincipal(b, 0), gatewayPrincipal(b, 7)
	var first ed25519.PrivateKey
	var firstID uint64
	for i := 0; i < broadcastClients; i++ {
		key := ed25519.NewKeyFromSeed(binary.BigEndian.AppendUint64(make([]byte, 24, 32), uint64(i)+1))
		var id uint64
		if err := h.call(user, protocol.MethodRegister, &id, []byte(key.Public().(ed25519.PublicKey))); err != nil {
			b.Fatal(err)
		}
		s1 := protocol.FirstMessage{CanisterID: seedCanister, ClientID: id}.Marshal()
		var ok bool
		if err := h.call(gw, protocol.MethodOpen, &ok, s1, ed25519.Sign(key, s1)); err != nil || !ok {
			b.Fatalf("ws_open = %v, %v", ok, err)
		}
		if i == 0 {
			first, firstID = key, id
		}
	}
	payload := protocol.AppMessage{Text: "a message of a typical size for a chat or a game"}.Marshal()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		frame := protocol.SignClientMessage(first, &protocol.WebsocketMessage{ClientID: firstID, SequenceNum: uint64(i), Timestamp: 1 << 53, Message: payload})
		h.now += 2 // every queued message has expired
		b.StartTimer()
		var ok bool
		if err := h.call(gw, protocol.MethodMessage, &ok, frame); err != nil || !ok {
			b.Fatalf("ws_message = %v, %v", ok, err)
		}
	}
	b.StopTimer()
	if st := s.Stats(); st.Queued < broadcastClients || st.Queued > 2*broadcastClients {
		b.Fatalf("%d messages queued, want about %d", st.Queued, broadcastClients)
	}
}
