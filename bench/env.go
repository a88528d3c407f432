package bench

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/bench/canister"
	"github.com/icws/icws/client"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
)

// icEnv is one run's IC side: a replica process hosting the load canister, a gateway process in
// front of it, and the agents of the bench.
type icEnv struct {
	replica *server
	gateway *server
	// replicaArgs are the replica's arguments, for a restart.
	replicaArgs []string

	rootKey    []byte
	canister   principal.Principal
	gatewayURL string
	owner      *agent.Agent // the bench's identity: the only caller of broadcast
	users      *agent.Agent // anonymous: the clients' ws_register calls
}

// startIC starts a replica and a gateway process.
func startIC(ctx context.Context, o *Options) (e *icEnv, err error) {
	id, err := identity.GenerateEd25519()
	if err != nil {
		return nil, err
	}
	e = &icEnv{}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	e.replicaArgs = []string{"--owner", id.Sender().String(), "--round-time", o.RoundTime.String()}
	if o.HeartbeatInterval > 0 {
		e.replicaArgs = append(e.replicaArgs, "--heartbeat", o.HeartbeatInterval.String())
	}
	if o.stateDir != "" {
		e.replicaArgs = append(e.replicaArgs, "--state-dir", o.stateDir)
	}
	if e.replica, err = startServer(ctx, o.Launcher, RoleReplica, e.replicaArgs...); err != nil {
		return nil, err
	}
	if e.rootKey, err = hex.DecodeString(e.replica.info.RootKey); err != nil {
		return nil, fmt.Errorf("bench: the replica's root key: %w", err)
	}
	if e.canister, err = principal.Decode(e.replica.info.Canister); err != nil {
		return nil, fmt.Errorf("bench: the replica's canister id: %w", err)
	}
	if e.gateway, err = e.startGateway(ctx, o, ""); err != nil {
		return nil, err
	}
	e.gatewayURL = e.gateway.info.URL
	if e.owner, err = agent.New(agent.Config{URL: e.replica.info.URL, Identity: id, RootKey: e.rootKey}); err != nil {
		return nil, err
	}
	if e.users, err = agent.New(agent.Config{URL: e.replica.info.URL, RootKey: e.rootKey}); err != nil {
		return nil, err
	}
	return e, nil
}

// restartReplica starts the replica again, after its process ended, on its address (and its
// state dir, if it has one), and checks that it is the same IC: the same root key and canister.
func (e *icEnv) restartReplica(ctx context.Context, o *Options) error {
	addr := strings.TrimPrefix(e.replica.info.URL, "http://")
	r, err := startServer(ctx, o.Launcher, RoleReplica, append(slices.Clone(e.replicaArgs), "--listen", addr)...)
	if err != nil {
		return fmt.Errorf("restart the replica: %w", err)
	}
	old := e.replica
	e.replica = r
	if r.info.RootKey != old.info.RootKey || r.info.Canister != old.info.Canister || r.info.URL != old.info.URL {
		return fmt.Errorf("bench: the restarted replica is another IC: root key %.16s…, canister %s at %s; was %.16s…, %s at %s",
			r.info.RootKey, r.info.Canister, r.info.URL, old.info.RootKey, old.info.Canister, old.info.URL)
	}
	// The agents' connections went with the old process.
	e.owner.CloseIdleConnections()
	e.users.CloseIdleConnections()
	return nil
}

// startGateway starts a gateway process in front of e's replica, listening on addr ("" for a
// free loopback port).
func (e *icEnv) startGateway(ctx context.Context, o *Options, addr string) (*server, error) {
	args := []string{"--ic", e.replica.info.URL, "--root-key", e.replica.info.RootKey}
	if o.PollInterval > 0 {
		args = append(args, "--poll-interval", o.PollInterval.String())
	}
	if o.SendQueue > 0 {
		args = append(args, "--send-queue", strconv.Itoa(o.SendQueue))
	}
	if addr != "" {
		args = append(args, "--listen", addr)
	}
	return startServer(ctx, o.Launcher, RoleGateway, args...)
}

// broadcast asks the load canister to send count payloads of size bytes to every open client and
// returns the first broadcast number and the number of clients.
func (e *icEnv) broadcast(ctx context.Context, count, size int) (first, clients uint64, err error) {
	if err := e.owner.Call(ctx, e.canister, canister.MethodBroadcast, agent.Args{uint32(count), uint32(size)}, &first, &clients); err != nil {
		return 0, 0, fmt.Errorf("bench: broadcast: %w", err)
	}
	return first, clients, nil
}

// publish publishes count messages of size bytes to the bench's certified channel
// (canister.Channel). It returns the first one's sequence number and the channel's subscribers.
func (e *icEnv) publish(ctx context.Context, count, size int) (first, subscribers uint64, err error) {
	if err := e.owner.Call(ctx, e.canister, canister.MethodPublish, agent.Args{uint32(count), uint32(size)}, &first, &subscribers); err != nil {
		return 0, 0, fmt.Errorf("bench: publish: %w", err)
	}
	return first, subscribers, nil
}

// latencies reads the upstream latencies the canister recorded, from index from.
func (e *icEnv) latencies(ctx context.Context, from uint64) (samples []uint32, total uint64, err error) {
	for {
		var page []uint32
		if err := e.users.Query(ctx, e.canister, canister.MethodSamples, from, &page, &total); err != nil {
			return nil, 0, fmt.Errorf("bench: samples: %w", err)
		}
		samples = append(samples, page...)
		from += uint64(len(page))
		if len(page) == 0 || from >= total {
			return samples, total, nil
		}
	}
}

// acceptedCount is how many upstream messages the canister accepted.
func (e *icEnv) acceptedCount(ctx context.Context) (uint64, error) {
	var page []uint32
	var total uint64
	if err := e.users.Query(ctx, e.canister, canister.MethodSamples, uint64(1<<63), &page, &total); err != nil {
		return 0, fmt.Errorf("bench: samples: %w", err)
	}
	return total, nil
}

// height is the replica's certified height: the number of rounds so far.
func (e *icEnv) height(ctx context.Context) (uint64, error) {
	st, err := e.users.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench: replica status: %w", err)
	}
	return st.CertifiedHeight, nil
}

// stop ends the processes: the gateway at once (its clients are of no more use), the replica
// gracefully.
func (e *icEnv) stop() {
	if e.owner != nil {
		e.owner.CloseIdleConnections()
	}
	if e.users != nil {
		e.users.CloseIdleConnections()
	}
	e.gateway.kill()
	e.replica.stop()
}

// dialer returns how the load clients of e connect, in the verification mode of o: the Go SDK's
// client (full; readBuffer frames may wait for Recv, 0 = the SDK's default), or the bench's lean
// client sharing one certificate cache, paced if the clients send. On error it stops e.
func (e *icEnv) dialer(o *Options, src *sources, readBuffer int, send bool) (dialFunc, error) {
	if o.Verify == VerifySharedCache {
		cache := client.NewSharedCache(e.canister, 0)
		return func(ctx context.Context, _ int) (loadClient, error) {
			return dialLean(ctx, e, src.dialer(), cache, !o.SingleFrames, send)
		}, nil
	}
	return func(ctx context.Context, _ int) (loadClient, error) {
		return dialSDK(ctx, e, src.dialer(), readBuffer, !o.SingleFrames)
	}, nil
}
