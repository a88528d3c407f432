// Package canister is the load canister of `icws bench`, on the icws WebSocket library
// (cdk/websocket). It broadcasts on demand and records how long client messages took to reach it.
//
//   - broadcast(count: nat32, size: nat32) -> (first: nat64, clients: nat64), update, only from
//     the owner named in the init argument: queues count messages of size bytes to every open
//     client, numbered by a broadcast counter that starts at 0.
//   - publish(count: nat32, size: nat32) -> (first: nat64, subscribers: nat64), update, only from
//     the owner: publishes count messages of size bytes to the certified channel Channel
//     (docs/PROTOCOL.md §12), each certified once whatever the number of subscribers, numbered by
//     the channel's sequence number (first is the first one's). count 0 only reports the head and
//     the subscribers.
//   - samples(from: nat64) -> (vec nat32, nat64), query: the latencies of the accepted client
//     messages, in microseconds, from index from (at most MaxSamplesPerQuery of them), and how many
//     there are in all.
//   - the ws_* methods of the WebSocket library.
//
// A client that opens gets a welcome message. Every payload the canister sends starts with a kind
// byte and a big-endian uint64 (Welcome: the client id; Broadcast: the broadcast number),
// followed by padding. A client message must be Upstream: the kind byte and the client's send
// time (Unix nanoseconds, big-endian), then padding; its latency is the IC time of the round that
// runs it minus that send time. Or it is Echo (any number, padding), which the canister sends
// back to the client as it is: a round trip.
//
// Heartbeats are on (HeartbeatInterval): the canister acknowledges client messages, and a
// client that sent a keep-alive gets a heartbeat every interval (service messages, which the
// bench's clients skip). The queue per gateway is MaxQueue: messages the gateway already fetched
// leave it by overflow, oldest first.
package canister

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/cdk/websocket"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
)

// Channel is the certified channel publish publishes to; clients of the bench's channel mode
// subscribe to it. Subscriptions are open to every client.
const Channel = "bench"

// Payload kinds: the first byte of every bench payload.
const (
	Welcome   byte = 'W'
	Broadcast byte = 'B'
	Upstream  byte = 'U'
	// Echo is a client message the canister sends back to its sender as it is: a round trip.
	Echo byte = 'E'
)

// Limits.
const (
	// HeaderSize is the size of a payload's kind byte and number; payloads are at least this long.
	HeaderSize = 9
	// MaxSize is the largest payload broadcast accepts.
	MaxSize = 64 << 10
	// MaxCount bounds the messages of one broadcast call (count × open clients).
	MaxCount = 1 << 20
	// MaxQueue is the canister's queue bound per gateway (websocket.Config.MaxQueuePerGateway).
	MaxQueue = 200000
	// MaxPublish bounds the messages of one publish call: fewer than the channel's retention
	// (websocket.DefaultChannelRetention), so that a gateway one poll behind misses none.
	MaxPublish = 500
	// MaxSamplesPerQuery bounds the reply of samples.
	MaxSamplesPerQuery = 100000
	// HeartbeatInterval is the canister's heartbeat period (websocket.Config.HeartbeatInterval):
	// the library's default. With heartbeats on, the canister acknowledges a client's messages
	// every protocol.AckInterval of them, without which a client that sends more than
	// protocol.MaxPendingFrames messages waits for good (client.Conn.Send).
	HeartbeatInterval = 30 * time.Second
)

// Method names.
const (
	MethodBroadcast = "broadcast"
	MethodPublish   = "publish"
	MethodSamples   = "samples"
)

// AppendPayload appends a payload of the given kind, number and total size (at least HeaderSize)
// to dst.
func AppendPayload(dst []byte, kind byte, n uint64, size int) []byte {
	dst = append(dst, kind)
	dst = binary.BigEndian.AppendUint64(dst, n)
	for i := HeaderSize; i < size; i++ {
		dst = append(dst, byte(i))
	}
	return dst
}

// ParsePayload returns the kind and number of a bench payload.
func ParsePayload(p []byte) (kind byte, n uint64, err error) {
	if len(p) < HeaderSize {
		return 0, 0, fmt.Errorf("bench payload of %d bytes, want at least %d", len(p), HeaderSize)
	}
	switch p[0] {
	case Welcome, Broadcast, Upstream, Echo:
	default:
		return 0, 0, fmt.Errorf("bench payload of unknown kind %#x", p[0])
	}
	return p[0], binary.BigEndian.Uint64(p[1:HeaderSize]), nil
}

// state is the canister's own state beside the WebSocket library's.
type state struct {
	owner     principal.Principal
	next      uint64   // the next broadcast number
	latencies []uint32 // accepted client messages, microseconds from send to the round

	// The open transaction.
	savedNext uint64
	savedLen  int
}

func (s *state) Begin()  { s.savedNext, s.savedLen = s.next, len(s.latencies) }
func (s *state) Commit() {}
func (s *state) Rollback() {
	s.next = s.savedNext
	s.latencies = s.latencies[:s.savedLen]
}

