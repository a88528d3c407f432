package websocket

import (
	"crypto/sha256"
	"strings"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/protocol/omnia"
)

// entry is one queued canister message. It is in the certified map under key, in s.entries,
// in the global age list s.st.fifo and in its client's list; deletion is lazy in the lists.
type entry struct {
	key    string
	gw     *gateway
	client uint64
	seq    uint64          // its sequence number
	time   uint64          // IC time it was queued, ns
	val    []byte          // S4, canister encoding (ProtocolOmnia: the CBOR WebsocketMessage)
	ckey   omnia.ClientKey // ProtocolOmnia: the client's key
	live   bool
	gen    uint64
}

// list is a FIFO of entries with lazy deletion: dead entries stay until they reach the front or
// until they outnumber the live ones, when the list is rebuilt into a new array (never in place,
// which keeps old slice headers valid for rollback).
type list struct {
	items []*entry
	head  int // items[:head] are gone
	dead  int // dead entries in items[head:]
}

func (l *list) push(e *entry) {
	l.items = append(l.items, e)
	l.compact()
}

// live returns the number of live entries.
func (l *list) live() int { return len(l.items) - l.head - l.dead }

// front returns the oldest live entry, dropping dead ones before it.
func (l *list) front() *entry {
	for l.head < len(l.items) {
		e := l.items[l.head]
		if e.live {
			return e
		}
		l.head++
		l.dead--
	}
	l.reset()
	return nil
}

func (l *list) reset() {
	*l = list{}
}

// died records that one of the list's entries died.
func (l *list) died() {
	l.dead++
	if l.live() == 0 {
		l.reset()
		return
	}
	l.compact()
}

// compact rebuilds the list without dead entries when they, or the consumed head, take more
// room than the live ones, which keeps the cost amortized O(1) per operation.
func (l *list) compact() {
	if l.dead > 32 && l.dead > l.live() || l.head > 32 && l.head > len(l.items)/2 {
		items := make([]*entry, 0, l.live())
		for _, e := range l.items[l.head:] {
			if e.live {
				items = append(items, e)
			}
		}
		*l = list{items: items}
	}
}

// each calls fn for every live entry, oldest first. fn must not change the list.
func (l *list) each(fn func(e *entry)) {
	for _, e := range l.items[l.head:] {
		if e.live {
			fn(e)
		}
	}
}

// certify certifies the map after a change: at the end of the message if it is batched (see
// Batch), else at once.
func (s *Server) certify(ic cdk.System) {
	if s.batching {
		s.uncertified = true
		return
	}
	s.setCertifiedData(ic)
}

// setCertifiedData sets the certified data to the root of the map, under the label "websocket".
func (s *Server) setCertifiedData(ic cdk.System) {
	h := hashtree.LabeledHash([]byte(Label), s.tree.RootHash())
	ic.SetCertifiedData(h[:])
	s.uncertified = false
}

// enqueue queues m for client c (which must be open) and certifies it (see certify).
func (s *Server) enqueue(ic cdk.System, c *client, m *protocol.WebsocketMessage) {
	s.enqueueVal(ic, c, func(seq, now uint64) []byte {
		m.ClientID = c.id
		m.SequenceNum = seq
		m.Timestamp = now
		return m.MarshalCanister()
	})
}

// enqueueOmnia queues, in ProtocolOmnia, a WebsocketMessage with content for client c (which
// must be open) and certifies it (see certify).
func (s *Server) enqueueOmnia(ic cdk.System, c *client, content []byte, service bool) {
	key := omnia.ClientKey{Principal: c.owner, Nonce: c.nonce}
	s.enqueueVal(ic, c, func(seq, now uint64) []byte {
		return omnia.WebsocketMessage{Key: key, SequenceNum: seq, Timestamp: now, IsServiceMessage: service, Content: content}.MarshalCBOR()
	})
}

// enqueueOmniaService queues a service message for client c (see enqueueOmnia).
func (s *Server) enqueueOmniaService(ic cdk.System, c *client, m omnia.ServiceMessage) {
	b, err := omnia.EncodeServiceMessage(m)
	if err != nil { // the library's own messages always encode
		cdk.Trapf(ic, "websocket: encoding a service message: %v", err)
	}
	s.enqueueOmnia(ic, c, b, true)
}

