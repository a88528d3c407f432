package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/protocol"
)

// Certified channels (docs/PROTOCOL.md §12): Subscribe sends a signed subscribe request; the
// canister's certified answer (a channel status in a service message) sets where the channel's
// stream starts; every channel frame (S8) is verified once and its messages are returned by Recv
// with Message.Channel set, in sequence order, with no gap.

// DefaultChannelGrace is Config.ChannelGrace's default.
const DefaultChannelGrace = 10 * time.Second

// ChannelError is returned by Recv (not fatal: the connection goes on) when a subscription ended
// without the client asking: the canister refused it (Reason is the application's), or the
// stream had a gap (the canister deleted messages the client had not got: it fell behind the
// retention window). Subscribe again to go on; Gap's messages are lost.
type ChannelError struct {
	// Channel is the channel's name.
	Channel string
	// Reason is the canister's reason for a refusal, "" for a gap.
	Reason string
	// Want and Got are, for a gap, the next sequence number expected and the first one that came.
	Want, Got uint64
}

// Error implements error.
func (e *ChannelError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("client: channel %q: the canister refused the subscription: %s", e.Channel, e.Reason)
	}
	return fmt.Sprintf("client: channel %q: messages %d to %d are gone (the client fell behind the canister's retention); Subscribe again", e.Channel, e.Want, e.Got-1)
}

// channels is a Conn's subscriptions.
type channels struct {
	// mu guards subs; Recv (readMu) and Subscribe both use it briefly.
	mu   sync.Mutex
	subs map[string]*subscription
	// pending are verified channel messages not yet returned by Recv; owned by Recv.
	pending []Message
	// dropped counts channel frames for channels not subscribed to (late after an unsubscribe).
	dropped int
}

// subscription is one channel's state at the client.
type subscription struct {
	confirmed bool   // the canister's C3 "subscribed" arrived; next is set
	next      uint64 // the next seq expected
	// behindHead, if above next, is a head a certified status reported at behindSince.
	behindHead  uint64
	behindSince time.Time
	// resuming is set when Reconnect resubscribed from next: the new gateway may first send
	// frames from the head it learnt from the reopen message, past next, before it serves the
	// resubscription from next. Until a frame reaches next (or a certified head shows nothing
	// is missing), frames starting past next are dropped, not a gap; the withholding check
	// still bounds how long next may stay behind.
	resuming bool
}

// Subscribe asks the canister to subscribe the connection to channel: a signed service message
// (docs/PROTOCOL.md §12.3), which the canister's Config.Channels.AuthorizeSubscribe may refuse.
// It returns once the request is written; the channel's messages then come from Recv, with
// Message.Channel set, from the point the canister confirms on. A refusal is a *ChannelError from
// Recv. Subscribing again to a subscribed channel resumes from the next message expected.
func (c *Conn) Subscribe(ctx context.Context, channel string) error {
	if err := protocol.ValidateChannel(channel); err != nil {
		return fmt.Errorf("client: Subscribe: %w", err)
	}
	ctl := protocol.ChannelControl{Subscribe: channel}
	c.ch.mu.Lock()
	if c.ch.subs == nil {
		c.ch.subs = make(map[string]*subscription)
	}
	if sub := c.ch.subs[channel]; sub != nil && sub.confirmed {
		ctl.From, ctl.HasFrom = sub.next, true
	} else if sub == nil {
		c.ch.subs[channel] = &subscription{}
	}
	c.ch.mu.Unlock()
	return c.sendMessage(ctx, &protocol.WebsocketMessage{Service: true, Message: ctl.Marshal()})
}

// Unsubscribe ends the subscription to channel: at once at the client (later frames of the
// channel are dropped), and at the canister with a signed request.
func (c *Conn) Unsubscribe(ctx context.Context, channel string) error {
	if err := protocol.ValidateChannel(channel); err != nil {
		return fmt.Errorf("client: Unsubscribe: %w", err)
	}
	c.ch.mu.Lock()
	delete(c.ch.subs, channel)
	c.ch.mu.Unlock()
	ctl := protocol.ChannelControl{Unsubscribe: channel}
	return c.sendMessage(ctx, &protocol.WebsocketMessage{Service: true, Message: ctl.Marshal()})
}

