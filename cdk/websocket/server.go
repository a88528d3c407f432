package websocket

import (
	"errors"
	"fmt"
	"slices"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/cdk/certmap"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/protocol/omnia"
)

// Errors of Send and Close.
var (
	// ErrUnknownClient: no client has this id (never registered, or closed).
	ErrUnknownClient = errors.New("websocket: unknown client")
	// ErrNotOpen: the client is registered but no gateway opened it.
	ErrNotOpen = errors.New("websocket: client is not open")
	// ErrPayloadTooBig: the payload is larger than Config.MaxPayload.
	ErrPayloadTooBig = errors.New("websocket: payload too big")
)

// Server is the WebSocket state of one canister: registered clients, the gateways they are bound
// to, the queues of outgoing messages and the certified map over them. Build it with New, add
// its methods to a canister with Register, and send with Send from any update or timer method.
//
// A Server is used by one canister's messages, one at a time (queries may run concurrently with
// each other; they only read).
type Server struct {
	cfg      Config
	clients  map[uint64]*client
	gateways map[principal.Principal]*gateway
	entries  map[string]*entry
	tree     certmap.Map
	// byPrincipal holds, in ProtocolOmnia, the one connection of each client principal.
	byPrincipal map[principal.Principal]*client
	// channels are the certified channels by name (channel.go); never forgotten.
	channels map[string]*channel
	st       state

	// Certification of the running message (see Batch): batching says the message certifies
	// when it returns, uncertified that the map changed since it last did.
	batching    bool
	uncertified bool

	// Journal of the open transaction (see journal.go).
	tx    bool
	gen   uint64
	undo  []func()
	saved state
}

// state is the server's scalar state, copied whole at Begin.
type state struct {
	nextClientID uint64
	nonceFloor   uint64 // every message nonce ever used is below it
	timerAt      uint64 // the global timer the server set, 0 if none
	open         uint64 // clients bound to a gateway
	detached     uint64 // of those, the detached ones
	fifo         list   // every queued message, oldest first
	stats        protocol.Stats
}

type client struct {
	id         uint64
	key        []byte // Ed25519 public key, 32 bytes
	owner      principal.Principal
	registered uint64 // IC time of ws_register
	gw         *gateway
	outSeq     uint64   // next sequence number canister → client
	inSeq      uint64   // next sequence number expected client → canister
	acked      uint64   // the highest ack of the client's keep-alives: it has every message below
	ackSent    uint64   // inSeq as of the last service message queued for the client
	openNonce  uint64   // open_nonce of the last first message accepted, 0 if none had one
	keepalive  bool     // the client sent a keep-alive: it gets heartbeats and can time out
	lastIn     uint64   // IC time of ws_open or of the last accepted client message
	lastBeat   uint64   // IC time of the last heartbeat sent (ProtocolOmnia: of ws_open or the last AckMessage)
	detached   uint64   // IC time its gateway called ws_close (see Config.DetachGrace), 0 while attached
	queue      list     // its queued messages
	nonce      uint64   // ProtocolOmnia: the client_nonce of its ClientKey (the principal is owner)
	waitSince  uint64   // ProtocolOmnia: IC time of the first AckMessage no KeepAliveMessage followed, 0 if none
	channels   []string // the channels it is subscribed to, sorted; rebuilt on change, never in place
	gen        uint64
}

type gateway struct {
	id        principal.Principal
	text      string // principal text
	prefix    string // text + "_"
	nextNonce uint64
	queued    int // messages in its queue
	bound     int // clients bound to it
	gen       uint64
}

// New returns a server with the given configuration.
func New(cfg Config) *Server {
	s := &Server{
		cfg:      cfg.withDefaults(),
		clients:  make(map[uint64]*client),
		gateways: make(map[principal.Principal]*gateway),
		entries:  make(map[string]*entry),
		st:       state{nextClientID: FirstClientID, nonceFloor: FirstNonce},
	}
	if s.cfg.Protocol == ProtocolOmnia {
		s.byPrincipal = make(map[principal.Principal]*client)
		s.st.nonceFloor = FirstOmniaNonce
	}
	return s
}

// omnia reports whether the server speaks ProtocolOmnia.
func (s *Server) omnia() bool { return s.cfg.Protocol == ProtocolOmnia }

