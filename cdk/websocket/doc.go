// Package websocket is the canister side of icws: the ws_* methods of docs/PROTOCOL.md §3 on the
// cdk runtime API. A canister builds a Server with New, adds its methods with Register, and sends
// to clients with Send.
//
// The server checks every first message (signature, canister id, and its open_nonce, which must
// grow, so that no gateway can replay it to pull a client back) and every client message
// (gateway binding, signature, sequence number); it keeps per-gateway queues of certified
// messages, moves a client's queue when it reconnects through another gateway, and sends the
// service messages of §6 to clients that opted in: heartbeats, acknowledgements every
// AckInterval accepted messages (which clients pace their sending by) and at once when a client
// reopens, and close notices.
//
// With Config.Protocol set to ProtocolOmnia the server speaks the production IC WebSocket
// protocol instead (docs/PROTOCOL.md §11, package protocol/omnia): the interface of an
// ic-websocket-cdk 0.4 canister, for ic-websocket-js 0.5 clients, on the same queues, certified
// map, journal and timer, with the same callbacks, Send and Close. One canister speaks one of the
// two: their method names are the same, their types are not.
package websocket
