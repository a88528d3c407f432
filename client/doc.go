// Package client is the Go client of icws: a WebSocket to an Internet Computer canister through
// a gateway that relays messages and cannot forge them. A bot, a service, a game server or a test
// talks to a canister as over a plain WebSocket, and never sees a message that failed a check.
//
//	conn, err := client.Dial(ctx, client.Config{
//		Gateway:      "ws://127.0.0.1:8080",
//		IC:           "http://127.0.0.1:4943",
//		FetchRootKey: true, // a local replica; leave unset for mainnet
//		Canister:     canisterID,
//	})
//	if err != nil { … }
//	defer conn.Close("bye")
//	err = conn.Send(ctx, payload)
//	msg, err := conn.Recv(ctx) // msg.Payload, msg.Seq, msg.Delay()
//
// # Connecting
//
// Dial makes (or takes) the client's Ed25519 key, registers it with the canister (ws_register,
// an update call signed by Config.Identity, anonymous by default) and gets a client id; opens the
// WebSocket to the gateway; and sends the first message, {canister_id, client_id, open_nonce}
// signed with the key. The open nonce (the time in nanoseconds, and above every earlier one of
// the client) makes each first message usable once: the canister refuses one that is not fresh,
// so no gateway can replay it later to pull the client back to itself. The gateway checks the signature and calls ws_open; if the gateway or the canister refuses,
// the gateway closes the socket and Recv returns a *CloseError whose code (package protocol's
// close codes) says why, and whether reconnecting can help.
//
// # Sending
//
// Send wraps the payload in {client_id, sequence_num, timestamp, message}, numbered in the order
// of the Send calls, signs its exact bytes and writes it. The gateway passes it to the canister
// (ws_message), which checks the signature and the number. The client keeps each message until
// the canister acknowledges it, so that Reconnect can send it again.
//
// Send paces itself to the gateway's limits (docs/PROTOCOL.md §7.1), so that no burst gets the
// client closed for sending too fast: at most protocol.MaxPendingFrames messages are written and
// not yet acknowledged by the canister (which acknowledges every protocol.AckInterval messages,
// besides its heartbeats), and frames go at most at protocol.MessageRate a second. Send waits
// for its turn; against a canister that never acknowledges, the messages beyond the first
// protocol.MaxPendingFrames go one per protocol.FallbackInterval.
//
// # Receiving: what Recv checks
//
// Every frame from the gateway is {key, val, cert, tree}. Recv returns its message only if every
// check passes, in this order:
//
//  1. the certificate verifies: its BLS signature under the IC's root key (or a subnet key
//     delegated by it, whose canister ranges hold the canister); otherwise BadCertificate. Its
//     time is neither older than Config.MaxCertificateAge (Stale) nor ahead of the local clock by
//     more than Config.MaxClockSkew (Future);
//  2. the canister's certified data in the certificate equals the root hash of the witness tree
//     (Tampered);
//  3. the witness holds ["websocket", key] and its value is SHA-256(val) (Tampered);
//  4. val decodes as a message (Malformed);
//  5. its client id is ours (Foreign);
//  6. its sequence number is the next one: lower is Replay, higher is Gap;
//  7. its timestamp is neither older than Config.MaxMessageAge (Stale) nor ahead of the local
//     clock by more than Config.MaxClockSkew (Future).
//
// A failed check drops the frame and returns a *VerifyError naming the check (its Kind), the
// message key and what exactly was wrong. Nothing of a dropped frame is ever returned, and a
// forged frame never uses up a sequence number.
//
// One BLS verification serves a whole batch: the gateway sends the batch's certificate and witness
// with each of its messages, and the client remembers the last few certificates (and decoded
// witnesses) it checked, by their exact bytes. The time checks run again for every message.
//
// # Heartbeats and withholding
//
// Right after opening, the client sends a keep-alive (a service message), which asks the canister
// for heartbeats: service messages, every 30 s by default, that acknowledge the client's messages
// (the canister also acknowledges every few messages, and a reopened connection at once). Recv
// consumes them (they pass the same checks and take part in the sequence, so Message.Seq skips
// their numbers), drops the messages they acknowledge, and answers with a keep-alive when every
// message it sent is acknowledged (otherwise those messages keep the session alive).
// Keep calling Recv: a canister closes a client that has been silent for its idle timeout (90 s).
//
// They also expose a gateway that holds messages back: Recv fails with Withheld when no
// certified message arrives for Config.HeartbeatTimeout, counted from the opening of the socket
// (the canister's first heartbeat confirms the open) and then from the last one, or when a
// heartbeat shows that a message the client wrote more than Config.AckTimeout earlier never
// reached the canister (the acknowledgement bound; a message queued at the gateway behind
// others counts from the acknowledgement of the one before it). The canister's close notice (a service message with a reason) ends the stream with a
// *CanisterClosedError.
//
// # What happens after a failed check
//
// Foreign and Replay are not fatal: the message was genuine but not ours to take, nothing is
// lost, and the next Recv goes on. Every other kind is fatal (VerifyError.Fatal, IsFatal): a
// message due to us was forged, lost, withheld or late, so the stream cannot be trusted to be
// complete any more. Recv and Send then keep returning that error. The socket is kept open,
// because closing it would make its gateway end the client's session at the canister, so that
// Reconnect can resume through another gateway; Close ends the session instead.
//
// # Reconnecting
//
// Reconnect opens a socket to another gateway with the same key and client id; the gateway calls
// ws_open again, and the canister binds the client to it and moves the client's queued messages
// along. Recv carries on from the sequence number it expects: it skips, without an error, the
// messages that had already come through the old gateway, and delivers the ones that had not.
// Send carries on with its own numbers: the canister acknowledges the reopened client at once,
// through the new gateway, and the messages it does not have are sent again, in order, before
// anything newer. Nothing is lost or repeated in either direction. The old socket is closed once
// a message of ours has come through the new one. Each Reconnect sends a first message with a
// greater open nonce; a late or replayed earlier one is refused by the canister.
//
// Reconnecting needs the canister to still hold the client. A gateway that saw the socket end (a
// dropped network connection, a Close with a "reconnect" code, its own graceful stop) calls
// ws_close, which only detaches the client for the canister's detach grace (5 minutes by
// default): a Reconnect within it, through any gateway, loses nothing. After it, ws_open is
// refused (4001) and the client must Dial again, as a new client. Close says goodbye (a signed
// close service message), which ends the session at once.
//
// # Failover
//
// With Config.Failover set, Recv reconnects by itself: after an error that reconnecting cures (a
// gateway going away or dropping the connection, a broken socket, a Gap, Withheld or Stale
// message) it waits a backoff (doubling, with jitter), calls Reconnect with the next gateway of
// Config.Gateways (after the last, the first again) and goes on receiving, so the application
// sees every message once, in order, across the move. Each attempt is reported to
// Failover.OnReconnect as a Move. After Failover.Attempts attempts in a row without a message
// of ours, or when the move is refused, Recv returns a *FailoverError wrapping the last error.
// Errors that reconnecting does not cure are returned as without a policy: the "stop" close
// codes, *CanisterClosedError, Future, and the forgeries (Tampered, BadCertificate, Malformed)
// unless Failover.Forged asks to leave a gateway that forged a frame. Sends during a move wait
// for it and then go through the new gateway.
//
// # Concurrency and contexts
//
// A Conn is safe for one goroutine calling Recv and any number calling Send. A goroutine per
// socket reads frames into a bounded buffer (Config.ReadBuffer), answering the gateway's pings;
// Recv verifies them on the caller's goroutine. When Recv's context ends, Recv returns ctx.Err()
// and nothing is lost. When Send's context ends while it waits for its turn, nothing was sent;
// if it ends in the middle of writing a frame, the socket breaks (Reconnect sends the message
// again). Close sends a Close frame with code 1000 and a reason.
package client