// enqueueVal queues the message val(sequence number, time) for client c (which must be open)
// and certifies it (see certify).
func (s *Server) enqueueVal(ic cdk.System, c *client, val func(seq, now uint64) []byte) {
	now := ic.Time()
	if s.omnia() {
		s.collect(now, omnia.OldMessagesDeletedPerSend)
	} else {
		s.collect(now, 2)
	}
	g := c.gw
	if g.queued >= s.cfg.MaxQueuePerGateway {
		if key, _, ok := s.tree.First(g.prefix); ok && strings.HasPrefix(key, g.prefix) {
			s.deleteEntry(s.entries[key])
			s.st.stats.DroppedOverflow++
		}
	}
	s.saveClient(c)
	seq := c.outSeq
	c.outSeq++
	e := &entry{client: c.id, seq: seq, time: now, val: val(seq, now), live: true, gen: s.gen}
	if s.omnia() {
		e.ckey = omnia.ClientKey{Principal: c.owner, Nonce: c.nonce}
	}
	s.insertEntry(g, e)
	s.st.fifo.push(e)
	c.queue.push(e)
	s.st.stats.Sent++
	s.certify(ic)
	s.ensureTimer(ic)
}

// enqueueService queues a service message for client c (which must be open): an
// acknowledgement of every client message accepted so far (ack = c.inSeq, with the IC time the
// last of them was accepted, or c opened) and, if reason is not empty, the close notice with that
// reason.
func (s *Server) enqueueService(ic cdk.System, c *client, reason string) {
	s.saveClient(c)
	c.ackSent = c.inSeq
	s.enqueue(ic, c, &protocol.WebsocketMessage{Service: true, Ack: c.inSeq, AckTime: c.lastIn, Close: reason, Message: s.channelStatus(c, protocol.ChannelStatus{})})
}

// wantsService reports whether c gets heartbeats and acknowledgements: it opted in with a
// keep-alive, and the canister sends heartbeats. Seed clients never opt in and never see a
// service message but the close notice.
func (s *Server) wantsService(c *client) bool {
	return c.keepalive && s.cfg.HeartbeatInterval > 0
}

// insertEntry gives e the next key of g and puts it in the certified map.
func (s *Server) insertEntry(g *gateway, e *entry) {
	s.saveGateway(g)
	nonce := g.nextNonce
	g.nextNonce++
	g.queued++
	if g.nextNonce > s.st.nonceFloor {
		s.st.nonceFloor = g.nextNonce
	}
	e.key = string(protocol.AppendKey(make([]byte, 0, len(g.prefix)+protocol.NonceDigits), g.text, nonce))
	e.gw = g
	sum := sha256.Sum256(e.val)
	s.tree.Insert(e.key, sum[:])
	s.putEntry(e)
}

// removeEntry takes e out of the certified map and its gateway's queue, but keeps it live.
func (s *Server) removeEntry(e *entry) {
	s.tree.Delete(e.key)
	s.deleteEntryKey(e)
	g := e.gw
	s.saveGateway(g)
	g.queued--
	s.maybeDropGateway(g)
}

// deleteEntry deletes a queued message.
func (s *Server) deleteEntry(e *entry) {
	s.removeEntry(e)
	s.saveEntry(e)
	e.live = false
	s.st.fifo.died()
	if c := s.clients[e.client]; c != nil {
		s.saveClient(c)
		c.queue.died()
	}
}

// collect deletes up to max messages older than the TTL, oldest first.
func (s *Server) collect(now uint64, max int) int {
	ttl := ns(s.cfg.MessageTTL)
	n := 0
	for ; n < max; n++ {
		e := s.st.fifo.front()
		if e == nil || now <= e.time || now-e.time <= ttl {
			break
		}
		s.deleteEntry(e)
		s.st.stats.DroppedExpired++
	}
	return n
}

// moveQueue moves the live messages of c from its gateway to g, with new keys of g, in order.
// Messages the client has acknowledged (sequence numbers below c.acked) are deleted instead.
func (s *Server) moveQueue(c *client, g *gateway) {
	c.queue.each(func(e *entry) {
		if e.seq < c.acked {
			s.deleteEntry(e)
			s.st.stats.Acknowledged++
			return
		}
		s.removeEntry(e)
		s.saveEntry(e)
		s.insertEntry(g, e)
	})
}

// maybeDropGateway forgets a gateway with no queue and no clients.
func (s *Server) maybeDropGateway(g *gateway) {
	if g.queued == 0 && g.bound == 0 {
		if s.gateways[g.id] == g {
			s.deleteGateway(g)
		}
	}
}
