// Package replica is a local Internet Computer: one subnet with one node, in-process, that hosts
// canisters written in Go against package cdk and serves the IC's HTTP interface well enough that
// the official agents (agent-js, agent-rs, the icws Go agent) cannot tell it from dfx or PocketIC.
//
// # What it serves
//
//   - GET /api/v2/status: a CBOR map with the root key.
//   - POST /api/v2/canister/<ecid>/call: asynchronous update call (202, then poll read_state).
//   - POST /api/v3/canister/<ecid>/call and /api/v4/canister/<ecid>/call: synchronous update
//     call: 200 with a certificate once the call was replied or rejected, 202 after a timeout.
//   - POST /api/v2|v3/canister/<ecid>/query: query, signed with the node's Ed25519 key.
//   - POST /api/v2|v3/canister/<ecid>/read_state and /api/v2|v3/subnet/<subnet>/read_state.
//   - GET /api/icws/canisters (CanisterNamesPath): JSON from each named canister to its id; not
//     the IC's, for tools that take a name where an id is asked for.
//
// Every response carries CORS headers (any origin); unknown routes answer 404, which agent-js
// needs to fall back from v3 to v2.
//
// # Keys and ids
//
// The replica has a BLS12-381 root key (the key of its only subnet, so certificates carry no
// delegation) and an Ed25519 node key. The subnet id is the self-authenticating principal of the
// root key's DER form, as agents expect when there is no delegation; the node id is the
// self-authenticating principal of the node key. With Config.StateDir both keys are kept on disk
// (files root.key and node.key, mode 0600, plus root_key.der, the public root key), so clients
// that trusted the root key keep trusting it after a restart; so is the whole replicated state
// (see Config.StateDir, persist.go and docs/RELIABILITY.md).
//
// Canister ids are given in registration order from the range dfx's local replica uses for
// automatically created canisters: the first canister is bkyz2-fmaaa-aaaaa-qaaaq-cai (index
// 0x8000000000100001), the second bd3sg-teaaa-aaaaa-qaaba-cai, and so on. The subnet's certified
// canister range (CanisterRange) is 0x8000000000100000 to 0x80000000001fffff, that is
// bnz7o-iuaaa-aaaaa-qaaaa-cai to 5g7ff-34aaa-aaaaa-7777q-cai.
//
// # Rounds
//
// Update calls are checked when they arrive (envelope, signature, sender, delegations, expiry,
// effective canister id, size, duplicates) and queued. A round runs the queued messages in arrival
// order, one at a time, then the canisters' due global timers, then certifies the state tree
// (request statuses, certified data, subnet keys and ranges, time) with one BLS signature.
// Queries run between rounds, concurrently with each other, against the state of the last round,
// so a query always sees the state its data certificate certifies. With Config.RoundTime zero a
// round starts as soon as work is queued (messages that arrive during a round share the next
// one); otherwise rounds start every RoundTime. When idle, a round still runs every second, so
// that the certified time stays fresh.
//
// # Canisters
//
// A canister is a *cdk.Canister. The replica calls it only through cdk.System, which it implements
// after the IC's system API: a trap (cdk's Trap, or any panic) rolls back the message through
// cdk.Transactional, discards its certified data and timer changes and becomes a reject of code 5;
// SetCertifiedData and SetGlobalTimer trap in queries; Reply and Reject trap in init and timer
// messages.
package replica
