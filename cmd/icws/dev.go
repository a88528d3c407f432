package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/icws/icws/gateway"
	"github.com/icws/icws/replica"
	"github.com/icws/icws/web"
)

// Default ports of `icws dev`: dfx's replica port, the seed gateway's port, and a web port.
const (
	devReplicaPort = 4943
	devGatewayPort = 8080
	devWebPort     = 8000
	// devShutdownTimeout bounds the whole clean stop: gateway, web server, replica.
	devShutdownTimeout = 10 * time.Second
)

// devOptions are the parsed flags of `icws dev`.
type devOptions struct {
	addr                              string
	replicaPort, gatewayPort, webPort int
	stateDir                          string
	roundTime                         time.Duration
	open                              bool
	logLevel                          slog.Level
	canisters                         canisterFlag
	native                            bool
	controllers                       principalsFlag
	origins                           []string // --allowed-origins, beside the demo page's own
}

func parseDevFlags(args []string, stderr io.Writer) (*devOptions, error) {
	fs := flag.NewFlagSet("icws dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &devOptions{}
	logLevel := fs.String("log-level", "warn", "log level of the replica and the gateway: debug, info, warn or error")
	origins := fs.String("allowed-origins", "", allowedOriginsUsage+"; the demo page's origin is always allowed")
	fs.StringVar(&o.addr, "addr", "127.0.0.1", "host or IP address to serve everything on")
	fs.IntVar(&o.replicaPort, "replica-port", devReplicaPort, "port of the replica (0: any free port)")
	fs.IntVar(&o.gatewayPort, "gateway-port", devGatewayPort, "port of the gateway (0: any free port)")
	fs.IntVar(&o.webPort, "web-port", devWebPort, "port of the demo page (0: any free port)")
	fs.StringVar(&o.stateDir, "state-dir", defaultStateDir("dev"), "directory keeping the replica's keys and state (canisters and their memory, see icws replica -h) and the gateway's identity (a temporary directory when empty)")
	fs.DurationVar(&o.roundTime, "round-time", 0, "time between replica rounds (0: as fast as possible; 1s imitates mainnet latency)")
	fs.BoolVar(&o.open, "open", false, "open the demo page in a browser (xdg-open)")
	fs.BoolVar(&o.native, "native", false, "host echo, chat and omnia-echo as Go code in this process instead of the Wasm modules icws build makes of them")
	fs.Var(&o.canisters, "canister", "`NAME=PATH`: also host this canister: a Wasm file (gzip-compressed accepted) or a Go canister package directory, built as icws build does; repeatable")
	fs.Var(&o.controllers, "controller", "`PRINCIPAL` that controls the --canister canisters; repeatable or comma-separated")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: icws dev [--addr 127.0.0.1] [--open] [--canister NAME=FILE.wasm] [--allowed-origins ORIGINS] [flags]")
		fmt.Fprintln(stderr, "\nRun a local IC with the echo, chat and omnia-echo canisters, a gateway and the demo page in one")
		fmt.Fprintln(stderr, "process, and print their URLs. A taken default port is replaced by a free one. Ctrl-C")
		fmt.Fprintln(stderr, "stops all of it: the gateway closes its clients first, then the page, then the replica.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := o.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--replica-port", o.replicaPort}, {"--gateway-port", o.gatewayPort}, {"--web-port", o.webPort}} {
		if p.v < 0 || p.v > 65535 {
			return nil, fmt.Errorf("%s %d: want 0 to 65535", p.name, p.v)
		}
	}
	if o.roundTime < 0 {
		return nil, errors.New("--round-time must not be negative")
	}
	var err error
	if o.origins, err = parseOrigins(*origins); err != nil {
		return nil, err
	}
	return o, nil
}

