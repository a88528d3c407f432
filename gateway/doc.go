// Package gateway is the icws WebSocket gateway: it gives clients WebSockets to canisters and
// relays messages it cannot forge. Client messages are signed by the client's Ed25519 key and
// checked by the canister; canister messages are certified by the IC and checked by the client.
//
// # Connection
//
// A client registers its key with the canister (ws_register), opens a WebSocket here and sends
// the signed first message (S2). The gateway checks the signature against the key the canister
// holds (ws_get_client_key, cached), then calls ws_open. Every later binary frame (S5) is passed
// to ws_message, one at a time and in order for each client, concurrently across clients. When
// the connection ends, however it ends, the gateway calls ws_close, retrying until it succeeds
// or Config.CloseRetryTimeout passes.
//
// Refusals and failures close the socket with a code and a reason from package protocol
// (protocol.CloseCode): a bad first message, a refused ws_open, an unknown canister, a client
// that reads too slowly, sends too fast or sends bad frames, or a canister that cannot be reached.
// Nothing a client sends can make the gateway panic or stop.
//
// # The production protocol (Omnia mode)
//
// OmniaHandler, also at /omnia on Handler, serves the protocol of Omnia's ic-websocket-js 0.5
// clients and ic-websocket-cdk 0.4 canisters: the gateway greets with its principal, the client's
// frames are its own signed ws_open and ws_message calls, which the gateway relays unchanged
// (one at a time per client, in order) and whose outcome it reads, closing the connection with a
// code and the reason when ws_open fails. Polling, delivery, limits and shutdown are the same as
// below; only the frames and methods differ (wire.go, omnia.go; docs/PROTOCOL.md).
//
// # Delivery
//
// One poller per canister, never per client, fetches this gateway's messages with
// ws_get_messages: it starts with the canister's first client and stops after its last one,
// keeping its cursor. It polls again at once after a full batch, otherwise after
// Config.PollInterval; it retries failures with backoff and refuses batches that break the nonce
// order. Each message goes to its client as one binary frame {key, val, cert, tree} (S6).
//
// Each connection has a bounded send queue and its own writer goroutine: the poller never waits
// for a client. A client whose queue overflows is closed with protocol.CloseTooSlow; a message is
// never skipped while its connection goes on.
//
// # Operation
//
// Keepalive pings with a read deadline, an origin allow-list, per-IP and global connection caps,
// a per-connection message rate limit and a frame size limit protect the gateway. Shutdown
// closes every client with 1001 and calls ws_close for each within a bounded time. Metrics in
// the Prometheus text format (MetricsHandler) carry no per-client labels; /healthz and /readyz
// report liveness and readiness.
package gateway