// both rolls back the library's state and the canister's together.
type both struct {
	ws  cdk.Transactional
	own *state
}

func (b both) Begin()    { b.ws.Begin(); b.own.Begin() }
func (b both) Commit()   { b.ws.Commit(); b.own.Commit() }
func (b both) Rollback() { b.ws.Rollback(); b.own.Rollback() }

// New returns the load canister with heartbeats every HeartbeatInterval. Its init argument is
// the owner, the only caller allowed to broadcast (Candid: principal).
func New() *cdk.Canister { return NewHeartbeat(HeartbeatInterval) }

// NewHeartbeat returns the load canister with heartbeats every interval (a short one lets
// `icws bench relay` detect a silent gateway in seconds). Its init argument is as New's.
func NewHeartbeat(interval time.Duration) *cdk.Canister {
	st := &state{}
	var s *websocket.Server
	s = websocket.New(websocket.Config{
		MaxQueuePerGateway: MaxQueue,
		HeartbeatInterval:  interval,
		// Heartbeats go out at the timer's ticks: a short interval needs ticks as often.
		TickInterval: min(interval, websocket.DefaultTickInterval),
		OnOpen: func(ic cdk.System, client uint64) {
			if err := s.Send(ic, client, AppendPayload(nil, Welcome, client, HeaderSize)); err != nil {
				cdk.Trapf(ic, "bench: welcome client %d: %v", client, err)
			}
		},
		OnMessage: func(ic cdk.System, client uint64, payload []byte) {
			kind, sent, err := ParsePayload(payload)
			if err == nil && kind == Echo {
				if err := s.Send(ic, client, payload); err != nil {
					cdk.Trapf(ic, "bench: echo to client %d: %v", client, err)
				}
				return
			}
			if err != nil || kind != Upstream {
				cdk.Trapf(ic, "bench: client %d sent a payload that is neither an upstream message nor an echo (%v)", client, err)
			}
			var us uint64
			if now := ic.Time(); now > sent {
				us = (now - sent) / 1000
			}
			st.latencies = append(st.latencies, uint32(min(us, 1<<32-1)))
		},
	})
	c := &cdk.Canister{
		Init: func(ic cdk.System) {
			if err := candid.Unmarshal(ic.Arg(), &st.owner); err != nil {
				cdk.Trapf(ic, "bench: the init argument must be the owner's principal: %v", err)
			}
		},
		Updates: map[string]cdk.Method{
			// Batch: the queue is certified once per call, not once per message sent.
			MethodBroadcast: s.Batch(func(ic cdk.System) { broadcast(ic, s, st) }),
			MethodPublish:   s.Batch(func(ic cdk.System) { publish(ic, s, st) }),
		},
		Queries: map[string]cdk.Method{
			MethodSamples: func(ic cdk.System) { samples(ic, st) },
		},
	}
	s.Register(c)
	c.Candid = benchCandid(c.Candid)
	c.State = both{ws: c.State, own: st}
	// Upgrades, and a replica's restart from its state dir, keep the owner, the broadcast counter
	// and the samples beside the library's state.
	wsPre, wsPost := c.PreUpgrade, c.PostUpgrade
	c.PreUpgrade = func(ic cdk.System) []byte { return st.appendStable(nil, wsPre(ic)) }
	c.PostUpgrade = func(ic cdk.System, saved []byte) {
		rest, err := st.unmarshalStable(saved)
		if err != nil {
			cdk.Trapf(ic, "bench: post_upgrade: %v", err)
		}
		wsPost(ic, rest)
	}
	return c
}

// stableMagic starts the canister's stable encoding (version 1): the magic, the owner
// (uint8 length, bytes), the next broadcast number (uint64), the samples (uint32 count, uint32
// each; big-endian), then the WebSocket library's encoding.
const stableMagic = "BNCH\x01"

// appendStable appends the canister's stable encoding, with the library's ws after it, to dst.
func (s *state) appendStable(dst, ws []byte) []byte {
	dst = append(dst, stableMagic...)
	owner := s.owner.Bytes()
	dst = append(dst, byte(len(owner)))
	dst = append(dst, owner...)
	dst = binary.BigEndian.AppendUint64(dst, s.next)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s.latencies)))
	for _, l := range s.latencies {
		dst = binary.BigEndian.AppendUint32(dst, l)
	}
	return append(dst, ws...)
}

