// Package omnia is the production IC WebSocket protocol, Omnia Network's successor of the seed
// protocol, as ic-websocket-js 0.5 (clients), ic-websocket-gateway 1.4 and ic-websocket-cdk 0.4
// (canisters) speak it: the Candid arguments and results of the four canister methods, the
// canister's CBOR WebsocketMessage whose SHA-256 it certifies, the Candid service messages, and
// message keys. The gateway's WebSocket frames are in frame.go. Byte layouts are exact to what
// those implementations write (golden tests, cross-checked with @dfinity/candid).
//
// Protocol flow. C is the client (ic-websocket-js), G the gateway, K the canister. C never
// signs for G nor G for C: C's calls are IC ingress envelopes signed by C's own identity, which
// G relays unchanged, so K sees C's principal as the caller.
//
// Opening:
//
//   - G → C, right after the upgrade: the handshake {gateway_principal}, G's principal.
//   - C → G: {envelope} of a ws_open(OpenArgs{ClientNonce, GatewayPrincipal: G}) call; G takes
//     the canister id from it and relays it to the IC. ClientKey = (C's principal, ClientNonce).
//   - K registers the client with gateway G (one connection per principal: an older one is
//     removed), and queues for G a WebsocketMessage with IsServiceMessage and Content the
//     ServiceMessage Open{ClientKey}, sequence number 1.
//   - G polls ws_get_messages(GetMessagesArgs{Nonce}) as a query with its own identity; K answers
//     the CertifiedMessages of G's queue from Nonce, at most 50, with one certificate and one
//     witness for the batch; G sends C one {key, content, cert, tree} frame per message of C.
//   - C verifies cert (BLS, root key) and tree (its root is K's certified data; websocket/key
//     holds SHA-256(content)), decodes content (UnmarshalWebsocketMessage), checks the sequence
//     number and the Open's ClientKey: the connection is open.
//
// Steady state:
//
//   - C → G → K: {envelope} frames of ws_message(MessageArgs{WebsocketMessage}, null) calls,
//     sequence numbers 1, 2, ... per connection; K refuses a wrong one and closes the connection
//     with Close{WrongSequenceNumber}.
//   - K → C: application messages queued for G as above, sequence numbers continuing after the
//     Open.
//   - Every ack interval (300 s) K queues Ack{last sequence number received} for each client; C
//     answers with a ws_message carrying KeepAlive{last sequence number it received}. A client
//     without a keep-alive within 60 s of the ack is closed with Close{KeepAliveTimeout}.
//
// Closing:
//
//   - C's socket ends: G calls ws_close(CloseArgs{ClientKey}) with its own identity; K accepts it
//     only from the client's gateway.
//   - K closes: it queues Close{reason}, its last message on the connection, and forgets the
//     client; C closes the socket (code 4001 for ClosedByApplication, 4000 otherwise).
package omnia
