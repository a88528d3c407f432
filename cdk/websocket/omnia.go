package websocket

import (
	"fmt"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol/omnia"
)

// This file is ProtocolOmnia: the four methods of an ic-websocket-cdk 0.4 canister, with that
// library's semantics and error texts, on the server's clients, gateway queues, certified map,
// journal and timer. Differences from ic-websocket-cdk (docs/PROTOCOL.md §11.8), all hardening:
// the queues and clients are bounded (MaxQueuePerGateway, MaxBatchBytes, MaxClients) and count
// their drops; a client closed by its gateway leaves no queued messages behind, and a
// KeepAliveMessage deletes what it acknowledges; a gateway that appears (again) starts its keys
// above every nonce ever used, so a poller that kept its cursor misses nothing; anonymous and
// management gateway principals are refused; an upgrade with connections fails instead of
// losing them.

// ClientOf returns the id of the open connection of client principal p (ProtocolOmnia).
func (s *Server) ClientOf(p principal.Principal) (uint64, bool) {
	c := s.byPrincipal[p]
	if c == nil {
		return 0, false
	}
	return c.id, true
}

// ClientKey returns the ClientKey of client (ProtocolOmnia).
func (s *Server) ClientKey(client uint64) (omnia.ClientKey, bool) {
	c := s.clients[client]
	if c == nil || !s.omnia() {
		return omnia.ClientKey{}, false
	}
	return omnia.ClientKey{Principal: c.owner, Nonce: c.nonce}, true
}

// omniaArgs decodes a method's argument with decode, trapping on bad Candid as a Rust canister
// does.
func omniaArgs[T any](ic cdk.System, decode func([]byte) (T, error)) T {
	v, err := decode(ic.Arg())
	if err != nil {
		cdk.Trapf(ic, "%s: bad argument: %v", ic.MethodName(), err)
	}
	return v
}

// omniaReply replies Ok for a nil err, else Err with its text.
func omniaReply(ic cdk.System, err error) { ic.Reply(omnia.EncodeResult(err)) }

func omniaErr(format string, args ...any) error {
	return &omnia.CanisterError{Text: fmt.Sprintf(format, args...)}
}

// ws_open: (CanisterWsOpenArguments) -> (CanisterWsOpenResult), called by the client itself (its
// envelope relayed by the gateway it names). Opens connection (caller, client_nonce) on that
// gateway, replacing the caller's older connection, and queues the OpenMessage.
func (s *Server) omniaOpen(ic cdk.System) {
	a := omniaArgs(ic, omnia.DecodeOpenArgs)
	caller := ic.Caller()
	if caller.IsAnonymous() {
		omniaReply(ic, omniaErr("Anonymous principal is not allowed"))
		return
	}
	if a.GatewayPrincipal.IsAnonymous() || a.GatewayPrincipal.Equal(principal.Management()) {
		omniaReply(ic, omniaErr("Gateway principal %s is not a gateway", a.GatewayPrincipal))
		return
	}
	key := omnia.ClientKey{Principal: caller, Nonce: a.ClientNonce}
	old := s.byPrincipal[caller]
	switch {
	case old != nil && old.nonce == a.ClientNonce:
		omniaReply(ic, omniaErr("Client with key %s already has an open connection", key))
		return
	case old == nil && len(s.clients) >= s.cfg.MaxClients:
		omniaReply(ic, omniaErr("Too many clients (at most %d)", s.cfg.MaxClients))
		return
	case old != nil:
		// One connection per principal: the older one goes, without a close notice, as in
		// ic-websocket-cdk; what is queued for it stays until it expires.
		s.close(ic, old, closing{})
	}
	now := ic.Time()
	g := s.gatewayFor(a.GatewayPrincipal)
	c := &client{
		id:         s.st.nextClientID,
		owner:      caller,
		nonce:      a.ClientNonce,
		registered: now,
		gw:         g,
		outSeq:     1,
		inSeq:      1,
		lastIn:     now,
		lastBeat:   now,
		gen:        s.gen,
	}
	s.st.nextClientID++
	s.putClient(c)
	s.putPrincipal(c)
	s.saveGateway(g)
	g.bound++
	s.st.open++
	s.enqueueOmniaService(ic, c, omnia.ServiceMessage{Open: &omnia.OpenMessage{Key: key}})
	s.ensureTimer(ic)
	if s.cfg.OnOpen != nil {
		s.cfg.OnOpen(ic, c.id)
	}
	omniaReply(ic, nil)
}

// ws_close: (CanisterWsCloseArguments) -> (CanisterWsCloseResult), called by the client's
// gateway when the client's socket ended.
func (s *Server) omniaClose(ic cdk.System) {
	a := omniaArgs(ic, omnia.DecodeCloseArgs)
	gw := ic.Caller()
	if s.gateways[gw] == nil {
		omniaReply(ic, omniaErr("Gateway with principal %s is not registered", gw))
		return
	}
	c := s.byPrincipal[a.Key.Principal]
	if c == nil || c.nonce != a.Key.Nonce {
		omniaReply(ic, omniaErr("Client with key %s doesn't have an open connection", a.Key))
		return
	}
	if !c.gw.id.Equal(gw) {
		omniaReply(ic, omniaErr("Client with key %s was not registered to gateway %s", a.Key, gw))
		return
	}
	s.close(ic, c, closing{gone: true})
	omniaReply(ic, nil)
}

