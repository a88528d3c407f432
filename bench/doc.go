// Package bench measures icws on one machine, each figure beside a baseline measured in the same
// run: `icws bench fanout|upstream|idle|baseline` (see docs/BENCHMARKS.md for the figures).
//
// Run starts, for every run, a replica hosting the load canister (package bench/canister) and a
// gateway in child processes of the same program (Serve is their entry point, Launcher how they
// are started), so that their CPU time and memory are read from /proc apart from the load's. The
// load clients run in the calling process:
//
//   - fanout: C clients; the canister broadcasts to all of them, as fast as a window of messages
//     in flight allows or at a set rate. Every client must receive and verify every broadcast, in
//     order. The same fan-out then runs through a bare gorilla/websocket broadcast server (the
//     baseline), and the report gives the ratios gateway/baseline.
//   - upstream: C clients each send at a set rate; the canister records each message's latency.
//   - idle: N connections opened (from several loopback source addresses when one has too few
//     ports) and held: the gateway's memory per connection and the time to open them.
//   - baseline: the fan-out through the baseline server alone.
//
// The clients verify every message themselves (VerifyFull, the icws Go SDK) or share one cache
// of certificate and witness verdicts (VerifySharedCache, the bench's lean client).
package bench
