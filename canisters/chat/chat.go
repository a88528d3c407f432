// Package chat is an example canister on the icws WebSocket library: a chat room. Every message
// a client sends, {text}, goes to every open client as {text, from: sender's client id}; when a
// client opens or leaves, every open client gets {join: id} or {leave: id}. All payloads are
// tagged CBOR maps (see docs/PROTOCOL.md, "The chat canister").
package chat

import (
	"fmt"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/cdk/websocket"
	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/protocol"
)

// MaxText is the longest text, in bytes, the room accepts.
const MaxText = 4096

// Message is a text and its sender, as broadcast: d9d9f7 a2 "text": text, "from": uint.
type Message struct {
	Text string `cbor:"text"`
	From uint64 `cbor:"from"`
}

// Join announces a client that opened: d9d9f7 a1 "join": uint.
type Join struct {
	Join uint64 `cbor:"join"`
}

// Leave announces a client that left: d9d9f7 a1 "leave": uint.
type Leave struct {
	Leave uint64 `cbor:"leave"`
}

// Event is any payload the room sends; exactly one of the fields is set.
type Event struct {
	Message *Message
	Join    *uint64
	Leave   *uint64
}

// Decode decodes a payload the room sent.
func Decode(payload []byte) (Event, error) {
	var m map[string]any
	if err := cbor.Unmarshal(payload, &m); err != nil {
		return Event{}, fmt.Errorf("chat: %w", err)
	}
	id := func(key string) (*uint64, error) {
		v, ok := m[key].(uint64)
		if !ok {
			return nil, fmt.Errorf("chat: %q is %T, want an unsigned integer", key, m[key])
		}
		return &v, nil
	}
	switch {
	case m["text"] != nil:
		text, ok := m["text"].(string)
		if !ok {
			return Event{}, fmt.Errorf("chat: \"text\" is %T, want text", m["text"])
		}
		from, err := id("from")
		if err != nil {
			return Event{}, err
		}
		return Event{Message: &Message{Text: text, From: *from}}, nil
	case m["join"] != nil:
		v, err := id("join")
		return Event{Join: v}, err
	case m["leave"] != nil:
		v, err := id("leave")
		return Event{Leave: v}, err
	}
	return Event{}, fmt.Errorf("chat: payload has none of text, join, leave")
}

// New returns the chat canister.
func New() *cdk.Canister {
	var s *websocket.Server
	broadcast := func(ic cdk.System, v any) {
		b, err := cbor.Marshal(v)
		if err != nil {
			cdk.Trapf(ic, "chat: %v", err)
		}
		for _, id := range s.Clients() {
			if err := s.Send(ic, id, b); err != nil {
				cdk.Trapf(ic, "chat: %v", err)
			}
		}
	}
	s = websocket.New(websocket.Config{
		OnOpen: func(ic cdk.System, client uint64) { broadcast(ic, Join{Join: client}) },
		OnMessage: func(ic cdk.System, client uint64, payload []byte) {
			m, err := protocol.DecodeAppMessage(payload)
			if err != nil {
				cdk.Trapf(ic, "chat: client %d: %v", client, err)
			}
			if len(m.Text) > MaxText {
				cdk.Trapf(ic, "chat: client %d: text of %d bytes, at most %d", client, len(m.Text), MaxText)
			}
			broadcast(ic, Message{Text: m.Text, From: client})
		},
		OnClose: func(ic cdk.System, client uint64) { broadcast(ic, Leave{Leave: client}) },
	})
	c := &cdk.Canister{}
	s.Register(c)
	return c
}
