package websocket

import (
	"bytes"
	"fmt"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// Candid replies that never change.
const (
	replyTrue  = "DIDL\x00\x01\x7e\x01"
	replyFalse = "DIDL\x00\x01\x7e\x00"
	replyUnit  = "DIDL\x00\x00"
)

func reply(ic cdk.System, v any) {
	b, err := candid.Marshal(v)
	if err != nil {
		cdk.Trapf(ic, "%s: cannot encode the reply: %v", ic.MethodName(), err)
	}
	ic.Reply(b)
}

func replyBool(ic cdk.System, ok bool) {
	if ok {
		ic.Reply([]byte(replyTrue))
	} else {
		ic.Reply([]byte(replyFalse))
	}
}

func args(ic cdk.System, ptrs ...any) {
	if err := candid.Unmarshal(ic.Arg(), ptrs...); err != nil {
		cdk.Trapf(ic, "%s: bad argument: %v", ic.MethodName(), err)
	}
}

// ws_register: (blob) -> (nat64). Records a client's Ed25519 public key and its caller.
func (s *Server) wsRegister(ic cdk.System) {
	var key []byte
	args(ic, &key)
	if err := protocol.ValidatePublicKey(key); err != nil {
		cdk.Trapf(ic, "ws_register: %v", err)
	}
	if len(s.clients) >= s.cfg.MaxClients {
		cdk.Trapf(ic, "ws_register: too many clients (at most %d)", s.cfg.MaxClients)
	}
	id := s.st.nextClientID
	s.st.nextClientID++
	now := ic.Time()
	s.putClient(&client{
		id:         id,
		key:        bytes.Clone(key),
		owner:      ic.Caller(),
		registered: now,
		gen:        s.gen,
	})
	s.ensureTimer(ic)
	reply(ic, id)
}

// ws_get_client_key: (nat64) -> (blob) query.
func (s *Server) wsGetClientKey(ic cdk.System) {
	var id uint64
	args(ic, &id)
	c := s.clients[id]
	if c == nil {
		cdk.Trapf(ic, "ws_get_client_key: unknown client %d", id)
	}
	reply(ic, c.key)
}

// ws_open: (blob, blob) -> (bool). Binds a client to the calling gateway after checking its
// signed first message. False means the signature is wrong or the first message is not fresh
// (its open_nonce is not above the last accepted one, or it has none after one that had one);
// every other failure traps.
func (s *Server) wsOpen(ic cdk.System) {
	var msg, sig []byte
	args(ic, &msg, &sig)
	gw := ic.Caller()
	if gw.IsAnonymous() {
		ic.Trap("ws_open: the anonymous principal cannot be a gateway")
	}
	fm, err := protocol.DecodeFirstMessage(msg)
	if err != nil {
		cdk.Trapf(ic, "ws_open: %v", err)
	}
	target, err := principal.Decode(fm.CanisterID)
	if err != nil {
		cdk.Trapf(ic, "ws_open: canister_id %q: %v", fm.CanisterID, err)
	}
	if self := ic.Self(); target != self {
		cdk.Trapf(ic, "ws_open: the first message is for canister %s, this is %s", target, self)
	}
	c := s.clients[fm.ClientID]
	if c == nil {
		cdk.Trapf(ic, "ws_open: unknown client %d", fm.ClientID)
	}
	if err := protocol.Verify(c.key, msg, sig); err != nil {
		s.st.stats.Rejected++
		ic.Print(fmt.Sprintf("ws_open: client %d: %v", c.id, err))
		replyBool(ic, false)
		return
	}
	if reason := staleOpen(c, fm); reason != "" {
		// A replayed first message: a gateway that once relayed it tries to pull the client back.
		s.st.stats.Rejected++
		ic.Print(fmt.Sprintf("ws_open: client %d: %s", c.id, reason))
		replyBool(ic, false)
		return
	}
	now := ic.Time()
	g := s.gatewayFor(gw)
	old := c.gw
	s.saveClient(c)
	c.lastIn = now
	if fm.OpenNonce != 0 {
		c.openNonce = fm.OpenNonce
	}
	s.attach(c)
	switch {
	case old == g:
		// The same gateway again: its connection was replaced, or it detached the client when the
		// connection ended. It may have fetched messages the client never got (and dropped them,
		// or passed them through a connection now gone), so the unacknowledged ones get new
		// keys, above its cursor; the client skips those it has.
		s.moveQueue(c, g)
		s.certify(ic)
	case old != nil:
		// Reconnection through another gateway: the queue moves along, with new keys, except
		// what the client has acknowledged.
		s.moveQueue(c, g)
		s.saveGateway(old)
		old.bound--
		s.saveGateway(g)
		g.bound++
		c.gw = g
		s.maybeDropGateway(old)
		s.certify(ic)
	default:
		s.saveGateway(g)
		g.bound++
		c.gw = g
		s.st.open++
		s.ensureTimer(ic)
		if s.cfg.OnOpen != nil {
			s.cfg.OnOpen(ic, c.id)
		}
	}
	if old != nil && s.wantsService(c) {
		// A reopened client resends what the canister has not accepted: tell it at once which
		// those are, rather than at the next heartbeat.
		s.enqueueService(ic, c, "")
	}
	replyBool(ic, true)
}

// staleOpen returns why first message fm of client c must be refused as a replay, or "". Once a
// client opened with an open_nonce, every later first message needs a greater one.
func staleOpen(c *client, fm protocol.FirstMessage) string {
	switch {
	case fm.OpenNonce == 0 && c.openNonce != 0:
		return fmt.Sprintf("first message without open_nonce, after one with open_nonce %d", c.openNonce)
	case fm.OpenNonce != 0 && fm.OpenNonce <= c.openNonce:
		return fmt.Sprintf("open_nonce %d is not above the last accepted one, %d (a replayed first message)", fm.OpenNonce, c.openNonce)
	}
	return ""
}

// ws_message: (blob) -> (bool). A client message (S5) relayed by the client's gateway. False
// means a bad signature or an unexpected sequence number (replay, reorder, gap): nothing changes
// but a counter. Every other failure traps.
func (s *Server) wsMessage(ic cdk.System) {
	var frame []byte
	args(ic, &frame)
	cm, err := protocol.DecodeClientMessage(frame)
	if err != nil {
		cdk.Trapf(ic, "ws_message: %v", err)
	}
	m, err := cm.Decode()
	if err != nil {
		cdk.Trapf(ic, "ws_message: %v", err)
	}
	c := s.clients[m.ClientID]
	switch {
	case c == nil:
		ic.Trap(protocol.SessionUnknownClient.Trap("ws_message", m.ClientID))
	case c.gw == nil || c.detached != 0:
		ic.Trap(protocol.SessionNotOpen.Trap("ws_message", m.ClientID))
	case c.gw.id != ic.Caller():
		ic.Trap(protocol.SessionOtherGateway.Trap("ws_message", m.ClientID))
	}
	if err := protocol.Verify(c.key, cm.Val, cm.Sig); err != nil {
		s.st.stats.Rejected++
		ic.Print(fmt.Sprintf("ws_message: client %d: %v", c.id, err))
		replyBool(ic, false)
		return
	}
	if m.SequenceNum != c.inSeq {
		s.st.stats.Rejected++
		ic.Print(fmt.Sprintf("ws_message: client %d: sequence number %d, expected %d", c.id, m.SequenceNum, c.inSeq))
		replyBool(ic, false)
		return
	}
	s.saveClient(c)
	c.inSeq++
	c.lastIn = ic.Time()
	s.st.stats.Received++
	if m.Service && m.Close != "" {
		// The client's own signed goodbye: its session ends now, with its queue, rather than
		// waiting out the detach grace after its gateway's ws_close. Only the client can say
		// this; a gateway can only detach it.
		s.close(ic, c, closing{gone: true})
		replyBool(ic, true)
		return
	}
	if m.Service {
		// A keep-alive: the client asks for heartbeats, and what it acknowledges (it received
		// and verified every message below Ack) need not be kept.
		c.keepalive = true
		c.acked = max(c.acked, m.Ack)
		c.queue.each(func(e *entry) {
			if e.seq < m.Ack {
				s.deleteEntry(e)
				s.st.stats.Acknowledged++
			}
		})
		if len(m.Message) > 0 {
			// A channel subscribe or unsubscribe (docs/PROTOCOL.md §12.3).
			s.channelControl(ic, c, m.Message)
		}
		s.certify(ic)
	} else if s.cfg.OnMessage != nil {
		s.cfg.OnMessage(ic, c.id, m.Message)
	}
	// Acknowledge a steady sender in time for it to keep within the gateway's backlog limit
	// (protocol.MaxPendingFrames). OnMessage may have closed the client.
	if n := s.cfg.AckInterval; n > 0 && s.clients[c.id] == c && c.gw != nil && s.wantsService(c) && c.inSeq-c.ackSent >= uint64(n) {
		s.enqueueService(ic, c, "")
	}
	replyBool(ic, true)
}

// ws_close: (nat64) -> (). From the client's gateway (the connection ended: the client is
// detached for Config.DetachGrace, its queue kept for a reopen through any gateway; with
// detaching off, it is closed and its queue deleted) or from the principal that registered it
// (closed at once; the gateway is told with a close service message).
func (s *Server) wsClose(ic cdk.System) {
	var id uint64
	args(ic, &id)
	c := s.clients[id]
	if c == nil {
		cdk.Trapf(ic, "ws_close: unknown client %d", id)
	}
	caller := ic.Caller()
	switch {
	case c.gw != nil && c.gw.id == caller && s.cfg.DetachGrace > 0:
		s.detach(c, ic.Time())
	case c.gw != nil && c.gw.id == caller:
		s.close(ic, c, closing{gone: true})
	case !caller.IsAnonymous() && caller == c.owner:
		s.close(ic, c, closing{text: "closed by the client's owner"})
	default:
		cdk.Trapf(ic, "ws_close: %s is neither the gateway nor the owner of client %d", caller, id)
	}
	ic.Reply([]byte(replyUnit))
}

// ws_get_messages: (nat64, opt nat64) -> (CertMessages) query. The caller's queued messages from
// nonce on, with one certificate and one witness for the batch. The opt is an icws gateway's
// reply budget (docs/PROTOCOL.md §13.3); seed gateways leave it out and get MaxBatch messages.
func (s *Server) wsGetMessages(ic cdk.System) {
	var nonce uint64
	var budget *uint64
	args(ic, &nonce, &budget)
	var out protocol.CertMessages
	out.Messages = []protocol.Message{}
	out.Cert, out.Tree = []byte{}, []byte{}
	g := s.gateways[ic.Caller()]
	if g == nil || g.queued == 0 {
		reply(ic, out)
		return
	}
	var batch []*entry
	if budget != nil {
		batch = s.sizedBatch(g, nonce, int(min(*budget, protocol.PollBytes)))
	} else {
		batch, _ = s.batch(g, nonce)
	}
	if len(batch) == 0 {
		reply(ic, out)
		return
	}
	out.Messages = make([]protocol.Message, len(batch))
	for i, e := range batch {
		out.Messages[i] = protocol.Message{ClientID: e.client, Key: e.key, Val: e.val}
	}
	out.Cert, out.Tree = s.certifiedBatch(ic, batch)
	reply(ic, out)
}

// batch returns the messages of g's queue from nonce on, in key order, at most MaxBatch and
// MaxBatchBytes of them (but at least one), and whether more follow in the queue.
func (s *Server) batch(g *gateway, nonce uint64) (batch []*entry, more bool) {
	from := string(protocol.AppendKey(make([]byte, 0, len(g.prefix)+protocol.NonceDigits), g.text, nonce))
	size := 0
	s.tree.Ascend(from, func(key string, _ []byte) bool {
		if len(key) != len(from) || key[:len(g.prefix)] != g.prefix {
			return false
		}
		e := s.entries[key]
		if len(batch) == s.cfg.MaxBatch || len(batch) > 0 && size+len(e.val) > s.cfg.MaxBatchBytes {
			more = true
			return false
		}
		size += len(e.val)
		batch = append(batch, e)
		return true
	})
	return batch, more
}

// sizedBatch returns the messages of g's queue from nonce on, in key order, at most
// protocol.MaxSizedBatch of them and as many as fit in budget bytes by protocol.SizedPollCost
// (but at least one): an icws gateway's sized poll.
func (s *Server) sizedBatch(g *gateway, nonce uint64, budget int) (batch []*entry) {
	from := string(protocol.AppendKey(make([]byte, 0, len(g.prefix)+protocol.NonceDigits), g.text, nonce))
	size := 0
	s.tree.Ascend(from, func(key string, _ []byte) bool {
		if len(key) != len(from) || key[:len(g.prefix)] != g.prefix {
			return false
		}
		e := s.entries[key]
		cost := protocol.SizedPollCost(len(key), len(e.val))
		if len(batch) == protocol.MaxSizedBatch || len(batch) > 0 && size+cost > budget {
			return false
		}
		size += cost
		batch = append(batch, e)
		return true
	})
	return batch
}

// certifiedBatch returns the data certificate and the witness, the self-describe CBOR of
// labeled("websocket", range witness), of a batch of at least one message. It traps outside a
// query, where there is no certificate.
func (s *Server) certifiedBatch(ic cdk.System, batch []*entry) (cert, tree []byte) {
	cert = ic.DataCertificate()
	if cert == nil {
		cdk.Trapf(ic, "%s: no data certificate; call it as a query", ic.MethodName())
	}
	first, last := batch[0].key, batch[len(batch)-1].key
	w := hashtree.Labeled{Label: []byte(Label), Tree: s.tree.WitnessRange(first, last)}
	tree = hashtree.AppendCBOR(append(make([]byte, 0, 3+64*len(batch)+len(first)*len(batch)), selfDescribe...), w)
	return cert, tree
}

// selfDescribe is the CBOR self-describe tag 55799 that precedes the witness.
const selfDescribe = "\xd9\xd9\xf7"

// ws_stats: () -> (Stats) query. Aggregate counters; public, they describe no client.
func (s *Server) wsStats(ic cdk.System) {
	reply(ic, s.Stats())
}
