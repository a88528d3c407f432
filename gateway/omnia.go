package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/protocol/omnia"
)

// The production protocol (Omnia's ic-websocket-js 0.5, ic-websocket-cdk 0.4). Its flow at this
// gateway, after the upgrade of a connection to the Omnia endpoint (OmniaHandler):
//
//	gateway → client  handshake {gateway_principal}                    (written first, through the queue)
//	client → gateway  {envelope: signed call of ws_open}               relayed as is to /api/v3 call
//	                  the answer: Ok → open; Err, reject, refused → Close with a code and the reason
//	client → gateway  {envelope: signed call of ws_message}            relayed as is, in order, one at a time
//	poller            ws_get_messages(nonce) with the gateway's identity, one per canister
//	gateway → client  {key, content, cert, tree}                       per message, by ClientKey
//	end               ws_close({client_key}) with the gateway's identity, retried
//
// The client signs every call with its own identity; the gateway can drop or delay them, never
// forge them, and its own identity only polls and closes.

// Method names of the Omnia interface.
const (
	omniaOpen        = "ws_open"
	omniaMessage     = "ws_message"
	omniaClose       = "ws_close"
	omniaGetMessages = "ws_get_messages"
)

// omniaAPI is what the Omnia protocol needs from the IC beyond canisterAPI: relaying a client's
// signed envelope, and raw Candid calls and queries with the gateway's identity. agentAPI has it.
type omniaAPI interface {
	submitSigned(ctx context.Context, canister principal.Principal, id requestid.ID, body []byte) ([]byte, error)
	callRaw(ctx context.Context, canister principal.Principal, method string, arg []byte) ([]byte, error)
	queryRaw(ctx context.Context, canister principal.Principal, method string, arg []byte) ([]byte, error)
}

func (x agentAPI) submitSigned(ctx context.Context, canister principal.Principal, id requestid.ID, body []byte) ([]byte, error) {
	return x.a.SubmitSigned(ctx, canister, id, body)
}

func (x agentAPI) callRaw(ctx context.Context, canister principal.Principal, method string, arg []byte) ([]byte, error) {
	return x.a.CallRaw(ctx, canister, method, arg)
}

func (x agentAPI) queryRaw(ctx context.Context, canister principal.Principal, method string, arg []byte) ([]byte, error) {
	return x.a.QueryRaw(ctx, canister, method, arg)
}

// OmniaHandler returns the handler of the Omnia endpoint: at every path, the production IC
// WebSocket protocol of ic-websocket-js 0.5 and ic-websocket-cdk 0.4 canisters, with the same
// limits, metrics and shutdown as the seed protocol's endpoint. Serve it on an address of its own
// (icws gateway --omnia-listen), so that an app's gateway URL needs no path; Handler also serves
// it under /omnia. A client's protocol is thus fixed before the upgrade: Omnia's gateway speaks
// first, so the first frame cannot tell them apart, and ic-websocket-js offers no subprotocol.
func (g *Gateway) OmniaHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.serveWS(w, r, omniaWire{}) })
}

// omniaWire is the Omnia protocol.
type omniaWire struct{}

func (omniaWire) String() string { return "omnia" }

