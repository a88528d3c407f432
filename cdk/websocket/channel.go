package websocket

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/protocol"
)

// Certified channels (docs/PROTOCOL.md §12): Publish certifies a message once under its
// channel's key, whatever the number of subscribers; clients subscribe with a signed service
// message the application authorises; gateways fetch every channel they have subscribers of
// with one ws_get_channel_messages query.

// Defaults and limits of channels.
const (
	DefaultChannelRetention = 1000
	DefaultMaxChannelBatch  = 1000
	// MaxChannels is the most channels a server holds; a channel's counter is never forgotten.
	MaxChannels = 10000
	// MaxSubscriptions is the most channels one client may subscribe to.
	MaxSubscriptions = 64
)

// Errors of Publish and subscriptions.
var (
	// ErrTooManyChannels: Publish to a new channel beyond MaxChannels.
	ErrTooManyChannels = errors.New("websocket: too many channels")
	// ErrTooManySubscriptions: a client asked for more than MaxSubscriptions channels.
	ErrTooManySubscriptions = errors.New("websocket: too many subscriptions")
)

// ChannelConfig configures the channels of a Server (Config.Channels). Zero fields take the
// defaults.
type ChannelConfig struct {
	// AuthorizeSubscribe decides whether client may subscribe to channel; a non-nil error refuses,
	// and its text is the reason the client gets. Nil lets every client subscribe (default open).
	// It runs in ws_message and may read the server (Owner, IsOpen) and the application's state.
	AuthorizeSubscribe func(ic cdk.System, client uint64, channel string) error
	// Retention is the most messages kept per channel (DefaultChannelRetention).
	Retention int
	// TTL is how long a channel message is kept (Config.MessageTTL by default).
	TTL time.Duration
	// MaxBatch is the most values per channel in one ws_get_channel_messages answer.
	MaxBatch int
}

// channel is one channel's state. vals and times only grow at the end or are resliced from the
// front, or rebuilt into new arrays, so a saved copy of the struct restores them (journal.go).
type channel struct {
	name  string
	next  uint64   // the seq of the next Publish
	first uint64   // the seq of vals[0]
	vals  [][]byte // C1 of seqs first, first+1, …
	times []uint64 // IC time of each Publish
	subs  map[uint64]struct{}
	gen   uint64
}

func (ch *channel) key(seq uint64) string { return protocol.ChannelKey(ch.name, seq) }

func (s *Server) saveChannel(ch *channel) {
	if s.tx && ch.gen != s.gen {
		old := *ch
		ch.gen = s.gen
		s.undo = append(s.undo, func() { *ch = old })
	}
}

// channelFor returns channel name's state, creating it.
func (s *Server) channelFor(name string) (*channel, error) {
	if ch := s.channels[name]; ch != nil {
		return ch, nil
	}
	if len(s.channels) >= MaxChannels {
		return nil, fmt.Errorf("%w: %d exist, at most %d", ErrTooManyChannels, len(s.channels), MaxChannels)
	}
	if s.channels == nil {
		s.channels = make(map[string]*channel)
	}
	ch := &channel{name: name, subs: make(map[uint64]struct{}), gen: s.gen}
	s.channels[name] = ch
	s.journal(func() { delete(s.channels, name) })
	return ch, nil
}

// Publish publishes payload to channel: it is certified once, under the channel's next sequence
// number, and every subscriber (whatever their number) gets it through its gateway's channel
// poll. Like Send it certifies at the end of a wrapped method, else at once, and must run in an
// update, init or timer message. It fails for an invalid channel name, a payload larger than
// MaxPayload, or a new channel beyond MaxChannels.
func (s *Server) Publish(ic cdk.System, channel string, payload []byte) error {
	if err := protocol.ValidateChannel(channel); err != nil {
		return fmt.Errorf("websocket: Publish: %w", err)
	}
	if len(payload) > s.cfg.MaxPayload {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrPayloadTooBig, len(payload), s.cfg.MaxPayload)
	}
	ch, err := s.channelFor(channel)
	if err != nil {
		return err
	}
	now := ic.Time()
	s.saveChannel(ch)
	s.trimChannel(ch, now, 1)
	m := protocol.ChannelMessage{Channel: channel, Seq: ch.next, Timestamp: now, Message: payload}
	val := m.Marshal()
	sum := sha256.Sum256(val)
	s.tree.Insert(ch.key(ch.next), sum[:])
	ch.vals = append(ch.vals, val)
	ch.times = append(ch.times, now)
	ch.next++
	s.certify(ic)
	s.ensureTimer(ic)
	return nil
}

