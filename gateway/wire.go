package gateway

import (
	"context"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// wire is one protocol's part of a connection and of a canister's poller: how a client opens,
// what its frames are, which canister methods relay them and how polled messages are fetched.
// Everything else is shared by the protocols — the socket, the reader, writer and caller
// goroutines, the bounded queues and 4003 on overflow, limits and rate limits, metrics, the
// hub's one poller per canister and its cursor, ws_close retries and shutdown — in the way
// centrifuge separates a ProtocolType from the Transport. A connection's wire is fixed before the
// upgrade, by the endpoint the client connects to (see Gateway.OmniaHandler), never by timing.
//
// The implementations are seedWire (the icws seed protocol: docs/PROTOCOL.md) and omniaWire (the
// production protocol of ic-websocket-js 0.5 and ic-websocket-cdk 0.4).
type wire interface {
	// String names the protocol in logs.
	String() string
	// open greets the client if the protocol says so, reads its first frame and opens it with the
	// canister. It sets c.canister and c's client key, joins the canister's hub (before the
	// open call, so that the poller routes what the open queues), and reports whether the client
	// is open; otherwise it has told c to close, with a code and a reason.
	open(c *conn) bool
	// check cheaply checks a frame of an open client, so that malformed or misaddressed frames
	// cost no update call, and returns what to queue for relay; an error is a bad message.
	check(c *conn, data []byte) ([]byte, error)
	// relay passes one queued frame to the canister; relay runs one frame at a time per
	// connection, in order.
	relay(c *conn, queued []byte)
	// closeOnce makes one ws_close attempt for c's client. An error that retryable reports false
	// for is the canister's final answer.
	closeOnce(ctx context.Context, c *conn) error
	// forget drops what the gateway keeps for c's client once the canister has been told.
	forget(c *conn)
	// fetch makes one ws_get_messages query from cursor and returns the batch in the seed's shape
	// (ClientID being Omnia's client nonce), the principal of each message's client for Omnia
	// (nil for the seed), and whether the canister says more messages wait.
	fetch(ctx context.Context, g *Gateway, canister principal.Principal, cursor uint64) (res *protocol.CertMessages, to []principal.Principal, more bool, err error)
	// last reports whether a polled message ends the client's session once written.
	last(val []byte) bool
}

// clientKey identifies a client of one canister at this gateway: for the seed protocol its client
// id (principal zero); for Omnia its ClientKey, the client's principal and client nonce.
type clientKey struct {
	principal principal.Principal
	id        uint64
}

// key is c's client key.
func (c *conn) key() clientKey { return clientKey{principal: c.clientPrincipal, id: c.clientID} }

// seedWire is the icws seed protocol.
type seedWire struct{}

func (seedWire) String() string { return "icws" }

func (seedWire) open(c *conn) bool { return c.handshake() }

func (seedWire) check(c *conn, data []byte) ([]byte, error) { return data, c.checkFrame(data) }

func (seedWire) relay(c *conn, frame []byte) { c.callMessage(frame) }

func (seedWire) closeOnce(ctx context.Context, c *conn) error {
	return c.g.api.close(ctx, c.canister, c.clientID)
}

func (seedWire) forget(c *conn) { c.g.keys.remove(clientRef{c.canister, c.clientID}) }

func (seedWire) fetch(ctx context.Context, g *Gateway, canister principal.Principal, cursor uint64) (*protocol.CertMessages, []principal.Principal, bool, error) {
	res, err := g.api.getMessages(ctx, canister, cursor)
	if err != nil {
		return nil, nil, false, err
	}
	// The seed's canister does not say where it cut a batch (the library caps both the count, 50
	// by default, and the bytes, and an application may lower either), so every non-empty batch
	// counts as possibly full: a burst costs one empty query at its end, and a steady stream is
	// fetched back to back.
	return res, nil, len(res.Messages) > 0, nil
}

func (seedWire) last(val []byte) bool {
	k, _ := protocol.KindOf(val)
	return k == protocol.KindClose
}