// unmarshalStable restores s from b, an encoding of appendStable, and returns the library's part.
// On error s is unchanged.
func (s *state) unmarshalStable(b []byte) (ws []byte, err error) {
	if len(b) < len(stableMagic)+1 || string(b[:len(stableMagic)]) != stableMagic {
		return nil, fmt.Errorf("saved state does not start with %q (version 1)", stableMagic)
	}
	b = b[len(stableMagic):]
	n := int(b[0])
	b = b[1:]
	if n > principal.MaxLength || len(b) < n+12 {
		return nil, fmt.Errorf("saved state truncated in the owner or the counters (%d bytes left, owner of %d)", len(b), n)
	}
	owner, err := principal.FromBytes(b[:n])
	if err != nil {
		return nil, fmt.Errorf("saved owner: %w", err)
	}
	b = b[n:]
	next := binary.BigEndian.Uint64(b)
	count := binary.BigEndian.Uint32(b[8:])
	b = b[12:]
	if uint64(count)*4 > uint64(len(b)) {
		return nil, fmt.Errorf("saved state claims %d samples in %d bytes", count, len(b))
	}
	lat := make([]uint32, count)
	for i := range lat {
		lat[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	s.owner, s.next, s.latencies = owner, next, lat
	return b[4*int(count):], nil
}

// broadcast: (count: nat32, size: nat32) -> (nat64, nat64).
func broadcast(ic cdk.System, s *websocket.Server, st *state) {
	if ic.Caller() != st.owner {
		cdk.Trapf(ic, "broadcast: caller %s is not the bench's owner", ic.Caller())
	}
	var count, size uint32
	if err := candid.Unmarshal(ic.Arg(), &count, &size); err != nil {
		cdk.Trapf(ic, "broadcast: bad argument: %v", err)
	}
	if size < HeaderSize || size > MaxSize {
		cdk.Trapf(ic, "broadcast: size %d, want %d to %d bytes", size, HeaderSize, MaxSize)
	}
	clients := s.Clients()
	if uint64(count)*uint64(len(clients)) > MaxCount {
		cdk.Trapf(ic, "broadcast: %d messages to %d clients is more than %d", count, len(clients), MaxCount)
	}
	first := st.next
	payload := make([]byte, 0, size)
	for i := uint32(0); i < count; i++ {
		payload = AppendPayload(payload[:0], Broadcast, st.next, int(size))
		for _, id := range clients {
			if err := s.Send(ic, id, payload); err != nil {
				cdk.Trapf(ic, "broadcast: client %d: %v", id, err)
			}
		}
		st.next++
	}
	b, err := candid.Marshal(first, uint64(len(clients)))
	if err != nil {
		cdk.Trapf(ic, "broadcast: %v", err)
	}
	ic.Reply(b)
}

// publish: (count: nat32, size: nat32) -> (nat64, nat64).
func publish(ic cdk.System, s *websocket.Server, st *state) {
	if ic.Caller() != st.owner {
		cdk.Trapf(ic, "publish: caller %s is not the bench's owner", ic.Caller())
	}
	var count, size uint32
	if err := candid.Unmarshal(ic.Arg(), &count, &size); err != nil {
		cdk.Trapf(ic, "publish: bad argument: %v", err)
	}
	if size < HeaderSize || size > MaxSize {
		cdk.Trapf(ic, "publish: size %d, want %d to %d bytes", size, HeaderSize, MaxSize)
	}
	if count > MaxPublish {
		cdk.Trapf(ic, "publish: %d messages in one call is more than %d", count, MaxPublish)
	}
	first := s.ChannelHead(Channel)
	payload := make([]byte, 0, size)
	for i := uint64(0); i < uint64(count); i++ {
		payload = AppendPayload(payload[:0], Broadcast, first+i, int(size))
		if err := s.Publish(ic, Channel, payload); err != nil {
			cdk.Trapf(ic, "publish: %v", err)
		}
	}
	b, err := candid.Marshal(first, uint64(len(s.Subscribers(Channel))))
	if err != nil {
		cdk.Trapf(ic, "publish: %v", err)
	}
	ic.Reply(b)
}

// samples: (from: nat64) -> (vec nat32, nat64) query.
func samples(ic cdk.System, st *state) {
	var from uint64
	if err := candid.Unmarshal(ic.Arg(), &from); err != nil {
		cdk.Trapf(ic, "samples: bad argument: %v", err)
	}
	total := uint64(len(st.latencies))
	from = min(from, total)
	to := min(total, from+MaxSamplesPerQuery)
	b, err := candid.Marshal(st.latencies[from:to], total)
	if err != nil {
		cdk.Trapf(ic, "samples: %v", err)
	}
	ic.Reply(b)
}

// benchCandid adds the load canister's own methods and its init argument to the library's
// Candid interface ws, so that the published candid:service describes every export.
func benchCandid(ws string) string {
	const service = "service : {\n"
	i := strings.Index(ws, service)
	if i < 0 {
		return ws
	}
	own := "  \"" + MethodBroadcast + "\": (nat32, nat32) -> (nat64, nat64);\n" +
		"  \"" + MethodPublish + "\": (nat32, nat32) -> (nat64, nat64);\n" +
		"  \"" + MethodSamples + "\": (nat64) -> (vec nat32, nat64) query;\n"
	return ws[:i] + "service : (principal) -> {\n" + own + ws[i+len(service):]
}
