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

	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/canisters/echo"
	"github.com/icws/icws/replica"
)

// replicaShutdownTimeout bounds the graceful stop of `icws replica`.
const replicaShutdownTimeout = 5 * time.Second

// runReplica is `icws replica`: a local IC with the echo and chat canisters. It prints
//
//	url http://127.0.0.1:4943
//	root_key <hex of the DER root key>
//	canister echo <id>
//	canister chat <id>
//
// on stdout once it serves, and runs until ctx is cancelled.
func runReplica(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("icws replica", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	listen := fs.String("listen", "127.0.0.1:4943", "address to serve the IC HTTP interface on")
	stateDir := fs.String("state-dir", "", "directory keeping the root and node keys across restarts (default: fresh keys each start)")
	roundTime := fs.Duration("round-time", 0, "time between rounds (0: as fast as possible; 1s imitates mainnet latency)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: icws replica [--listen ADDR] [--state-dir DIR] [--round-time D]")
		fmt.Fprintln(fs.Output(), "\nRun a local Internet Computer hosting the echo and chat canisters. It prints its URL,")
		fmt.Fprintln(fs.Output(), "root key and canister ids, then serves until SIGINT or SIGTERM.\n\nFlags:")
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
	r, err := replica.Start(ctx, replica.Config{
		Addr: *listen,
		Canisters: []replica.CanisterSpec{
			{Name: "echo", New: echo.New},
			{Name: "chat", New: chat.New},
		},
		StateDir:  *stateDir,
		RoundTime: *roundTime,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
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
