// Package bench measures icws on one machine, each figure beside a baseline measured in the same
// run: `icws bench fanout|upstream|idle|baseline` (see docs/BENCHMARKS.md for the figures), and
// what faults cost the application: `icws bench failover|outage|restart` (docs/RELIABILITY.md).
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
//   - failover, outage, restart: C clients of the Go SDK, with its failover policy over two
//     gateways A and B, receive a stream of broadcasts while the bench, by pid, kills gateway A
//     (or stops it with SIGTERM, restarts it on its address and stops B: Options.Graceful),
//     stops the replica with SIGSTOP for Options.Outage, or kills the replica and restarts it
//     from its state dir. The report counts, as the application sees them, the broadcasts lost,
//     duplicated and out of order, and the time each client took to reconnect and to receive
//     again.
//
// The clients verify every message themselves (VerifyFull, the icws Go SDK) or share one cache
// of certificate and witness verdicts (VerifySharedCache: the bench's lean client, whose checks
// are the SDK's client.Verifier with a client.SharedCache).
package bench