// Subscriptions returns the channels the connection is subscribed to (confirmed), sorted.
func (c *Conn) Subscriptions() []string {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	var names []string
	for name, sub := range c.ch.subs {
		if sub.confirmed {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// resubscribeLocked records, after Reconnect opened socket s, a signed resubscription of every
// confirmed channel from the next seq expected (docs/PROTOCOL.md §12.3 `from`), so that the new
// gateway serves each channel from where this connection stopped: nothing lost, nothing
// doubled. They are numbered after the messages awaiting resending and written with them. The
// caller holds writeMu.
func (c *Conn) resubscribeLocked(ctx context.Context, s *socket) error {
	c.ch.mu.Lock()
	var ctls []protocol.ChannelControl
	for name, sub := range c.ch.subs {
		if sub.confirmed {
			sub.resuming = true
			ctls = append(ctls, protocol.ChannelControl{Subscribe: name, From: sub.next, HasFrom: true})
		}
	}
	c.ch.mu.Unlock()
	slices.SortFunc(ctls, func(a, b protocol.ChannelControl) int { return strings.Compare(a.Subscribe, b.Subscribe) })
	for _, ctl := range ctls {
		if _, err := c.sendLocked(ctx, s, &protocol.WebsocketMessage{Service: true, Message: ctl.Marshal()}, false); err != nil {
			return fmt.Errorf("client: failed to resubscribe to channel %q after the reconnection: %w", ctl.Subscribe, err)
		}
	}
	return nil
}

// popChannel returns the next pending channel message. The caller holds readMu.
func (c *Conn) popChannel() (Message, bool) {
	if len(c.ch.pending) == 0 {
		return Message{}, false
	}
	m := c.ch.pending[0]
	c.ch.pending[0] = Message{}
	c.ch.pending = c.ch.pending[1:]
	return m, true
}

// channelStatus applies the C3 in the message of verified service message m. It returns a
// *ChannelError for a refusal of a subscription the client asked for.
func (c *Conn) channelStatus(m *protocol.WebsocketMessage) error {
	st, err := protocol.DecodeChannelStatus(m.Message)
	if err != nil {
		// Certified, so the canister's fault: say so, but the stream is intact.
		c.log.Warn("client: the canister's channel status does not decode", "client", c.clientID, "err", err)
		return nil
	}
	now := c.cfg.Clock()
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	var refused error
	if st.Unsubscribed != "" {
		if sub := c.ch.subs[st.Unsubscribed]; sub != nil {
			delete(c.ch.subs, st.Unsubscribed)
			if st.Reason != "unsubscribed" {
				refused = &ChannelError{Channel: st.Unsubscribed, Reason: st.Reason}
			}
		}
	}
	if st.Subscribed != "" {
		if sub := c.ch.subs[st.Subscribed]; sub != nil {
			switch {
			case !sub.confirmed:
				sub.next = st.Head
			case st.Head > sub.next:
				refused = &ChannelError{Channel: st.Subscribed, Want: sub.next, Got: st.Head}
				sub.next = st.Head
			}
			// A confirmed subscription's next is never lowered: a resubscription's C3 may come
			// after frames that already delivered past its head (the gateway had them), and
			// lowering next would deliver them twice.
			sub.confirmed = true
		}
	}
	for _, h := range st.Heads {
		sub := c.ch.subs[h.Channel]
		if sub != nil && sub.confirmed && h.Head <= sub.next {
			sub.resuming = false // caught up: a frame past next from now on is a gap
		}
		if sub == nil || !sub.confirmed || h.Head <= sub.next {
			continue
		}
		if sub.behindHead <= sub.next {
			sub.behindSince = now
		}
		sub.behindHead = max(sub.behindHead, h.Head)
	}
	return refused
}

// channelGrace is Config.ChannelGrace or its default.
func (c *Conn) channelGrace() time.Duration {
	if c.cfg.ChannelGrace > 0 {
		return c.cfg.ChannelGrace
	}
	return DefaultChannelGrace
}

// checkChannels fails with Withheld when a channel is still behind a head the canister reported
// more than the grace ago; it also returns the earliest time such a check can fail next (zero
// if none).
func (c *Conn) checkChannels(s *socket) (time.Time, *VerifyError) {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	now := c.cfg.Clock()
	grace := c.channelGrace()
	var next time.Time
	for name, sub := range c.ch.subs {
		if sub.behindHead <= sub.next {
			continue
		}
		due := sub.behindSince.Add(grace)
		if !now.Before(due) {
			return time.Time{}, &VerifyError{Kind: Withheld, Key: protocol.ChannelKey(name, sub.next), Detail: fmt.Sprintf(
				"channel %q: the canister reported head %d at %s, and %s delivered only up to %d within %v: the gateway withholds the channel; reconnect, through another gateway if you can",
				name, sub.behindHead, sub.behindSince.UTC().Format(time.RFC3339Nano), s.gateway, int64(sub.next)-1, grace)}
		}
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	return next, nil
}

// channelFrame verifies S8 frame and queues its new messages for Recv. The caller holds readMu.
func (c *Conn) channelFrame(frame []byte) error {
	f, err := protocol.DecodeChannelFrame(frame)
	if err != nil {
		return verifyErrorf(Malformed, "", err, "the frame is not a channel frame")
	}
	c.ch.mu.Lock()
	sub := c.ch.subs[f.Channel]
	var next uint64
	var resuming bool
	ok := sub != nil && sub.confirmed
	if ok {
		next, resuming = sub.next, sub.resuming
	}
	c.ch.mu.Unlock()
	if !ok {
		c.ch.dropped++
		return nil // not (or no longer, or not yet) subscribed: nothing of ours
	}
	msgs, verr := c.v.checkChannel(&f)
	if verr != nil {
		return verr
	}
	if f.First > next && resuming {
		// The new gateway's frames from the head it learnt at the reopen: the resubscription's
		// frame from next comes after them. Verified, so the frame is genuine; it is dropped
		// and comes again in that frame.
		c.ch.dropped++
		return nil
	}
	if f.First > next {
		c.ch.mu.Lock()
		delete(c.ch.subs, f.Channel)
		c.ch.mu.Unlock()
		return &ChannelError{Channel: f.Channel, Want: next, Got: f.First}
	}
	for _, m := range msgs {
		if m.Seq >= next {
			c.ch.pending = append(c.ch.pending, m)
			next = m.Seq + 1
		}
	}
	c.ch.mu.Lock()
	if sub := c.ch.subs[f.Channel]; sub != nil {
		sub.next = max(sub.next, next)
		sub.resuming = false
	}
	c.ch.mu.Unlock()
	return nil
}

// checkChannel runs the checks of docs/PROTOCOL.md §12.6 (2 to 5) on f: the certificate once,
// the witness once, then every value's hash, channel and seq.
func (v *verifier) checkChannel(f *protocol.ChannelFrame) ([]Message, *VerifyError) {
	key := protocol.ChannelKey(f.Channel, f.First)
	te, now, verr := v.checkCertTree(key, f.Cert, f.Tree)
	if verr != nil {
		return nil, verr
	}
	msgs := make([]Message, len(f.Vals))
	kb := make([]byte, 0, len(f.Channel)+2+protocol.NonceDigits)
	for i, val := range f.Vals {
		seq := f.First + uint64(i)
		kb = protocol.AppendChannelKey(kb[:0], f.Channel, seq)
		r := hashtree.Lookup(te.node, websocketLabel, kb)
		sum := sha256.Sum256(val)
		if r.Status != hashtree.Found || !bytes.Equal(r.Value, sum[:]) {
			return nil, verifyErrorf(Tampered, string(kb), nil, "value %d: the witness does not certify SHA-256 %s under this key (lookup: %v)", i, hex.EncodeToString(sum[:]), r.Status)
		}
		m, err := protocol.DecodeChannelMessage(val)
		if err != nil {
			return nil, verifyErrorf(Malformed, string(kb), err, "the certified channel message does not decode")
		}
		if m.Channel != f.Channel || m.Seq != seq {
			return nil, verifyErrorf(Tampered, string(kb), nil, "the certified value is channel %q seq %d, not %q seq %d", m.Channel, m.Seq, f.Channel, seq)
		}
		msgs[i] = Message{
			Seq:       seq,
			Timestamp: time.Unix(0, int64(min(m.Timestamp, 1<<63-1))),
			Received:  now,
			Payload:   bytes.Clone(m.Message),
			Key:       string(kb),
			Channel:   f.Channel,
		}
	}
	return msgs, nil
}
