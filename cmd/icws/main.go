// Command icws runs the parts of icws, WebSockets for the Internet Computer:
//
//	icws dev       a local IC, a gateway and the demo page, all in one process
//	icws replica   a local Internet Computer hosting the example canisters
//	icws gateway   the WebSocket gateway between clients and canisters
//	icws client    a terminal chat over a verified WebSocket to a canister
//	icws bench     load scenarios with a baseline in the same run
//	icws build     compile a Go canister package to an IC Wasm module
//
// Run `icws <command> -h` for the flags of each command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// command is one subcommand of icws.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run a local IC, a gateway and the demo page in one process", runDev},
		{"replica", "run a local Internet Computer with echo, chat, omnia-echo and your own Wasm canisters", runReplica},
		{"gateway", "run the WebSocket gateway in front of an IC (local or mainnet)", runGateway},
		{"client", "chat with a canister over a verified WebSocket, from the terminal", runClient},
		{"bench", "measure the gateway: fan-out, upstream, idle connections, and a bare WebSocket baseline", runBench},
		{"build", "compile a Go canister package (func New() *cdk.Canister) to an IC Wasm module", runBuild},
		{"version", "print the version, the Go toolchain, the platform and the BLS implementation", runVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "icws: WebSockets for the Internet Computer")
	fmt.Fprintln(w, "\nUsage: icws <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'icws <command> -h' for a command's flags.")
}

// defaultStateDir is where a command keeps its state unless told otherwise:
// $XDG_STATE_HOME/icws/<name>, or ~/.local/state/icws/<name>, or "" when neither is known.
func defaultStateDir(name string) string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "icws", name)
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "icws", name)
	}
	return ""
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := c.run(ctx, args[1:], stdout)
		switch {
		case err == nil, errors.Is(err, context.Canceled):
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		default:
			fmt.Fprintf(stderr, "icws %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "icws: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}