// ChannelHead returns channel's next sequence number (0 for a channel never published to).
func (s *Server) ChannelHead(channel string) uint64 {
	if ch := s.channels[channel]; ch != nil {
		return ch.next
	}
	return 0
}

// Subscribers returns the ids of the clients subscribed to channel, in increasing order.
func (s *Server) Subscribers(channel string) []uint64 {
	ch := s.channels[channel]
	if ch == nil {
		return nil
	}
	ids := make([]uint64, 0, len(ch.subs))
	for id := range ch.subs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// trimChannel deletes ch's messages beyond the retention (keeping room for room new ones) and
// those older than the TTL. ch is saved.
func (s *Server) trimChannel(ch *channel, now uint64, room int) {
	ttl := ns(s.cfg.Channels.TTL)
	n := 0
	for n < len(ch.vals) && (len(ch.vals)-n+room > s.cfg.Channels.Retention || now > ch.times[n] && now-ch.times[n] > ttl) {
		s.tree.Delete(ch.key(ch.first + uint64(n)))
		n++
	}
	if n == 0 {
		return
	}
	ch.first += uint64(n)
	if len(ch.vals) == n || n > len(ch.vals)/2 && len(ch.vals) > 64 {
		// Rebuild into new arrays, so the dropped front is freed (never in place: rollback).
		ch.vals = slices.Clone(ch.vals[n:])
		ch.times = slices.Clone(ch.times[n:])
		return
	}
	ch.vals, ch.times = ch.vals[n:], ch.times[n:]
}

// collectChannels applies the TTL to every channel (a timer tick), in name order.
func (s *Server) collectChannels(now uint64) {
	if len(s.channels) == 0 {
		return
	}
	names := make([]string, 0, len(s.channels))
	for name, ch := range s.channels {
		if len(ch.vals) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		ch := s.channels[name]
		s.saveChannel(ch)
		s.trimChannel(ch, now, 0)
	}
}

// channelMessages reports whether any channel keeps messages (the timer must run to expire them).
func (s *Server) channelMessages() bool {
	for _, ch := range s.channels {
		if len(ch.vals) > 0 {
			return true
		}
	}
	return false
}

// channelControl handles a C2 in the message of client c's service message: it subscribes or
// unsubscribes and queues the C3 answer.
func (s *Server) channelControl(ic cdk.System, c *client, msg []byte) {
	ctl, err := protocol.DecodeChannelControl(msg)
	if err != nil {
		ic.Print(fmt.Sprintf("ws_message: client %d: %v", c.id, err))
		s.st.stats.Rejected++
		return
	}
	if ctl.Unsubscribe != "" {
		s.unsubscribe(c, ctl.Unsubscribe)
		s.enqueueChannelStatus(ic, c, protocol.ChannelStatus{Unsubscribed: ctl.Unsubscribe, Reason: "unsubscribed"})
		return
	}
	name := ctl.Subscribe
	refuse := func(err error) {
		s.enqueueChannelStatus(ic, c, protocol.ChannelStatus{Unsubscribed: name, Reason: err.Error()})
	}
	if err := protocol.ValidateChannel(name); err != nil {
		refuse(err)
		return
	}
	if !slices.Contains(c.channels, name) && len(c.channels) >= MaxSubscriptions {
		refuse(fmt.Errorf("%w: at most %d per client", ErrTooManySubscriptions, MaxSubscriptions))
		return
	}
	if f := s.cfg.Channels.AuthorizeSubscribe; f != nil {
		if err := f(ic, c.id, name); err != nil {
			refuse(err)
			return
		}
	}
	ch, err := s.channelFor(name)
	if err != nil {
		refuse(err)
		return
	}
	head := ch.next
	if ctl.HasFrom && ctl.From >= ch.first && ctl.From <= ch.next {
		head = ctl.From
	}
	if _, ok := ch.subs[c.id]; !ok {
		ch.subs[c.id] = struct{}{}
		s.journal(func() { delete(ch.subs, c.id) })
		s.saveClient(c)
		c.channels = slices.Insert(slices.Clone(c.channels), sortedIndex(c.channels, name), name)
	}
	s.enqueueChannelStatus(ic, c, protocol.ChannelStatus{Subscribed: name, Head: head})
}

func sortedIndex(names []string, name string) int {
	i, _ := slices.BinarySearch(names, name)
	return i
}

// unsubscribe ends c's subscription to name, if any.
func (s *Server) unsubscribe(c *client, name string) {
	i, found := slices.BinarySearch(c.channels, name)
	if !found {
		return
	}
	s.saveClient(c)
	c.channels = slices.Delete(slices.Clone(c.channels), i, i+1)
	if ch := s.channels[name]; ch != nil {
		if _, ok := ch.subs[c.id]; ok {
			delete(ch.subs, c.id)
			s.journal(func() { ch.subs[c.id] = struct{}{} })
		}
	}
}

// unsubscribeAll ends every subscription of c (it closes).
func (s *Server) unsubscribeAll(c *client) {
	for len(c.channels) > 0 {
		s.unsubscribe(c, c.channels[0])
	}
}

// channelStatus returns the C3 of c's service messages: st with the heads of c's channels; nil
// if c has no channels and st says nothing.
func (s *Server) channelStatus(c *client, st protocol.ChannelStatus) []byte {
	if len(c.channels) == 0 && st.Subscribed == "" && st.Unsubscribed == "" {
		return nil
	}
	st.Heads = make([]protocol.ChannelHead, len(c.channels))
	for i, name := range c.channels {
		st.Heads[i] = protocol.ChannelHead{Channel: name, Head: s.ChannelHead(name)}
	}
	return st.Marshal()
}

// enqueueChannelStatus queues a service message with C3 st for c.
func (s *Server) enqueueChannelStatus(ic cdk.System, c *client, st protocol.ChannelStatus) {
	s.saveClient(c)
	c.ackSent = c.inSeq
	s.enqueue(ic, c, &protocol.WebsocketMessage{Service: true, Ack: c.inSeq, AckTime: c.lastIn, Message: s.channelStatus(c, st)})
}

// ws_get_channel_messages: (vec ChannelFrom) -> (ChannelMessages) query. For each channel named
// that has a subscriber bound to the caller, its kept messages from `from` on with one witness;
// one certificate for all.
func (s *Server) wsGetChannelMessages(ic cdk.System) {
	var req []protocol.ChannelFrom
	args(ic, &req)
	if len(req) > protocol.MaxChannelsPerQuery {
		cdk.Trapf(ic, "%s: %d channels, at most %d per query", protocol.MethodGetChannelMessages, len(req), protocol.MaxChannelsPerQuery)
	}
	out := protocol.ChannelMessages{Cert: []byte{}, Channels: []protocol.ChannelBatch{}}
	caller := ic.Caller()
	g := s.gateways[caller]
	seen := make(map[string]bool, len(req))
	budget := protocol.MaxChannelQueryBytes
	for _, r := range req {
		if err := protocol.ValidateChannel(r.Channel); err != nil {
			cdk.Trapf(ic, "%s: %v", protocol.MethodGetChannelMessages, err)
		}
		if seen[r.Channel] {
			cdk.Trapf(ic, "%s: channel %q named twice", protocol.MethodGetChannelMessages, r.Channel)
		}
		seen[r.Channel] = true
		ch := s.channels[r.Channel]
		if ch == nil || g == nil || !s.servesGateway(ch, g) {
			continue
		}
		b := protocol.ChannelBatch{Channel: ch.name, First: max(r.From, ch.first), Head: ch.next, Vals: [][]byte{}, Tree: []byte{}}
		if b.First < ch.next {
			i := int(b.First - ch.first)
			j := i
			for j < len(ch.vals) && j-i < s.cfg.Channels.MaxBatch && (j == i || budget >= len(ch.vals[j])) {
				budget -= len(ch.vals[j])
				j++
			}
			b.Vals = ch.vals[i:j]
			w := hashtree.Labeled{Label: []byte(Label), Tree: s.tree.WitnessRange(ch.key(b.First), ch.key(b.First+uint64(j-i)-1))}
			b.Tree = hashtree.AppendCBOR(append(make([]byte, 0, 256), selfDescribe...), w)
			if len(out.Cert) == 0 {
				out.Cert = ic.DataCertificate()
				if out.Cert == nil {
					cdk.Trapf(ic, "%s: no data certificate; call it as a query", protocol.MethodGetChannelMessages)
				}
			}
		} else {
			b.First = r.From
		}
		out.Channels = append(out.Channels, b)
	}
	reply(ic, out)
}

// servesGateway reports whether a client bound to g is subscribed to ch.
func (s *Server) servesGateway(ch *channel, g *gateway) bool {
	for id := range ch.subs {
		if c := s.clients[id]; c != nil && c.gw == g {
			return true
		}
	}
	return false
}

// channelCandid adds ws_get_channel_messages and its types to the seed interface text.
func channelCandid(base string) string {
	const service = "service : {\n"
	i := strings.Index(base, service)
	if i < 0 {
		return base
	}
	method := "  \"" + protocol.MethodGetChannelMessages + "\": (vec ChannelFrom) -> (ChannelMessages) query;\n"
	return base[:i] + protocol.ChannelCandid + service + method + base[i+len(service):]
}
