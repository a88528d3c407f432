package bench

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
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/icws/icws/bench/canister"
	"github.com/icws/icws/cdk"
	"github.com/icws/icws/gateway"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica"
)

// Server roles: what Serve runs in a child process of the bench.
const (
	RoleReplica  = "replica"
	RoleGateway  = "gateway"
	RoleBaseline = "baseline"
	// RoleAttacker runs the abuse scenario's attacks, on command, in a process of their own, so
	// that they do not share the good client's Go runtime.
	RoleAttacker = "attacker"
)

// ready is the first line a server process writes on stdout: where it serves.
type ready struct {
	URL       string `json:"url"`                 // http:// (replica, baseline) or ws:// (gateway)
	RootKey   string `json:"root_key,omitempty"`  // replica: hex of the DER root key
	Canister  string `json:"canister,omitempty"`  // replica: the load canister's id
	Principal string `json:"principal,omitempty"` // gateway: its principal
}

// reply answers one control command.
type reply struct {
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
	HeapInuse  uint64 `json:"heap_inuse,omitempty"`
	Goroutines int    `json:"goroutines,omitempty"`
	Metrics    string `json:"metrics,omitempty"` // the gateway's, Prometheus text format
	// Attack is what an attacker's "attack" command did.
	Attack *AttackResult `json:"attack,omitempty"`
}

// Serve runs one server of the bench in this process, for `icws bench serve ROLE [flags]`: the
// replica hosting the load canister, the gateway, or the baseline broadcast server. It listens on
// a free loopback port and writes one JSON line on stdout saying where. Then it obeys line
// commands on stdin, answering each with a JSON line: "profile PATH" starts a CPU profile,
// "stop-profile" ends it, "goroutines PATH" writes the goroutine profile (aggregated by stack),
// "free-os-memory" returns the free heap to the OS, "stats" collects garbage and reports the Go
// heap in use and the goroutines, "metrics" returns the gateway's metrics, and the attacker's
// "attack I N URL" runs the abuse scenario's attack I with N connections (or pings) against the
// gateway at URL. It stops when stdin ends (so it never outlives the bench) or ctx is canceled.
func Serve(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("bench serve: missing role (replica, gateway, baseline or attacker)")
	}
	raiseFileLimit()
	role, args := args[0], args[1:]
	fs := flag.NewFlagSet("icws bench serve "+role, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	var (
		owner        = fs.String("owner", "", "replica: principal allowed to broadcast")
		roundTime    = fs.Duration("round-time", 0, "replica: Config.RoundTime (0: a round as soon as work is queued)")
		icURL        = fs.String("ic", "", "gateway: URL of the replica")
		rootKey      = fs.String("root-key", "", "gateway: hex of the replica's DER root key")
		pollInterval = fs.Duration("poll-interval", 0, "gateway: Config.PollInterval (0: default)")
		sendQueue    = fs.Int("send-queue", 0, "gateway and baseline: messages queued per client (0: default)")
		logLevel     = fs.String("log-level", "warn", "log level of the server")
		listen       = fs.String("listen", "127.0.0.1:0", "loopback address to listen on (a restarted server takes its old one)")
		stateDir     = fs.String("state-dir", "", "replica: Config.StateDir, where the whole state is kept (a restart goes on from it)")
		heartbeat    = fs.Duration("heartbeat", 0, "replica: the load canister's heartbeat interval (0: canister.HeartbeatInterval)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("bench serve: --log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		info    ready
		stop    func()
		metrics http.Handler
		attack  func(ctx context.Context, arg string) (*AttackResult, error)
	)
	switch role {
	case RoleReplica:
		p, err := principal.Decode(*owner)
		if err != nil {
			return fmt.Errorf("bench serve replica: --owner: %w", err)
		}
		arg, err := candid.Marshal(p)
		if err != nil {
			return err
		}
		if err := checkLoopback(*listen); err != nil {
			return err
		}
		newCanister := canister.New
		if *heartbeat > 0 {
			newCanister = func() *cdk.Canister { return canister.NewHeartbeat(*heartbeat) }
		}
		r, err := replica.Start(ctx, replica.Config{
			Canisters: []replica.CanisterSpec{{Name: "bench", New: newCanister, Arg: arg}},
			RoundTime: *roundTime,
			Addr:      *listen,
			StateDir:  *stateDir,
			Logger:    log,
		})
		if err != nil {
			return err
		}
		id, _ := r.CanisterID("bench")
		info = ready{URL: r.URL(), RootKey: hex.EncodeToString(r.RootKey()), Canister: id.String()}
		stop = func() { _ = r.Close() }
	case RoleGateway:
		key, err := hex.DecodeString(*rootKey)
		if err != nil || *icURL == "" {
			return errors.New("bench serve gateway: needs --ic URL and --root-key HEX")
		}
		id, err := identity.GenerateEd25519()
		if err != nil {
			return err
		}
		gw, err := gateway.New(gatewayConfig(*icURL, key, id, *pollInterval, *sendQueue, log))
		if err != nil {
			return err
		}
		url, closeSrv, err := serveHTTP(ctx, *listen, gw.Handler(), log)
		if err != nil {
			return err
		}
		info = ready{URL: "ws" + strings.TrimPrefix(url, "http"), Principal: gw.Principal().String()}
		metrics = gw.MetricsHandler()
		stop = func() {
			sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
			defer c()
			_ = gw.Shutdown(sctx)
			closeSrv()
		}
	case RoleBaseline:
		srv := newBroadcastServer(*sendQueue)
		url, closeSrv, err := serveHTTP(ctx, *listen, srv, log)
		if err != nil {
			return err
		}
		info = ready{URL: url}
		stop = func() {
			closeSrv()
			srv.close()
		}
	case RoleAttacker:
		info = ready{URL: "none: the attacker serves nothing"}
		stop = func() {}
		attack = runAttackCommand
	default:
		return fmt.Errorf("bench serve: unknown role %q (want replica, gateway, baseline or attacker)", role)
	}
	defer stop()

	line, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return err
	}
	return control(ctx, stdin, stdout, metrics, attack)
}