// runDev is `icws dev`: the replica (echo, chat, omnia-echo), a gateway and the demo page's web server in one
// process. It prints
//
//	replica http://127.0.0.1:4943
//	canister echo <id>
//	canister chat <id>
//	canister omnia-echo <id>
//	gateway ws://127.0.0.1:8080
//	demo http://127.0.0.1:8000
//
// on stdout once everything serves, and runs until ctx is canceled (SIGINT, SIGTERM); then it
// stops the gateway (clients get 1001, the canisters ws_close), the web server and the replica.
func runDev(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseDevFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: o.logLevel}))
	stateDir := o.stateDir
	if stateDir == "" {
		if stateDir, err = os.MkdirTemp("", "icws-dev-"); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		defer os.RemoveAll(stateDir)
	}

	// Listen first, so that every URL is known before anything starts.
	host := o.addr
	var lns [3]net.Listener
	for i, p := range []struct {
		name string
		port int
	}{{"replica", o.replicaPort}, {"gateway", o.gatewayPort}, {"demo", o.webPort}} {
		if lns[i], err = devListen(ctx, host, p.port, p.name, stdout); err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return err
		}
	}
	replicaURL := "http://" + devURLHost(host, lns[0])
	gatewayURL := "ws://" + devURLHost(host, lns[1])
	demoURL := "http://" + devURLHost(host, lns[2])

	builtin, err := builtinCanisters(ctx, o.native, log.With("part", "build"))
	if err != nil {
		for _, l := range lns {
			l.Close()
		}
		return err
	}
	r, err := replica.New(replica.Config{
		Canisters:    canisterSpecs(builtin, &o.canisters, o.controllers),
		StateDir:     filepath.Join(stateDir, "replica"),
		WasmCacheDir: wasmCacheDir(),
		RoundTime:    o.roundTime,
		Logger:       log.With("part", "replica"),
	})
	if err != nil {
		lns[0].Close()
		lns[1].Close()
		lns[2].Close()
		return err
	}
	errc := make(chan error, 3)
	go func() { errc <- r.Serve(lns[0]) }()

	id, _, err := loadOrCreateIdentity("", filepath.Join(stateDir, "gateway"))
	var gw *gateway.Gateway
	if err == nil {
		gw, err = gateway.New(gateway.Config{
			URL:            replicaURL,
			Identity:       id,
			RootKey:        r.RootKey(),
			AllowedOrigins: append(devOrigins(demoURL, lns[2]), o.origins...),
			Logger:         log.With("part", "gateway"),
		})
	}
	if err != nil {
		lns[1].Close()
		lns[2].Close()
		r.Close()
		return err
	}
	gwSrv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() { errc <- gwSrv.Serve(lns[1]) }()

	canisters := map[string]string{}
	for _, c := range r.Canisters() {
		canisters[c.Name] = c.ID.String()
	}
	webSrv := &http.Server{
		Handler:           web.Handler(web.Config{Gateway: gatewayURL, IC: replicaURL, RootKey: r.RootKey(), Canisters: canisters, TamperRelay: true, Logger: log}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { errc <- webSrv.Serve(lns[2]) }()

	fmt.Fprintf(stdout, "replica %s\n", replicaURL)
	for _, c := range r.Canisters() {
		fmt.Fprintf(stdout, "canister %s %s\n", c.Name, c.ID)
	}
	fmt.Fprintf(stdout, "gateway %s\n", gatewayURL)
	fmt.Fprintf(stdout, "omnia-gateway %s/omnia\n", gatewayURL) // for ic-websocket-js 0.5 clients (omnia-echo)
	fmt.Fprintf(stdout, "demo %s\n", demoURL)
	fmt.Fprintf(stdout, "state %s\n", stateDir)
	fmt.Fprintln(stdout, "Open the demo in two browser windows to chat; Ctrl-C stops everything.")
	if o.open {
		devOpen(demoURL, stdout)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		log.Error("a server stopped", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), devShutdownTimeout)
	defer cancel()
	// The gateway first, while the replica still answers its ws_close calls; its http.Server
	// stops accepting, and gw.Shutdown closes the WebSockets the server no longer tracks.
	go gwSrv.Shutdown(sctx)
	errs := []error{gw.Shutdown(sctx)}
	gwSrv.Close()
	errs = append(errs, webSrv.Shutdown(sctx), r.Shutdown(sctx))
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && !errors.Is(serveErr, replica.ErrClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", serveErr))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(stdout, "stopped")
	return nil
}

// devListen listens on host:port; if that port is taken, on a free port instead, saying so.
func devListen(ctx context.Context, host string, port int, name string, stdout io.Writer) (net.Listener, error) {
	var lc net.ListenConfig
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	l, err := lc.Listen(ctx, "tcp", addr)
	if err == nil {
		return l, nil
	}
	if port == 0 || !errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s: listen: %w", name, err)
	}
	l, err2 := lc.Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
	if err2 != nil {
		return nil, fmt.Errorf("%s: listen: %w (and on a free port: %w)", name, err, err2)
	}
	fmt.Fprintf(stdout, "note: port %d is taken; the %s uses port %d instead\n", port, name, l.Addr().(*net.TCPAddr).Port)
	return l, nil
}

// devURLHost is the host:port for URLs to l: the --addr host, or localhost for an unspecified
// address (0.0.0.0, ::), which listens everywhere but cannot be browsed to.
func devURLHost(host string, l net.Listener) string {
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// devOrigins are the web origins the gateway accepts: the demo page's, and its localhost /
// 127.0.0.1 twin on loopback (browsers send whichever the user typed).
func devOrigins(demoURL string, l net.Listener) []string {
	origins := []string{demoURL}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	if ip := l.Addr().(*net.TCPAddr).IP; ip.IsLoopback() || ip.IsUnspecified() {
		for _, h := range []string{"localhost", "127.0.0.1", "[::1]"} {
			if o := "http://" + h + ":" + port; o != demoURL {
				origins = append(origins, o)
			}
		}
	}
	return origins
}

// devOpen opens url in the desktop's browser, if there is a launcher.
func devOpen(url string, stdout io.Writer) {
	launcher := "xdg-open"
	if runtime.GOOS == "darwin" {
		launcher = "open"
	}
	path, err := exec.LookPath(launcher)
	if err != nil {
		fmt.Fprintf(stdout, "note: --open: %s not found; open %s yourself\n", launcher, url)
		return
	}
	cmd := exec.Command(path, url)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stdout, "note: --open: %v; open %s yourself\n", err, url)
		return
	}
	go func() { _ = cmd.Wait() }() // reap the launcher; its exit status does not matter
}