// ws_message: (CanisterWsMessageArguments, opt AppMessage) -> (CanisterWsMessageResult), called
// by the client itself. Checks the caller's connection, the message's key and its sequence
// number (a wrong one closes the connection with WrongSequenceNumber), then hands an
// application message to OnMessage or takes a KeepAliveMessage.
func (s *Server) omniaMessage(ic cdk.System) {
	a := omniaArgs(ic, omnia.DecodeMessageArgs)
	m := a.Msg
	caller := ic.Caller()
	c := s.byPrincipal[caller]
	if c == nil {
		omniaReply(ic, omniaErr("Client with principal %s doesn't have an open connection", caller))
		return
	}
	if !m.Key.Equal(omnia.ClientKey{Principal: c.owner, Nonce: c.nonce}) {
		s.st.stats.Rejected++
		omniaReply(ic, omniaErr("Client with principal %s has a different key than the one used in the message", m.Key.Principal))
		return
	}
	if m.SequenceNum != c.inSeq {
		s.st.stats.Rejected++
		want := c.inSeq
		s.close(ic, c, closing{omnia: omnia.ReasonWrongSequenceNumber})
		omniaReply(ic, omniaErr("Expected incoming sequence number %d but got %d", want, m.SequenceNum))
		return
	}
	s.saveClient(c)
	c.inSeq++
	c.lastIn = ic.Time()
	s.st.stats.Received++
	if !m.IsServiceMessage {
		if s.cfg.OnMessage != nil {
			s.cfg.OnMessage(ic, c.id, m.Content)
		}
		omniaReply(ic, nil)
		return
	}
	sm, err := omnia.DecodeServiceMessage(m.Content)
	if err != nil {
		omniaReply(ic, omniaErr("Error decoding service message content: %v", err))
		return
	}
	if sm.KeepAlive == nil {
		omniaReply(ic, omniaErr("Invalid service message"))
		return
	}
	// The client is alive, and it has verified every message up to the one it names: those need
	// not be kept.
	c.waitSince = 0
	seen := sm.KeepAlive.LastIncomingSequenceNum
	c.queue.each(func(e *entry) {
		if e.seq <= seen {
			s.deleteEntry(e)
			s.st.stats.Acknowledged++
		}
	})
	s.certify(ic)
	omniaReply(ic, nil)
}

// ws_get_messages: (CanisterWsGetMessagesArguments) -> (CanisterWsGetMessagesResult) query. The
// caller's queue from nonce on, with one certificate and one witness for the batch; an empty Ok
// for a caller that is no gateway.
func (s *Server) omniaGetMessages(ic cdk.System) {
	a := omniaArgs(ic, omnia.DecodeGetMessagesArgs)
	out := omnia.CertifiedMessages{Messages: []omnia.OutputMessage{}, Cert: []byte{}, Tree: []byte{}, IsEndOfQueue: true}
	if g := s.gateways[ic.Caller()]; g != nil && g.queued > 0 {
		batch, more := s.batch(g, a.Nonce)
		if len(batch) > 0 {
			out.Messages = make([]omnia.OutputMessage, len(batch))
			for i, e := range batch {
				out.Messages[i] = omnia.OutputMessage{Key: e.ckey, MessageKey: e.key, Content: e.val}
			}
			out.Cert, out.Tree = s.certifiedBatch(ic, batch)
			out.IsEndOfQueue = !more
		}
	}
	b, err := omnia.EncodeGetMessagesResult(out)
	if err != nil {
		cdk.Trapf(ic, "ws_get_messages: %v", err)
	}
	ic.Reply(b)
}

// omniaTick is the timer's work for open client c in ProtocolOmnia: an AckMessage every
// HeartbeatInterval, and the close of a client that sent no KeepAliveMessage within IdleTimeout
// of the first AckMessage it left unanswered (however often acks are sent).
func (s *Server) omniaTick(ic cdk.System, c *client, now uint64) {
	every, deadline := ns(s.cfg.HeartbeatInterval), ns(s.cfg.IdleTimeout)
	if every == 0 {
		return
	}
	older := func(t, d uint64) bool { return now > t && now-t > d }
	switch {
	case c.waitSince != 0 && older(c.waitSince, deadline):
		s.close(ic, c, closing{omnia: omnia.ReasonKeepAliveTimeout})
	case now < c.lastBeat || now-c.lastBeat >= every:
		s.saveClient(c)
		c.lastBeat = now
		if c.waitSince == 0 {
			c.waitSince = max(now, 1)
		}
		s.enqueueOmniaService(ic, c, omnia.ServiceMessage{Ack: &omnia.AckMessage{LastIncomingSequenceNum: c.inSeq - 1}})
	}
}
