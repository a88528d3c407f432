// Package chat is an example canister on the icws WebSocket library: a chat room. Every message
// a client sends, {text}, goes to every open client as {text, from: sender's client id}; when a
// client opens or leaves, every open client gets {join: id} or {leave: id}. All payloads are
// tagged CBOR maps (see docs/PROTOCOL.md, "The chat canister").
//
// Rooms use certified channels (docs/PROTOCOL.md §12): a client subscribes to the channel
// RoomChannel(name) and sends {room: name, text}; the canister publishes {text, from, room} to
// the room's channel once, whatever the number of members.
package chat

import (
	"fmt"
	"strings"

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

// RoomMessage is a text for a room, as a client sends it: d9d9f7 a2 "room": text, "text": text
// (a payload without a "room", or with an empty one, is a text for everyone).
// As published to the room's channel it also has "from": uint.
type RoomMessage struct {
	Room string `cbor:"room"`
	Text string `cbor:"text"`
	From uint64 `cbor:"from,omitempty"`
}

// RoomPrefix starts the channel name of every room.
const RoomPrefix = "room:"

// RoomChannel returns the channel of room name.
func RoomChannel(name string) string { return RoomPrefix + name }

// DecodeRoom decodes a room message (a client's or a published one).
func DecodeRoom(payload []byte) (RoomMessage, error) {
	var m RoomMessage
	if err := cbor.Unmarshal(payload, &m); err != nil {
		return RoomMessage{}, fmt.Errorf("chat: room message: %w", err)
	}
	if m.Room == "" {
		return RoomMessage{}, fmt.Errorf("chat: room message without a room")
	}
	return m, nil
}

// authorizeRoom lets clients subscribe to rooms, and to nothing else.
func authorizeRoom(ic cdk.System, client uint64, channel string) error {
	if !strings.HasPrefix(channel, RoomPrefix) || len(channel) == len(RoomPrefix) {
		return fmt.Errorf("chat: only rooms (%q + a name) can be subscribed to, not %q", RoomPrefix, channel)
	}
	return nil
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
			var r RoomMessage
			if err := cbor.Unmarshal(payload, &r); err != nil {
				cdk.Trapf(ic, "chat: client %d: %v", client, err)
			}
			if r.Room != "" {
				if len(r.Text) > MaxText {
					cdk.Trapf(ic, "chat: client %d: text of %d bytes, at most %d", client, len(r.Text), MaxText)
				}
				b, err := cbor.Marshal(RoomMessage{Room: r.Room, Text: r.Text, From: client})
				if err != nil {
					cdk.Trapf(ic, "chat: %v", err)
				}
				if err := s.Publish(ic, RoomChannel(r.Room), b); err != nil {
					cdk.Trapf(ic, "chat: client %d: %v", client, err)
				}
				return
			}
			m, err := protocol.DecodeAppMessage(payload)
			if err != nil {
				cdk.Trapf(ic, "chat: client %d: %v", client, err)
			}
			if len(m.Text) > MaxText {
				cdk.Trapf(ic, "chat: client %d: text of %d bytes, at most %d", client, len(m.Text), MaxText)
			}
			broadcast(ic, Message{Text: m.Text, From: client})
		},
		OnClose:  func(ic cdk.System, client uint64) { broadcast(ic, Leave{Leave: client}) },
		Channels: websocket.ChannelConfig{AuthorizeSubscribe: authorizeRoom},
	})
	c := &cdk.Canister{}
	s.Register(c)
	return c
}