// Register adds the ws_* methods to c and makes the server c's Timer and State, and its
// PreUpgrade and PostUpgrade, which keep the whole server (clients, queues, certified map) across
// an upgrade (MarshalStable, UnmarshalStable, Resume). It panics if c already has one of those
// methods, a Timer, a State or upgrade hooks (see Config.OnTick for periodic work).
func (s *Server) Register(c *cdk.Canister) {
	if c.Updates == nil {
		c.Updates = make(map[string]cdk.Method)
	}
	if c.Queries == nil {
		c.Queries = make(map[string]cdk.Method)
	}
	add := func(m map[string]cdk.Method, name string, f cdk.Method) {
		if _, ok := m[name]; ok {
			panic("websocket: the canister already has a method " + name)
		}
		m[name] = f
	}
	candidText := protocol.CandidInterface
	if s.omnia() {
		add(c.Updates, omnia.MethodOpen, s.Batch(s.omniaOpen))
		add(c.Updates, omnia.MethodClose, s.Batch(s.omniaClose))
		add(c.Queries, omnia.MethodGetMessages, s.omniaGetMessages)
		add(c.Updates, omnia.MethodMessage, s.Batch(s.omniaMessage))
		candidText = omnia.CandidInterface(s.cfg.AppMessage)
	} else {
		add(c.Updates, protocol.MethodRegister, s.Batch(s.wsRegister))
		add(c.Queries, protocol.MethodGetClientKey, s.wsGetClientKey)
		add(c.Updates, protocol.MethodOpen, s.Batch(s.wsOpen))
		add(c.Updates, protocol.MethodClose, s.Batch(s.wsClose))
		add(c.Queries, protocol.MethodGetMessages, s.wsGetMessages)
		add(c.Updates, protocol.MethodMessage, s.Batch(s.wsMessage))
		add(c.Queries, protocol.MethodStats, s.wsStats)
		add(c.Queries, protocol.MethodGetChannelMessages, s.wsGetChannelMessages)
		candidText = channelCandid(candidText)
	}
	if c.Timer != nil || c.State != nil || c.PreUpgrade != nil || c.PostUpgrade != nil {
		panic("websocket: the canister already has a Timer, State or upgrade hooks")
	}
	c.Timer = s.Batch(s.Timer)
	c.State = s
	c.PreUpgrade = s.preUpgrade
	c.PostUpgrade = s.postUpgrade
	if c.Candid == "" {
		c.Candid = candidText
	}
}

// preUpgrade is the canister's PreUpgrade: the server's stable encoding.
func (s *Server) preUpgrade(ic cdk.System) []byte {
	b, err := s.MarshalStable()
	if err != nil {
		cdk.Trapf(ic, "websocket: pre_upgrade: %v", err)
	}
	return b
}

// postUpgrade is the canister's PostUpgrade: it restores what preUpgrade saved (nothing saved is
// a fresh server, as after an install) and resumes.
func (s *Server) postUpgrade(ic cdk.System, saved []byte) {
	if saved == nil {
		return
	}
	if err := s.UnmarshalStable(saved); err != nil {
		cdk.Trapf(ic, "websocket: post_upgrade: %v (the old code saved state this code cannot read; upgrade through a version that can)", err)
	}
	s.Resume(ic)
}

// Batch wraps an update, init or timer method of the application so that the Sends and Closes
// it makes certify the queue once, when it returns, instead of once each: a broadcast to n clients
// then hashes the certified map's upper levels once, not n times. The ws_* methods and the Timer
// that Register installs are wrapped already, so Sends from OnOpen, OnMessage, OnClose and OnTick
// are batched. Outside a wrapped method, Send and Close certify at once. A trap inside m leaves
// the certified data as it was, like every other change of the trapped message.
func (s *Server) Batch(m cdk.Method) cdk.Method {
	return func(ic cdk.System) {
		if s.batching { // already inside a wrapped method
			m(ic)
			return
		}
		s.batching = true
		defer func() { s.batching, s.uncertified = false, false }()
		m(ic)
		if s.uncertified {
			s.setCertifiedData(ic)
		}
	}
}

// Send queues payload for client and certifies it: at the end of the message inside a ws_*
// method, the Timer or a method wrapped by Batch, else at once. The gateway the client is bound
// to fetches it with ws_get_messages. Send fails if the client is unknown or not open, or the
// payload is too big; it must run in an update, init or timer message.
func (s *Server) Send(ic cdk.System, client uint64, payload []byte) error {
	c := s.clients[client]
	if c == nil {
		return fmt.Errorf("%w: %d", ErrUnknownClient, client)
	}
	if c.gw == nil {
		return fmt.Errorf("%w: %d", ErrNotOpen, client)
	}
	if len(payload) > s.cfg.MaxPayload {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrPayloadTooBig, len(payload), s.cfg.MaxPayload)
	}
	if s.omnia() {
		s.enqueueOmnia(ic, c, payload, false)
		return nil
	}
	s.enqueue(ic, c, &protocol.WebsocketMessage{Message: payload})
	return nil
}

