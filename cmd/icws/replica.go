package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/icws/icws/replica"
	"github.com/icws/icws/replica/wasmhost"
)

// replicaShutdownTimeout bounds the graceful stop of `icws replica`.
const replicaShutdownTimeout = 5 * time.Second

// runReplica is `icws replica`: a local IC with the echo, chat and omnia-echo canisters. It prints
//
//	url http://127.0.0.1:4943
//	root_key <hex of the DER root key>
//	canister echo <id>
//	canister chat <id>
//	canister omnia-echo <id>
//
// on stdout once it serves, and runs until ctx is cancelled.
func runReplica(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("icws replica", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	listen := fs.String("listen", "127.0.0.1:4943", "address to serve the IC HTTP interface on")
	stateDir := fs.String("state-dir", "", "directory keeping the replica's keys and whole state across restarts, even a kill -9: canisters, their ids and memory, sessions and queues (default: nothing kept, fresh keys each start)")
	roundTime := fs.Duration("round-time", 0, "time between rounds (0: as fast as possible; 1s imitates mainnet latency)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	var user canisterFlag
	var controllers principalsFlag
	fs.Var(&user, "canister", "`NAME=PATH`: also host this canister: a Wasm file (gzip-compressed accepted) or a Go canister package directory, built as icws build does; repeatable")
	fs.Var(&controllers, "controller", "`PRINCIPAL` that controls the --canister canisters (upgrade, status, stop); repeatable or comma-separated. Without one, nobody can manage them")
	updateLimit := fs.Uint64("max-update-instructions", 0, "instruction limit of an update, timer or callback of a Wasm canister (0: the IC's 40 billion)")
	native := fs.Bool("native", false, "host echo, chat and omnia-echo as Go code in this process instead of the Wasm modules icws build makes of them")
	queryLimit := fs.Uint64("max-query-instructions", 0, "instruction limit of a query of a Wasm canister (0: the IC's 5 billion)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: icws replica [--listen ADDR] [--state-dir DIR] [--round-time D] [--canister NAME=FILE.wasm --controller PRINCIPAL]...")
		fmt.Fprintln(fs.Output(), "\nRun a local Internet Computer hosting the echo, chat and omnia-echo canisters and your own Wasm canisters.")
		fmt.Fprintln(fs.Output(), "More canisters can be created and installed through the management canister (icp-cli,")
		fmt.Fprintln(fs.Output(), "@icp-sdk/canisters). It prints its URL, root key and canister ids, then serves until SIGINT")
		fmt.Fprintln(fs.Output(), "or SIGTERM.")
		fmt.Fprintln(fs.Output(), "\nWith --state-dir DIR the replica writes its state to DIR after every round that changed it")
		fmt.Fprintln(fs.Output(), "(DIR/state, besides the keys), so that a replica stopped in any way, kill -9 included, and started")
		fmt.Fprintln(fs.Output(), "again on DIR has the same root key, canisters, ids and state: clients' sessions and queues go on.")
		fmt.Fprintln(fs.Output(), "The built-in and --canister canisters keep their saved state instead of being installed again; a")
		fmt.Fprintln(fs.Output(), "--canister given another module is upgraded to it. A damaged state or one of another format")
		fmt.Fprintln(fs.Output(), "version is refused with an error; move DIR/state away to start afresh (docs/RELIABILITY.md).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if err := checkListen("--listen", *listen, "127.0.0.1:4943"); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	builtin, err := builtinCanisters(ctx, *native, log)
	if err != nil {
		return err
	}
	r, err := replica.Start(ctx, replica.Config{
		Addr:         *listen,
		Canisters:    canisterSpecs(builtin, &user, controllers),
		Limits:       wasmhost.Limits{Update: *updateLimit, Query: *queryLimit},
		StateDir:     *stateDir,
		RoundTime:    *roundTime,
		Logger:       log,
		WasmCacheDir: wasmCacheDir(),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "url %s\n", r.URL())
	fmt.Fprintf(stdout, "root_key %s\n", hex.EncodeToString(r.RootKey()))
	for _, c := range r.Canisters() {
		fmt.Fprintf(stdout, "canister %s %s\n", c.Name, c.ID)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), replicaShutdownTimeout)
	defer cancel()
	if err := r.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return ctx.Err()
}
