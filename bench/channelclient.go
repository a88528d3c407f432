package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/protocol"
)

// leanSubscription is a lean client's subscription to one certified channel (the channel run
// in VerifySharedCache mode): confirmed by the canister's certified C3, then every S8 frame
// checked (docs/PROTOCOL.md §12.6) and its messages delivered in seq order, once, no gap.
type leanSubscription struct {
	name      string
	confirmed atomic.Bool // set by recv; read by waitSubscribed
	next      uint64      // the next seq due; owned by recv
}

// subscribe sends the signed subscription request for channel (C2 in a client service message).
func (l *leanClient) subscribe(ctx context.Context, channel string) error {
	if err := protocol.ValidateChannel(channel); err != nil {
		return fmt.Errorf("bench: subscribe: %w", err)
	}
	l.sub = &leanSubscription{name: channel}
	ctl := protocol.ChannelControl{Subscribe: channel}
	// Called before recv runs: the next message due is the client's acknowledgement, as the SDK
	// sends it.
	return l.write(ctx, &protocol.WebsocketMessage{Service: true, Ack: l.v.Next(), Message: ctl.Marshal()})
}

// subscribedTo reports whether the canister confirmed the subscription to channel.
func (l *leanClient) subscribedTo(channel string) bool {
	return l.sub != nil && l.sub.name == channel && l.sub.confirmed.Load()
}

// channelStatus applies the C3 of a verified service message to the subscription.
func (l *leanClient) channelStatus(body []byte) error {
	st, err := protocol.DecodeChannelStatus(body)
	if err != nil {
		return fmt.Errorf("bench: client %d: the certified channel status does not decode: %w", l.id, err)
	}
	s := l.sub
	switch {
	case st.Unsubscribed == s.name:
		return fmt.Errorf("bench: client %d: the canister ended the subscription to %q: %s", l.id, s.name, st.Reason)
	case st.Subscribed == s.name && !s.confirmed.Load():
		s.next = st.Head
		s.confirmed.Store(true)
	}
	return nil
}

// channelFrame checks S8 frame and queues its messages that are due; frames before the
// subscription's confirmation are not the client's, and repeats are dropped.
func (l *leanClient) channelFrame(frame []byte) error {
	s := l.sub
	msgs, err := l.v.CheckChannel(frame)
	if err != nil {
		return fmt.Errorf("bench: client %d: %w", l.id, err)
	}
	if !s.confirmed.Load() || len(msgs) == 0 {
		return nil
	}
	if msgs[0].Channel != s.name {
		return fmt.Errorf("bench: client %d: a frame of channel %q, subscribed to %q", l.id, msgs[0].Channel, s.name)
	}
	if msgs[0].Seq > s.next {
		return fmt.Errorf("bench: client %d: channel %q frame starts at seq %d, want %d (a gap)", l.id, s.name, msgs[0].Seq, s.next)
	}
	for _, m := range msgs {
		if m.Seq >= s.next {
			l.pending = append(l.pending, protocol.WebsocketMessage{Message: m.Payload, Timestamp: uint64(m.Timestamp.UnixNano())})
			s.next = m.Seq + 1
		}
	}
	return nil
}

// write signs m as the client's next message and sends it.
func (l *leanClient) write(ctx context.Context, m *protocol.WebsocketMessage) error {
	m.ClientID, m.SequenceNum, m.Timestamp = l.id, l.out, uint64(time.Now().UnixNano())
	frame := protocol.SignClientMessage(l.key, m)
	l.out++
	dl, _ := ctx.Deadline()
	_ = l.ws.SetWriteDeadline(dl)
	return l.ws.WriteMessage(websocket.BinaryMessage, frame)
}