// open greets the client with the handshake, reads its ws_open envelope, relays it and waits for
// the canister's answer.
func (omniaWire) open(c *conn) bool {
	g := c.g
	if g.oapi == nil {
		c.closeWith(protocol.CloseInternalError, "this gateway cannot relay signed calls")
		return false
	}
	// The handshake goes through the send queue, so the writer goroutine stays the only writer.
	c.enqueue(rawFrame(omnia.Handshake(g.principal)))
	c.ws.SetReadDeadline(time.Now().Add(g.cfg.HandshakeTimeout))
	typ, data, err := c.readFrame()
	if err != nil {
		c.readFailed(err, true)
		return false
	}
	g.m.framesIn.inc()
	g.m.bytesIn.add(uint64(len(data)))
	if typ != websocket.BinaryMessage {
		c.refuse(protocol.CloseBadFirstMessage, "a text frame; send {envelope: <signed ws_open call>} as a binary frame")
		return false
	}
	f, args, err := parseOmniaOpen(data, g.principal)
	if err != nil {
		c.refuse(protocol.CloseBadFirstMessage, err.Error())
		return false
	}
	c.canister, c.clientPrincipal, c.clientID = f.CanisterID(), f.Sender(), args.ClientNonce

	ctx, cancel := context.WithTimeout(g.hardCtx, g.cfg.CallTimeout)
	defer cancel()
	h := g.hubFor(omniaWire{}, c.canister)
	c.hub = h
	if closed := h.add(c); closed != nil {
		select {
		case <-closed:
		case <-ctx.Done():
			c.refuseCall(ctx.Err(), "ws_close of the previous connection")
			return false
		}
	}
	start := g.cfg.Clock()
	reply, err := g.oapi.submitSigned(ctx, c.canister, f.Request.ID, f.Body)
	if err == nil {
		err = omnia.DecodeResult(reply)
	}
	var ce *omnia.CanisterError
	var he *agent.HTTPError
	switch {
	case err == nil || errors.Is(err, agent.ErrOutcomeUnknown):
		// Accepted without an answer in time: the canister's OpenMessage, polled like any message,
		// tells the client; ic-websocket-js gives up after its own open timeout.
		g.endCall(methodOpen, start, outTrue, nil)
		g.m.clients.inc()
		h.poke()
		c.opened = true
	case errors.As(err, &ce):
		g.endCall(methodOpen, start, outFalse, err)
		c.refuse(protocol.CloseOpenRefused, "ws_open: "+ce.Text)
	case errors.As(err, &he) && he.StatusCode/100 == 4 && !unknownCanister(err):
		// Refused before execution: a bad or unsupported signature, an expired ingress expiry.
		g.endCall(methodOpen, start, outReject, err)
		c.refuse(protocol.CloseOpenRefused, fmt.Sprintf("the IC refused the ws_open call (HTTP %d): %s", he.StatusCode, he.Body))
	default:
		o := outcomeOf(err)
		g.endCall(methodOpen, start, o, err)
		if o == outFailed {
			c.openUnknown = true // it may have run; ws_close will settle it
		}
		c.refuseCall(err, "ws_open")
	}
	return c.opened
}

// parseOmniaOpen decodes the first frame of an Omnia client: a signed call of ws_open whose
// arguments name this gateway, from a principal that is not anonymous.
func parseOmniaOpen(data []byte, gateway principal.Principal) (omnia.ClientFrame, omnia.OpenArgs, error) {
	f, err := omnia.DecodeClientFrame(data)
	if err != nil {
		return f, omnia.OpenArgs{}, err
	}
	if f.Method() != omniaOpen {
		return f, omnia.OpenArgs{}, fmt.Errorf("the first call is of %q; open with a call of ws_open", truncate(f.Method(), 40))
	}
	if f.Sender().IsAnonymous() {
		return f, omnia.OpenArgs{}, errors.New("ws_open is signed by the anonymous principal; sign it with an identity")
	}
	args, err := omnia.DecodeOpenArgs(f.Arg())
	if err != nil {
		return f, args, fmt.Errorf("ws_open's argument is not CanisterWsOpenArguments: %w", err)
	}
	if !args.GatewayPrincipal.Equal(gateway) {
		return f, args, fmt.Errorf("ws_open names gateway %s; this gateway is %s (the handshake says so)", args.GatewayPrincipal, gateway)
	}
	return f, args, nil
}

// check accepts a signed call of ws_message from the open client to its canister and queues its
// request id followed by the envelope.
func (omniaWire) check(c *conn, data []byte) ([]byte, error) {
	f, err := omnia.DecodeClientFrame(data)
	if err != nil {
		return nil, err
	}
	switch {
	case f.Method() != omniaMessage:
		return nil, fmt.Errorf("a call of %q; an open client sends only ws_message calls", truncate(f.Method(), 40))
	case !f.CanisterID().Equal(c.canister):
		return nil, fmt.Errorf("a call to canister %s on a connection to %s", f.CanisterID(), c.canister)
	case !f.Sender().Equal(c.clientPrincipal):
		return nil, fmt.Errorf("a call signed by %s on the connection of %s", f.Sender(), c.clientPrincipal)
	}
	q := make([]byte, 0, len(f.Request.ID)+len(f.Body))
	q = append(q, f.Request.ID[:]...)
	return append(q, f.Body...), nil
}

