package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/icws/icws/gateway"
)

// gatewayOptions are the parsed flags of `icws gateway`.
type gatewayOptions struct {
	listen, metrics    string
	omniaListen        string
	tlsCert, tlsKey    string
	identity, stateDir string
	logFormat          string
	logLevel           slog.Level
	cfg                gateway.Config
}

func parseGatewayFlags(args []string, stderr io.Writer) (*gatewayOptions, error) {
	fs := flag.NewFlagSet("icws gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &gatewayOptions{}
	var (
		icURL        = fs.String("ic-url", "", "URL of the IC's HTTP interface, e.g. http://127.0.0.1:4943 or https://icp-api.io (required)")
		fetchRootKey = fs.Bool("fetch-root-key", false, "read the root key from the IC (local replicas only: it trusts the network)")
		rootKeyFile  = fs.String("root-key", "", "file with the IC's DER root key, binary or hex (default: the mainnet key for icp-api.io and icp0.io)")
		origins      = fs.String("allowed-origins", "", allowedOriginsUsage)
		logLevel     = fs.String("log-level", "info", "log level: debug, info, warn or error")
	)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to accept WebSockets on (the icws protocol; Omnia's ic-websocket-js 0.5 clients under the path /omnia)")
	fs.StringVar(&o.omniaListen, "omnia-listen", "", "address to accept Omnia's ic-websocket-js 0.5 clients on, at every path, so an app's gateway URL needs no path, e.g. 127.0.0.1:8081 (default: none)")
	fs.StringVar(&o.identity, "identity", "", "PEM file of the gateway's Ed25519 identity (default: identity.pem in --state-dir, created on first start)")
	fs.StringVar(&o.stateDir, "state-dir", defaultStateDir("gateway"), "directory for the gateway's identity")
	fs.DurationVar(&o.cfg.PollInterval, "poll-interval", gateway.DefaultPollInterval, "wait between polls of a canister whose last batch was not full")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key, serve wss://")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&o.metrics, "metrics", "", "address to serve /metrics, /healthz and /readyz on, e.g. 127.0.0.1:9090 (default: none)")
	fs.IntVar(&o.cfg.MaxConnections, "max-connections", gateway.DefaultMaxConnections, "most open connections (negative: no cap)")
	fs.IntVar(&o.cfg.MaxConnectionsPerIP, "max-connections-per-ip", gateway.DefaultMaxConnectionsIP, "most open connections from one IP address (negative: no cap)")
	fs.Int64Var(&o.cfg.MaxMessageBytes, "max-message-bytes", gateway.DefaultMaxMessageBytes, "largest frame a client may send")
	fs.DurationVar(&o.cfg.ShutdownTimeout, "shutdown-timeout", gateway.DefaultShutdownTimeout, "how long a graceful shutdown may take")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: icws gateway --ic-url URL [--fetch-root-key | --root-key FILE] [--listen ADDR] [flags]")
		fmt.Fprintln(stderr, "\nRun the WebSocket gateway between clients and canisters. SIGINT or SIGTERM stops it")
		fmt.Fprintln(stderr, "gracefully: clients are closed with 1001 and ws_close is called for each.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *icURL == "" {
		return nil, errors.New("--ic-url is required (see icws gateway -h)")
	}
	if err := checkURL("--ic-url", *icURL, "http://127.0.0.1:4943 or https://icp-api.io", "http", "https"); err != nil {
		return nil, err
	}
	o.cfg.URL = *icURL
	switch {
	case *fetchRootKey && *rootKeyFile != "":
		return nil, errors.New("--fetch-root-key and --root-key exclude each other")
	case isMainnetURL(*icURL) && (*fetchRootKey || *rootKeyFile != ""):
		return nil, fmt.Errorf("%s is the IC mainnet: its root key is built in; drop --fetch-root-key and --root-key", *icURL)
	case *fetchRootKey:
		o.cfg.FetchRootKey = true
	case *rootKeyFile != "":
		key, err := readRootKey(*rootKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--root-key: %w", err)
		}
		o.cfg.RootKey = key
	case !isMainnetURL(*icURL):
		return nil, fmt.Errorf("%s is not the IC mainnet: pass --fetch-root-key (a local replica) or --root-key FILE", *icURL)
	}
	if err := checkListen("--listen", o.listen, "127.0.0.1:8080"); err != nil {
		return nil, err
	}
	if o.metrics != "" {
		if err := checkListen("--metrics", o.metrics, "127.0.0.1:9090"); err != nil {
			return nil, err
		}
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return nil, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	if err := o.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	if o.identity == "" && o.stateDir == "" {
		return nil, errors.New("pass --identity or --state-dir: the gateway's identity must outlive the process")
	}
	if o.cfg.PollInterval <= 0 {
		return nil, errors.New("--poll-interval must be positive")
	}
	if o.cfg.MaxMessageBytes <= 0 {
		return nil, errors.New("--max-message-bytes must be positive")
	}
	if o.cfg.ShutdownTimeout < 0 {
		return nil, errors.New("--shutdown-timeout must not be negative")
	}
	allowed, err := parseOrigins(*origins)
	if err != nil {
		return nil, err
	}
	o.cfg.AllowedOrigins = allowed
	return o, nil
}

// allowedOriginsUsage is the help of --allowed-origins, on icws gateway and icws dev.
const allowedOriginsUsage = "comma-separated web `origins` (scheme://host:port) whose pages may connect, e.g. http://127.0.0.1:5173, or '*' for all (default: none but the gateway's own; programs without an Origin always may)"

// parseOrigins reads an --allowed-origins value: origins separated by commas, each checked, or
// '*'.
func parseOrigins(v string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if s != "*" {
			if _, err := gateway.NormalizeOrigin(s); err != nil {
				return nil, fmt.Errorf("--allowed-origins: %w", err)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// runGateway is `icws gateway`. It serves until ctx is canceled (SIGINT, SIGTERM), then shuts
// down gracefully within --shutdown-timeout.
func runGateway(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseGatewayFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	hopts := &slog.HandlerOptions{Level: o.logLevel}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, hopts)
	if o.logFormat == "json" {
		handler = slog.NewJSONHandler(os.Stderr, hopts)
	}
	log := slog.New(handler)
	o.cfg.Logger = log

	id, created, err := loadOrCreateIdentity(o.identity, o.stateDir)
	if err != nil {
		return err
	}
	o.cfg.Identity = id
	gw, err := gateway.New(o.cfg)
	if err != nil {
		return err
	}
	if created {
		log.Info("created a new gateway identity", "file", filepath.Join(o.stateDir, identityFile))
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           gw.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(handler, slog.LevelDebug),
	}
	scheme := "ws"
	if o.tlsCert != "" {
		if srv.TLSConfig, err = tlsConfig(o.tlsCert, o.tlsKey); err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "wss"
	}
	servers := []*http.Server{srv}
	var omniaAddr string
	tlsConfig := srv.TLSConfig.Clone() // before Serve, which sets up HTTP/2 in srv.TLSConfig
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()
	if o.omniaListen != "" {
		oln, err := lc.Listen(ctx, "tcp", o.omniaListen)
		if err != nil {
			srv.Close()
			return fmt.Errorf("listen for Omnia clients: %w", err)
		}
		if tlsConfig != nil {
			oln = tls.NewListener(oln, tlsConfig)
		}
		osrv := &http.Server{Handler: gw.OmniaHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, ErrorLog: srv.ErrorLog}
		servers = append(servers, osrv)
		go func() { errc <- osrv.Serve(oln) }()
		omniaAddr = oln.Addr().String()
	}
	if o.metrics != "" {
		mln, err := lc.Listen(ctx, "tcp", o.metrics)
		if err != nil {
			srv.Close()
			return fmt.Errorf("listen for metrics: %w", err)
		}
		msrv := &http.Server{Handler: gw.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(mln) }()
		log.Info("serving metrics", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	log.Info("gateway listening", "url", scheme+"://"+ln.Addr().String(), "principal", gw.Principal().String(), "ic", o.cfg.URL)
	fmt.Fprintf(stdout, "icws gateway %s listening on %s://%s\n", gw.Principal(), scheme, ln.Addr())
	if omniaAddr != "" {
		log.Info("gateway listening for Omnia clients", "url", scheme+"://"+omniaAddr)
		fmt.Fprintf(stdout, "icws gateway %s listening for Omnia (ic-websocket-js) clients on %s://%s\n", gw.Principal(), scheme, omniaAddr)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("signal received; shutting down")
	case serveErr = <-errc:
		log.Error("server stopped", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.cfg.ShutdownTimeout)
	defer cancel()
	// Stop accepting first; then close the WebSockets, which http.Server no longer tracks.
	for _, s := range servers {
		go s.Shutdown(sctx)
	}
	err = gw.Shutdown(sctx)
	for _, s := range servers {
		s.Close()
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return err
}
