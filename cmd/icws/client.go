package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/client"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/protocol"
)

// Failover policy of `icws client` (client.Config.Failover).
const (
	clientMaxReconnects = 5
	clientFirstBackoff  = 500 * time.Millisecond
	clientMaxBackoff    = 8 * time.Second
)

// clientGateways is the repeatable --gateway flag.
type clientGateways []string

func (g *clientGateways) String() string { return strings.Join(*g, ",") }

func (g *clientGateways) Set(v string) error {
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u != "" {
			*g = append(*g, u)
		}
	}
	return nil
}

// runClient is `icws client`: a line chat with a canister through a gateway.
func runClient(ctx context.Context, args []string, stdout io.Writer) error {
	if err := runClientIO(ctx, args, os.Stdin, stdout, os.Stderr); err != nil {
		return prefixless{err, "client: "}
	}
	return nil
}

// clientOptions are the parsed flags of `icws client`.
type clientOptions struct {
	cfg      client.Config // Canister is set by runClientIO, which resolves canister
	canister string        // --canister: an id, or a name the replica knows
	gateways []string
	json     bool
	linger   time.Duration
	// backoff before the first attempt to recover, and its bound (it doubles each attempt)
	firstBackoff, maxBackoff time.Duration
}

func parseClientFlags(args []string, stderr io.Writer) (*clientOptions, error) {
	fs := flag.NewFlagSet("icws client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		gateways     clientGateways
		icURL        = fs.String("ic-url", "", "URL of the IC's HTTP interface, e.g. http://127.0.0.1:4943 (required)")
		fetchRootKey = fs.Bool("fetch-root-key", false, "read the root key from the IC (local replicas only: it trusts the network)")
		rootKeyFile  = fs.String("root-key", "", "file with the IC's DER root key, binary or hex (default: the mainnet key, or fetched with --fetch-root-key)")
		canister     = fs.String("canister", "", "the canister's id, e.g. bd3sg-teaaa-aaaaa-qaaba-cai, or its name in icws dev or icws replica, e.g. chat (required)")
		identityPEM  = fs.String("identity", "", "PEM file of the Ed25519 identity that registers the client (default: anonymous)")
		jsonMode     = fs.Bool("json", false, `scripts: read one {"text": …} per line, print one JSON object per message`)
		maxAge       = fs.Duration("max-age", client.DefaultMaxMessageAge, "refuse messages queued longer ago than this")
		hbTimeout    = fs.Duration("heartbeat-timeout", client.DefaultHeartbeatTimeout, "fail as withheld when no certified message came for this long since the open or the last one (negative: never, for canisters without heartbeats)")
		linger       = fs.Duration("linger", time.Second, "after the end of input, keep printing messages this long before closing")
		singleFrames = fs.Bool("single-frames", false, "ask the gateway for one S6 frame per message, not S9 batched frames (docs/PROTOCOL.md §13), as the seed client does")
		verbose      = fs.Bool("v", false, "log the client's debug messages to stderr")
	)
	fs.Var(&gateways, "gateway", "WebSocket URL of a gateway, e.g. ws://127.0.0.1:8080 (required; repeat or separate with commas to fail over)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: icws client --gateway URL --ic-url URL [--fetch-root-key] --canister ID|NAME [--json]")
		fmt.Fprintln(stderr, "\nChat with a canister: each line of input is sent as {text}, each verified message is printed")
		fmt.Fprintln(stderr, "with its sequence number and delay. Ctrl-D (end of input) closes the connection.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var missing []string
	if len(gateways) == 0 {
		missing = append(missing, "--gateway")
	}
	if *icURL == "" {
		missing = append(missing, "--ic-url")
	}
	if *canister == "" {
		missing = append(missing, "--canister")
	}
	if len(missing) > 0 {
		verb := "is"
		if len(missing) > 1 {
			verb = "are"
		}
		return nil, fmt.Errorf("%s %s required (see icws client -h)", strings.Join(missing, ", "), verb)
	}
	for _, g := range gateways {
		if err := checkURL("--gateway", g, "ws://127.0.0.1:8080", "ws", "wss"); err != nil {
			return nil, err
		}
	}
	if err := checkURL("--ic-url", *icURL, "http://127.0.0.1:4943", "http", "https"); err != nil {
		return nil, err
	}
	switch mainnet := isMainnetURL(*icURL); {
	case mainnet && (*fetchRootKey || *rootKeyFile != ""):
		return nil, fmt.Errorf("--ic-url %s is the IC mainnet: its root key is built in; drop --fetch-root-key and --root-key", *icURL)
	case !mainnet && !*fetchRootKey && *rootKeyFile == "":
		return nil, fmt.Errorf("--ic-url %s is not the IC mainnet: pass --fetch-root-key (a local replica, such as icws dev's) or --root-key FILE", *icURL)
	}
	if *maxAge < 0 {
		return nil, fmt.Errorf("--max-age %v must not be negative", *maxAge)
	}
	if *linger < 0 {
		return nil, fmt.Errorf("--linger %v must not be negative", *linger)
	}
	o := &clientOptions{canister: *canister, gateways: gateways, json: *jsonMode, linger: *linger,
		firstBackoff: clientFirstBackoff, maxBackoff: clientMaxBackoff}
	o.cfg = client.Config{
		Gateways:         gateways,
		IC:               *icURL,
		FetchRootKey:     *fetchRootKey,
		MaxMessageAge:    *maxAge,
		HeartbeatTimeout: *hbTimeout,
		SingleFrames:     *singleFrames,
	}
	if *rootKeyFile != "" {
		if *fetchRootKey {
			return nil, errors.New("--root-key and --fetch-root-key exclude each other")
		}
		b, err := os.ReadFile(*rootKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--root-key: %w", err)
		}
		if h, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil {
			b = h
		}
		if len(b) == 0 || b[0] != 0x30 {
			return nil, fmt.Errorf("--root-key %s: not a DER root key in binary or hex (icws replica prints it as root_key)", *rootKeyFile)
		}
		o.cfg.RootKey = b
	}
	if *identityPEM != "" {
		b, err := os.ReadFile(*identityPEM)
		if err != nil {
			return nil, fmt.Errorf("--identity: %w", err)
		}
		ed, err := identity.ParsePEM(b)
		if err != nil {
			return nil, fmt.Errorf("--identity %s: %w", *identityPEM, err)
		}
		o.cfg.Identity = ed
	}
	if *verbose {
		o.cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return o, nil
}

// runClientIO is runClient with its input and error output given, for tests.
func runClientIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseClientFlags(args, stderr)
	if err != nil {
		return err
	}
	return runClientWith(ctx, o, stdin, stdout)
}

// runClientWith is runClientIO once the flags are parsed.
func runClientWith(ctx context.Context, o *clientOptions, stdin io.Reader, stdout io.Writer) error {
	var err error
	if o.cfg.Canister, err = resolveCanister(ctx, o.cfg.IC, o.canister); err != nil {
		return err
	}
	out := &clientPrinter{w: stdout, json: o.json}
	o.cfg.Failover = &client.Failover{
		Attempts:   clientMaxReconnects,
		Backoff:    o.firstBackoff,
		MaxBackoff: o.maxBackoff,
		// With another gateway to go to, a forged frame is a reason to leave this one.
		Forged:      len(o.gateways) > 1,
		OnReconnect: out.moved,
	}
	conn, err := client.Dial(ctx, o.cfg)
	if err != nil {
		return o.explain(ctx, err)
	}
	sess := &clientSession{conn: conn}
	out.connected(conn)

	// Lines from stdin go to the sender below; the reader goroutine may outlive runClient while
	// it blocks on a terminal read (the process exits right after).
	lines := make(chan string)
	inputDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		inputDone <- sc.Err()
	}()

	recvCtx, stopRecv := context.WithCancel(ctx)
	defer stopRecv()
	recvDone := make(chan error, 1)
	go func() { recvDone <- clientReceive(recvCtx, sess, o, out) }()

	var result error
loop:
	for {
		select {
		case line := <-lines:
			text, ok := out.parseInput(line)
			if !ok {
				continue
			}
			if err := sess.get().Send(ctx, protocol.AppMessage{Text: text}.Marshal()); err != nil {
				out.errorf(err)
			}
		case err := <-inputDone:
			if err != nil {
				result = fmt.Errorf("reading input: %w", err)
				break loop
			}
			// End of input: let replies arrive for a moment, then close.
			t := time.NewTimer(o.linger)
			select {
			case <-t.C:
			case result = <-recvDone:
				recvDone <- result
			case <-ctx.Done():
			}
			t.Stop()
			break loop
		case result = <-recvDone:
			recvDone <- result
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	stopRecv()
	if err := <-recvDone; err != nil && !errors.Is(err, context.Canceled) && result == nil {
		result = err
	}
	if err := sess.get().Close("bye"); err != nil && result == nil && !errors.Is(err, client.ErrClosed) {
		result = err
	}
	return result
}

// clientSession holds the connection, which clientReceive replaces after a failure.
type clientSession struct {
	mu   sync.Mutex
	conn *client.Conn
}

func (s *clientSession) get() *client.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

func (s *clientSession) set(c *client.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn = c
}

// clientReceive prints verified messages until ctx ends or the connection fails for good. The
// client library's failover (client.Config.Failover) resumes the session through the next
// gateway after a failure that reconnecting cures, and reports each move (clientPrinter.moved);
// only when the canister no longer knows the session (its detach grace passed: ws_open refused,
// 4001) does this connect again, once, as a new client.
func clientReceive(ctx context.Context, sess *clientSession, o *clientOptions, out *clientPrinter) error {
	redialed := false
	for {
		conn := sess.get()
		msg, err := conn.Recv(ctx)
		if err == nil {
			redialed = false
			out.message(&msg)
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !client.IsFatal(err) {
			out.errorf(err)
			continue
		}
		if client.CloseStatus(err) != int(protocol.CloseOpenRefused) || redialed {
			return o.finalError(ctx, err)
		}
		out.errorf(err)
		redialed = true
		gw := conn.Gateway()
		out.notef("the session is gone; connecting again as a new client through %s", gw)
		cfg := o.cfg
		cfg.Gateway = gw
		fresh, err := client.Dial(ctx, cfg)
		if err != nil {
			return o.explain(ctx, err)
		}
		_ = conn.Close("replaced")
		sess.set(fresh)
		out.connected(fresh)
	}
}

// finalError is the error the client ends with: after the failover gave up, the last attempt's
// failure (explained) and the connection's own error, which is kept (errors.As finds it).
func (o *clientOptions) finalError(ctx context.Context, err error) error {
	var fe *client.FailoverError
	if !errors.As(err, &fe) {
		return err
	}
	if fe.Last == nil {
		return fmt.Errorf("%w (gave up after %d attempts to recover)", fe.Err, fe.Attempts)
	}
	// The connection's own error is stale: the attempts failed for another reason.
	return fmt.Errorf("gave up after %d attempts to recover: the last failed with: %w (the connection had failed with: %w)",
		fe.Attempts, o.explain(ctx, fe.Last), fe.Err)
}

// explain adds to err, a failure to connect, what the URLs of --gateway and --ic-url answer when
// they are web pages (the demo page's port is a common mistake), keeping err.
func (o *clientOptions) explain(ctx context.Context, err error) error {
	urls := [][3]string{{"--ic-url", o.cfg.IC, "the IC's HTTP interface"}}
	for _, g := range o.gateways {
		urls = append(urls, [3]string{"--gateway", g, "an icws gateway"})
	}
	return withHints(ctx, err, urls...)
}

// clientPrinter writes messages, notes and errors, as text or JSON lines.
type clientPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

// clientJSONLine is one line of --json output.
type clientJSONLine struct {
	Seq       *uint64  `json:"seq,omitempty"`
	Text      *string  `json:"text,omitempty"`
	From      *uint64  `json:"from,omitempty"`
	Join      *uint64  `json:"join,omitempty"`
	Leave     *uint64  `json:"leave,omitempty"`
	Payload   string   `json:"payload_hex,omitempty"`
	DelayMS   *float64 `json:"delay_ms,omitempty"`
	Timestamp string   `json:"timestamp,omitempty"`
	Key       string   `json:"key,omitempty"`
	Note      string   `json:"note,omitempty"`
	Error     string   `json:"error,omitempty"`
	Kind      string   `json:"kind,omitempty"`
	Fatal     *bool    `json:"fatal,omitempty"`
}

func (p *clientPrinter) emit(line clientJSONLine, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		b, _ := json.Marshal(line)
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	fmt.Fprintln(p.w, text)
}

func (p *clientPrinter) message(m *client.Message) {
	delay := m.Delay()
	ms := float64(delay.Microseconds()) / 1000
	line := clientJSONLine{Seq: &m.Seq, DelayMS: &ms, Timestamp: m.Timestamp.UTC().Format(time.RFC3339Nano), Key: m.Key}
	var shown string
	if ev, err := chat.Decode(m.Payload); err == nil {
		switch {
		case ev.Message != nil:
			line.Text, line.From = &ev.Message.Text, &ev.Message.From
			shown = fmt.Sprintf("<%d> %s", ev.Message.From, ev.Message.Text)
		case ev.Join != nil:
			line.Join = ev.Join
			shown = fmt.Sprintf("* client %d joined", *ev.Join)
		case ev.Leave != nil:
			line.Leave = ev.Leave
			shown = fmt.Sprintf("* client %d left", *ev.Leave)
		}
	} else if am, err := protocol.DecodeAppMessage(m.Payload); err == nil {
		line.Text = &am.Text
		shown = am.Text
	} else {
		line.Payload = hex.EncodeToString(m.Payload)
		shown = fmt.Sprintf("(%d bytes, not {text}) %s", len(m.Payload), line.Payload)
	}
	p.emit(line, fmt.Sprintf("[seq %d, %s] %s", m.Seq, delay.Round(time.Millisecond), shown))
}

// connected announces a connection (in text mode).
func (p *clientPrinter) connected(c *client.Conn) {
	if !p.json {
		p.notef("connected to %s as client %d through %s; type a line to send it, Ctrl-D to quit",
			c.Canister(), c.ClientID(), c.Gateway())
	}
}

// moved reports a move of the failover policy: the error that started it, then each attempt.
func (p *clientPrinter) moved(m client.Move) {
	if m.Attempt == 1 {
		p.errorf(m.Cause)
	}
	if m.Err != nil {
		p.notef("attempt %d of %d: could not resume through %s: %v", m.Attempt, clientMaxReconnects, m.To, m.Err)
		return
	}
	p.notef("resumed the session through %s after %v (attempt %d of %d)", m.To, m.Backoff.Round(time.Millisecond), m.Attempt, clientMaxReconnects)
}

func (p *clientPrinter) notef(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	p.emit(clientJSONLine{Note: s}, "-- "+s)
}

func (p *clientPrinter) errorf(err error) {
	line := clientJSONLine{Error: err.Error()}
	fatal := client.IsFatal(err)
	line.Fatal = &fatal
	var ve *client.VerifyError
	if errors.As(err, &ve) {
		line.Kind = ve.Kind.String()
	}
	p.emit(line, "!! "+err.Error())
}

// inputError reports a bad input line, which is skipped.
func (p *clientPrinter) inputError(err error) {
	fatal := false
	p.emit(clientJSONLine{Error: err.Error(), Fatal: &fatal}, "!! "+err.Error())
}

// parseInput turns one input line into the text to send: the line itself, or in JSON mode the
// "text" of a {"text": …} object. Empty lines are skipped; bad JSON is reported and skipped.
func (p *clientPrinter) parseInput(line string) (string, bool) {
	if !p.json {
		return line, line != ""
	}
	if strings.TrimSpace(line) == "" {
		return "", false
	}
	var in struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal([]byte(line), &in); err != nil || in.Text == nil {
		if err == nil {
			err = errors.New(`no "text" field`)
		}
		p.inputError(fmt.Errorf(`input line is not {"text": …}: %w`, err))
		return "", false
	}
	return *in.Text, true
}