// relay submits one ws_message envelope and reads the canister's answer. The same signed bytes
// may be submitted again after a transport failure: the IC runs a request id once.
func (omniaWire) relay(c *conn, queued []byte) {
	g := c.g
	var id requestid.ID
	copy(id[:], queued)
	body := queued[len(id):]
	deadline := time.Now().Add(g.cfg.CallTimeout)
	if d := c.drainBy.Load(); d != 0 && d < deadline.UnixNano() {
		deadline = time.Unix(0, d)
	}
	ctx, cancel := context.WithDeadline(g.hardCtx, deadline)
	defer cancel()
	bo := backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
	for {
		start := g.cfg.Clock()
		reply, err := g.oapi.submitSigned(ctx, c.canister, id, body)
		if err == nil {
			err = omnia.DecodeResult(reply)
		}
		var ce *omnia.CanisterError
		var he *agent.HTTPError
		switch {
		case err == nil || errors.Is(err, agent.ErrOutcomeUnknown):
			g.endCall(methodMessage, start, outTrue, nil)
			c.hub.poke()
			return
		case errors.As(err, &ce):
			// A wrong sequence number, an invalid service message, a closed client: the
			// canister sends the client a CloseMessage if it ended the session.
			g.endCall(methodMessage, start, outFalse, err)
			c.hub.poke()
			c.badMessage("ws_message: " + ce.Text)
			return
		case errors.As(err, &he) && !he.Temporary():
			g.endCall(methodMessage, start, outReject, err)
			c.badMessage(fmt.Sprintf("the IC refused the ws_message call (HTTP %d): %s", he.StatusCode, he.Body))
			return
		}
		if _, isReject := rejectOf(err); isReject && !retryable(err) {
			g.endCall(methodMessage, start, outReject, err)
			c.badMessage("ws_message rejected: " + err.Error())
			return
		}
		if !c.retryMessage(ctx, start, err, &bo) {
			return
		}
	}
}

// closeOnce calls ws_close({client_key}) with the gateway's identity; an Err result is the
// canister's final answer (for instance, it already removed the client).
func (omniaWire) closeOnce(ctx context.Context, c *conn) error {
	arg := omnia.EncodeCloseArgs(omnia.CloseArgs{Key: omnia.ClientKey{Principal: c.clientPrincipal, Nonce: c.clientID}})
	reply, err := c.g.oapi.callRaw(ctx, c.canister, omniaClose, arg)
	if err != nil {
		return err
	}
	return omnia.DecodeResult(reply)
}

func (omniaWire) forget(*conn) {}

// fetch queries ws_get_messages(cursor). The batch's keys are checked by checkBatch like the
// seed's (the key format is the same); more is !is_end_of_queue.
func (omniaWire) fetch(ctx context.Context, g *Gateway, canister principal.Principal, cursor uint64) (*protocol.CertMessages, []principal.Principal, bool, error) {
	reply, err := g.oapi.queryRaw(ctx, canister, omniaGetMessages, omnia.EncodeGetMessagesArgs(omnia.GetMessagesArgs{Nonce: cursor}))
	if err != nil {
		return nil, nil, false, err
	}
	cm, err := omnia.DecodeGetMessagesResult(reply)
	if err != nil {
		return nil, nil, false, err
	}
	res := &protocol.CertMessages{Messages: make([]protocol.Message, len(cm.Messages)), Cert: cm.Cert, Tree: cm.Tree}
	to := make([]principal.Principal, len(cm.Messages))
	for i, m := range cm.Messages {
		res.Messages[i] = protocol.Message{ClientID: m.Key.Nonce, Key: m.MessageKey, Val: m.Content}
		to[i] = m.Key.Principal
	}
	return res, to, !cm.IsEndOfQueue && len(cm.Messages) > 0, nil
}

// last is false: on a CloseMessage ic-websocket-js closes the socket itself, with 4000 or 4001.
func (omniaWire) last([]byte) bool { return false }