// Close closes client from the canister's side: what is queued for it stays and is followed by a
// service message that tells the gateway and the client why (reason; in ProtocolOmnia the
// CloseMessage ClosedByApplication, and reason is only logged); then its state is deleted and
// OnClose runs if it was open.
func (s *Server) Close(ic cdk.System, client uint64, reason string) error {
	c := s.clients[client]
	if c == nil {
		return fmt.Errorf("%w: %d", ErrUnknownClient, client)
	}
	if reason == "" {
		reason = "closed by the canister"
	}
	if s.omnia() {
		ic.Print(fmt.Sprintf("websocket: closing client %d (%s): %s", c.id, c.owner, reason))
		s.close(ic, c, closing{omnia: omnia.ReasonClosedByApplication})
		return nil
	}
	s.close(ic, c, closing{text: reason})
	return nil
}

// closing says how a client is closed.
type closing struct {
	// gone says the client is gone (its gateway reported the connection ended with detaching
	// off, its detach grace passed, or it said goodbye): its queued messages are deleted.
	// Otherwise they stay, followed by a close notice, when there is one.
	gone bool
	// text is the seed close notice's reason.
	text string
	// omnia is the ProtocolOmnia CloseMessage's reason; 0 sends none.
	omnia omnia.CloseReason
}

// close deletes c as why says.
func (s *Server) close(ic cdk.System, c *client, why closing) {
	wasOpen := c.gw != nil
	s.attach(c)
	if wasOpen {
		switch {
		case why.gone:
			c.queue.each(func(e *entry) {
				s.deleteEntry(e)
				s.st.stats.DroppedClosed++
			})
		case s.omnia():
			if why.omnia != 0 {
				s.enqueueOmniaService(ic, c, omnia.ServiceMessage{Close: &omnia.CloseMessage{Reason: why.omnia}})
			}
		default:
			s.enqueueService(ic, c, why.text)
		}
		g := c.gw
		s.saveGateway(g)
		g.bound--
		s.st.open--
		s.saveClient(c)
		c.gw = nil
		s.maybeDropGateway(g)
	}
	s.unsubscribeAll(c)
	s.deleteClient(c)
	if s.byPrincipal != nil && s.byPrincipal[c.owner] == c {
		s.deletePrincipal(c)
	}
	s.certify(ic)
	if wasOpen && s.cfg.OnClose != nil {
		s.cfg.OnClose(ic, c.id)
	}
}

// detach marks c, open, as detached from its gateway at time now: it stays open and bound, its
// queue kept, until it reopens or Config.DetachGrace passes.
func (s *Server) detach(c *client, now uint64) {
	if c.detached != 0 {
		return
	}
	s.saveClient(c)
	c.detached = max(now, 1)
	s.st.detached++
}

// attach clears c's detached mark, if any.
func (s *Server) attach(c *client) {
	if c.detached == 0 {
		return
	}
	s.saveClient(c)
	c.detached = 0
	s.st.detached--
}

// IsOpen reports whether client is open (registered and bound to a gateway), detached or not:
// Send to a detached client queues for it.
func (s *Server) IsOpen(client uint64) bool {
	c := s.clients[client]
	return c != nil && c.gw != nil
}

// Owner returns the principal that registered client (in ProtocolOmnia: the client's own).
func (s *Server) Owner(client uint64) (principal.Principal, bool) {
	c := s.clients[client]
	if c == nil {
		return principal.Principal{}, false
	}
	return c.owner, true
}

// Clients returns the ids of the open clients in increasing order.
func (s *Server) Clients() []uint64 {
	ids := make([]uint64, 0, s.st.open)
	for id, c := range s.clients {
		if c.gw != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Stats returns the server's counters.
func (s *Server) Stats() protocol.Stats {
	st := s.st.stats
	st.Clients = uint64(len(s.clients))
	st.OpenClients = s.st.open
	st.DetachedClients = s.st.detached
	st.Gateways = uint64(len(s.gateways))
	st.Queued = uint64(len(s.entries))
	return st
}

// gatewayFor returns the record of gateway p, creating it.
func (s *Server) gatewayFor(p principal.Principal) *gateway {
	if g := s.gateways[p]; g != nil {
		return g
	}
	text := p.String()
	g := &gateway{id: p, text: text, prefix: text + "_", nextNonce: s.st.nonceFloor, gen: s.gen}
	s.putGateway(g)
	return g
}

// ensureTimer makes sure the global timer is set. A setting in the past counts as unset: a
// tick that trapped left it so, and the host has deactivated the timer.
func (s *Server) ensureTimer(ic cdk.System) {
	if now := ic.Time(); s.st.timerAt <= now {
		at := now + ns(s.cfg.TickInterval)
		ic.SetGlobalTimer(at)
		s.st.timerAt = at
	}
}