// benchPingInterval replaces the gateway's ping interval: longer than any run, so that no ping
// is sent. A client answers a ping within gorilla/websocket's fixed one-second pong deadline or
// loses its connection, and on two cores shared with thousands of clients that verify BLS
// signatures, a client's goroutine can wait longer than that for a CPU.
const benchPingInterval = 3 * time.Minute

// gatewayConfig is the gateway configuration of the bench: the defaults, except the limits that
// would refuse the load itself, and pings. Every client comes from loopback, so the per-address
// cap is off; the connection cap and the message rate limit are off so that the scenarios choose
// the load; see benchPingInterval for pings.
func gatewayConfig(icURL string, rootKey []byte, id identity.Identity, poll time.Duration, sendQueue int, log *slog.Logger) gateway.Config {
	return gateway.Config{
		PingInterval:        benchPingInterval,
		URL:                 icURL,
		RootKey:             rootKey,
		Identity:            id,
		PollInterval:        poll,
		SendQueueSize:       sendQueue,
		MaxConnections:      -1,
		MaxConnectionsPerIP: -1,
		MessageRate:         -1,
		Logger:              log,
	}
}

// serveHTTP serves h on addr (a loopback address; port 0 for a free one) until ctx ends or the
// returned stop is called.
func serveHTTP(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (url string, stop func(), err error) {
	if err := checkLoopback(addr); err != nil {
		return "", nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// control obeys the parent's line commands until stdin ends or ctx is canceled.
func control(ctx context.Context, stdin io.Reader, stdout io.Writer, metrics http.Handler, attack func(context.Context, string) (*AttackResult, error)) error {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	var prof *os.File
	defer func() {
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
	}()
	for {
		var line string
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line, ok = <-lines:
			if !ok {
				return nil
			}
		}
		cmd, arg, _ := strings.Cut(line, " ")
		var r reply
		switch cmd {
		case "profile":
			if prof != nil {
				r.Error = "a profile is already running"
				break
			}
			f, err := os.Create(arg)
			if err == nil {
				if err = pprof.StartCPUProfile(f); err != nil {
					f.Close()
				}
			}
			if err != nil {
				r.Error = err.Error()
				break
			}
			prof, r.OK = f, true
		case "stop-profile":
			if prof == nil {
				r.Error = "no profile is running"
				break
			}
			pprof.StopCPUProfile()
			if err := prof.Close(); err != nil {
				r.Error = err.Error()
			}
			prof, r.OK = nil, r.Error == ""
		case "goroutines":
			// The goroutine profile, aggregated by stack (debug=1), for the soak's growth check.
			f, err := os.Create(arg)
			if err == nil {
				err = errors.Join(pprof.Lookup("goroutine").WriteTo(f, 1), f.Close())
			}
			if err != nil {
				r.Error = err.Error()
				break
			}
			r.OK = true
		case "free-os-memory":
			debug.FreeOSMemory() // a GC, then every free page back to the OS
			r.OK = true
		case "stats":
			runtime.GC() // the live heap, not what awaits collection
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			r = reply{OK: true, HeapInuse: ms.HeapInuse, Goroutines: runtime.NumGoroutine()}
		case "metrics":
			if metrics == nil {
				r.Error = "no metrics here"
				break
			}
			rec := httptest.NewRecorder()
			metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			r = reply{OK: true, Metrics: rec.Body.String()}
		case "attack":
			if attack == nil {
				r.Error = "no attacks here (the attacker role runs them)"
				break
			}
			a, err := attack(ctx, arg)
			if err != nil {
				r.Error = err.Error()
				break
			}
			r = reply{OK: true, Attack: a}
		default:
			r.Error = fmt.Sprintf("unknown command %q", cmd)
		}
		b, _ := json.Marshal(r)
		if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
			return err
		}
	}
}

// checkLoopback checks that addr, a --listen address, is on loopback: the bench's servers are
// for this machine only.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %q: want a loopback address such as 127.0.0.1:0", addr)
	}
	return nil
}
