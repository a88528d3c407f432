package agent

// Tests against the local replica (package replica) started in-process on a loopback port.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica"
)

// counter is the state of the test canister, with rollback for traps.
type counter struct {
	n, saved uint64
}

func (c *counter) Begin()    { c.saved = c.n }
func (c *counter) Commit()   {}
func (c *counter) Rollback() { c.n = c.saved }

func replyCandid(ic cdk.System, vals ...any) {
	b, err := candid.Marshal(vals...)
	if err != nil {
		cdk.Trapf(ic, "encoding the reply: %v", err)
	}
	ic.Reply(b)
}

func argCandid(ic cdk.System, ptrs ...any) {
	if err := candid.Unmarshal(ic.Arg(), ptrs...); err != nil {
		cdk.Trapf(ic, "decoding the argument: %v", err)
	}
}

// newTestCanister is the canister of these tests:
//
//	greet : (text) -> (text)             "Hello, <name>!"
//	inc : () -> (nat64)                  count += 1
//	add : (nat64, nat64) -> (nat64)
//	reject : (text) -> ()                rejects with the text
//	trap : (text) -> ()                  count += 1, then traps with the text (rolled back)
//	trap_q : (text) -> () query          traps with the text
//	whoami : () -> (principal)
//	set_data : (blob) -> ()              sets the certified data
//	get : () -> (nat64) query
//	greet_q : (text) -> (text) query
//	reject_q : (text) -> () query
//	whoami_q : () -> (principal) query
//	data_cert : () -> (opt blob) query   the data certificate
func newTestCanister() *cdk.Canister {
	st := &counter{}
	greet := func(ic cdk.System) {
		var name string
		argCandid(ic, &name)
		replyCandid(ic, "Hello, "+name+"!")
	}
	reject := func(ic cdk.System) {
		var msg string
		argCandid(ic, &msg)
		ic.Reject(msg)
	}
	trap := func(ic cdk.System) {
		var msg string
		argCandid(ic, &msg)
		st.n++
		ic.Trap(msg)
	}
	trapQuery := func(ic cdk.System) {
		var msg string
		argCandid(ic, &msg)
		ic.Trap(msg)
	}
	whoami := func(ic cdk.System) { replyCandid(ic, ic.Caller()) }
	return &cdk.Canister{
		Updates: map[string]cdk.Method{
			"greet": greet,
			"inc": func(ic cdk.System) {
				st.n++
				replyCandid(ic, st.n)
			},
			"add": func(ic cdk.System) {
				var x, y uint64
				argCandid(ic, &x, &y)
				replyCandid(ic, x+y)
			},
			"reject": reject,
			"trap":   trap,
			"whoami": whoami,
			"set_data": func(ic cdk.System) {
				var data []byte
				argCandid(ic, &data)
				ic.SetCertifiedData(data)
				replyCandid(ic)
			},
		},
		Queries: map[string]cdk.Method{
			"get":      func(ic cdk.System) { replyCandid(ic, st.n) },
			"greet_q":  greet,
			"reject_q": reject,
			"trap_q":   trapQuery,
			"whoami_q": whoami,
			"data_cert": func(ic cdk.System) {
				var cert *[]byte
				if c := ic.DataCertificate(); c != nil {
					cert = &c
				}
				replyCandid(ic, cert)
			},
		},
		State: st,
	}
}

// testReplica is a replica with the test canister.
type testReplica struct {
	*replica.Replica
	canister principal.Principal
}

// startReplica starts a replica whose IC clock is the local clock shifted by skew.
func startReplica(t testing.TB, skew time.Duration) *testReplica {
	t.Helper()
	cfg := replica.Config{Canisters: []replica.CanisterSpec{{Name: "test", New: newTestCanister}}}
	if skew != 0 {
		cfg.Clock = func() time.Time { return time.Now().Add(skew) }
	}
	r, err := replica.Start(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	id, ok := r.CanisterID("test")
	if !ok {
		t.Fatal("the replica has no canister \"test\"")
	}
	return &testReplica{Replica: r, canister: id}
}

// newAgent returns an agent for r that trusts r's root key. The agent's idle connections are
// closed at the end of the test.
func newAgent(t testing.TB, url string, cfg Config) *Agent {
	t.Helper()
	cfg.URL = url
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.CloseIdleConnections)
	return a
}

func testIdentity(t testing.TB) identity.Identity {
	t.Helper()
	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestReplicaCallAndQuery(t *testing.T) {
	checkNoGoroutineLeak(t)
	ctx := testContext(t)
	r := startReplica(t, 0)
	id := testIdentity(t)
	a := newAgent(t, r.URL(), Config{FetchRootKey: true, Identity: id})

	var greeting string
	if err := a.Call(ctx, r.canister, "greet", "world", &greeting); err != nil {
		t.Fatalf("Call(greet): %v", err)
	}
	if greeting != "Hello, world!" {
		t.Errorf("greet: %q", greeting)
	}
	for want := uint64(1); want <= 3; want++ {
		var n uint64
		if err := a.Call(ctx, r.canister, "inc", nil, &n); err != nil {
			t.Fatalf("Call(inc): %v", err)
		}
		if n != want {
			t.Errorf("inc: %d, want %d", n, want)
		}
	}
	var sum uint64
	if err := a.Call(ctx, r.canister, "add", Args{uint64(40), uint64(2)}, &sum); err != nil || sum != 42 {
		t.Errorf("Call(add): %d, %v", sum, err)
	}
	var n uint64
	if err := a.Query(ctx, r.canister, "get", Args{}, &n); err != nil || n != 3 {
		t.Errorf("Query(get): %d, %v", n, err)
	}
	if err := a.Query(ctx, r.canister, "greet_q", "query", &greeting); err != nil || greeting != "Hello, query!" {
		t.Errorf("Query(greet_q): %q, %v", greeting, err)
	}
	var who principal.Principal
	if err := a.Call(ctx, r.canister, "whoami", nil, &who); err != nil || who != id.Sender() {
		t.Errorf("Call(whoami): %s, %v; want %s", who, err, id.Sender())
	}
	if err := a.Query(ctx, r.canister, "whoami_q", nil, &who); err != nil || who != a.Sender() {
		t.Errorf("Query(whoami_q): %s, %v; want %s", who, err, id.Sender())
	}
	if got := a.RootKey(); string(got) != string(r.RootKey()) {
		t.Errorf("RootKey() = %x, want the replica's", got)
	}

	// The anonymous identity.
	anon := newAgent(t, r.URL(), Config{RootKey: r.RootKey()})
	if err := anon.Call(ctx, r.canister, "whoami", nil, &who); err != nil || !who.IsAnonymous() {
		t.Errorf("anonymous Call(whoami): %s, %v", who, err)
	}

	// Raw bytes, and a reply that is not decoded.
	raw, err := a.QueryRaw(ctx, r.canister, "get", []byte("DIDL\x00\x00"))
	if err != nil || string(raw) != "DIDL\x00\x01\x78\x03\x00\x00\x00\x00\x00\x00\x00" {
		t.Errorf("QueryRaw(get) = %x, %v", raw, err)
	}
	if err := a.Call(ctx, r.canister, "inc", nil); err != nil {
		t.Errorf("Call(inc) without results: %v", err)
	}
}

func TestReplicaRejectAndTrap(t *testing.T) {
	ctx := testContext(t)
	r := startReplica(t, 0)
	a := newAgent(t, r.URL(), Config{RootKey: r.RootKey(), Identity: testIdentity(t)})

	tests := []struct {
		query     bool
		method    string
		code      envelope.RejectCode
		message   string
		errorCode string // prefix
	}{
		{false, "reject", envelope.CanisterReject, "no, thanks", "IC04"},
		{true, "reject_q", envelope.CanisterReject, "no, thanks", "IC04"},
		{false, "trap", envelope.CanisterError, "it's a trap", "IC05"},
		{true, "trap_q", envelope.CanisterError, "it's a trap", "IC05"},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			var err error
			if tt.query {
				err = a.Query(ctx, r.canister, tt.method, tt.message)
			} else {
				err = a.Call(ctx, r.canister, tt.method, tt.message)
			}
			var re *RejectError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *RejectError", err)
			}
			if re.Code != tt.code || !strings.Contains(re.Message, tt.message) || !strings.HasPrefix(re.ErrorCode, tt.errorCode) {
				t.Errorf("reject %+v, want code %d, message with %q, error code %s…", re, tt.code, tt.message, tt.errorCode)
			}
			if re.Certified == tt.query {
				t.Errorf("Certified = %v for query=%v", re.Certified, tt.query)
			}
			if !strings.HasPrefix(re.Error(), "canister rejected the call: ") {
				t.Errorf("Error() = %q", re.Error())
			}
		})
	}
	// The trap rolled back its increment.
	var n uint64
	if err := a.Query(ctx, r.canister, "get", nil, &n); err != nil || n != 0 {
		t.Errorf("after traps, get = %d, %v; want 0", n, err)
	}
	// A method that does not exist.
	err := a.Call(ctx, r.canister, "no_such_method", nil)
	var re *RejectError
	if !errors.As(err, &re) {
		t.Fatalf("unknown method: got %v, want a *RejectError", err)
	}
	// A canister that does not exist.
	err = a.Call(ctx, principal.CanisterID(0x80000000001fff00), "inc", nil)
	if !errors.As(err, &re) || re.Code != envelope.DestinationInvalid {
		t.Errorf("unknown canister: got %v, want a reject with code 3", err)
	}
}

func TestReplicaReadStateTimeAndCertifiedData(t *testing.T) {
	ctx := testContext(t)
	r := startReplica(t, 0)
	a := newAgent(t, r.URL(), Config{FetchRootKey: true})

	icTime, err := a.Time(ctx, r.canister)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(icTime); d > time.Minute || d < -time.Minute {
		t.Errorf("IC time %s is %s from the local clock", icTime, d)
	}
	subnet := principal.SelfAuthenticating(r.RootKey())
	cert, err := a.ReadSubnetState(ctx, subnet, [][][]byte{{[]byte("subnet"), subnet.Bytes(), []byte("public_key")}})
	if err != nil {
		t.Fatalf("ReadSubnetState: %v", err)
	}
	if res := cert.Lookup([]byte("subnet"), subnet.Bytes(), []byte("public_key")); string(res.Value) != string(r.RootKey()) {
		t.Errorf("/subnet/<id>/public_key = %s %x", res.Status, res.Value)
	}

	if err := a.Call(ctx, r.canister, "set_data", []byte("certified!")); err != nil {
		t.Fatal(err)
	}
	var dataCert *[]byte
	if err := a.Query(ctx, r.canister, "data_cert", nil, &dataCert); err != nil {
		t.Fatal(err)
	}
	if dataCert == nil {
		t.Fatal("the query got no data certificate")
	}
	data, err := a.CertifiedData(ctx, r.canister, *dataCert)
	if err != nil || string(data) != "certified!" {
		t.Errorf("CertifiedData = %q, %v", data, err)
	}
	// The data certificate is not valid for another canister... (it has no delegation, so the
	// certificate verifies, but it holds no certified data of that canister).
	if _, err := a.CertifiedData(ctx, principal.CanisterID(42), *dataCert); !errors.Is(err, ErrUntrusted) {
		t.Errorf("CertifiedData for another canister: %v, want ErrUntrusted", err)
	}
}

// An IC clock a little off is corrected for: the IC refuses the expiry, the agent measures the
// skew and retries.
func TestReplicaClockSkewCorrected(t *testing.T) {
	for _, skew := range []time.Duration{-2 * time.Minute, 4*time.Minute + 30*time.Second} {
		t.Run(skew.String(), func(t *testing.T) {
			ctx := testContext(t)
			r := startReplica(t, skew)
			a := newAgent(t, r.URL(), Config{RootKey: r.RootKey(), Identity: testIdentity(t)})
			var n uint64
			if err := a.Call(ctx, r.canister, "inc", nil, &n); err != nil || n != 1 {
				t.Fatalf("Call(inc) = %d, %v", n, err)
			}
			if d := a.ClockSkew() - skew; d > 10*time.Second || d < -10*time.Second {
				t.Errorf("ClockSkew() = %s, want about %s", a.ClockSkew(), skew)
			}
			if err := a.Query(ctx, r.canister, "get", nil, &n); err != nil || n != 1 {
				t.Errorf("Query(get) = %d, %v", n, err)
			}
		})
	}
}

// An IC clock far off gives certificates and query signatures that are refused, with an error
// that names the clock.
func TestReplicaExpiredCertificate(t *testing.T) {
	for _, tt := range []struct {
		skew time.Duration
		want error
	}{
		{-time.Hour, certificate.ErrStale},
		{time.Hour, certificate.ErrFuture},
	} {
		t.Run(tt.skew.String(), func(t *testing.T) {
			ctx := testContext(t)
			r := startReplica(t, tt.skew)
			a := newAgent(t, r.URL(), Config{RootKey: r.RootKey(), Identity: testIdentity(t)})
			err := a.Call(ctx, r.canister, "inc", nil)
			if !errors.Is(err, ErrUntrusted) || !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "clock") {
				t.Errorf("Call: got %v, want ErrUntrusted and %v, naming the clock", err, tt.want)
			}
			_, err = a.ReadState(ctx, r.canister, nil)
			if !errors.Is(err, ErrUntrusted) || !errors.Is(err, tt.want) {
				t.Errorf("ReadState: got %v, want ErrUntrusted and %v", err, tt.want)
			}
			err = a.Query(ctx, r.canister, "get", nil)
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "clock") {
				t.Errorf("Query: got %v, want ErrUntrusted naming the clock", err)
			}
		})
	}
}

func TestReplicaWrongRootKey(t *testing.T) {
	ctx := testContext(t)
	r := startReplica(t, 0)
	other := startReplica(t, 0)

	a := newAgent(t, r.URL(), Config{RootKey: other.RootKey()})
	err := a.Call(ctx, r.canister, "inc", nil)
	if !errors.Is(err, ErrUntrusted) || !errors.Is(err, certificate.ErrBadSignature) {
		t.Errorf("Call: got %v, want ErrUntrusted and certificate.ErrBadSignature", err)
	}
	if err := a.Query(ctx, r.canister, "get", nil); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Query: got %v, want ErrUntrusted", err)
	}
	if _, err := a.Time(ctx, r.canister); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Time: got %v, want ErrUntrusted", err)
	}

	// The default, the mainnet key, against a local replica: the error says what to do.
	m := newAgent(t, r.URL(), Config{})
	err = m.Call(ctx, r.canister, "inc", nil)
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "Config.FetchRootKey") {
		t.Errorf("Call with the mainnet key: got %v, want ErrUntrusted suggesting Config.FetchRootKey", err)
	}
}

// The v2 call endpoint and read_state polling, for replicas without /api/v3.
func TestReplicaV2Fallback(t *testing.T) {
	ctx := testContext(t)
	r := startReplica(t, 0)
	var v3, v2 atomic.Int32
	p := newProxy(t, r.URL(), func(path string) proxyAction {
		switch {
		case strings.HasPrefix(path, "/api/v3/"):
			v3.Add(1)
			return proxyNotFound
		case strings.HasPrefix(path, "/api/v2/canister/") && strings.HasSuffix(path, "/call"):
			v2.Add(1)
		}
		return proxyPass
	}, nil)
	a := newAgent(t, p.URL, Config{RootKey: r.RootKey(), Identity: testIdentity(t), PollInterval: time.Millisecond})
	for want := uint64(1); want <= 3; want++ {
		var n uint64
		if err := a.Call(ctx, r.canister, "inc", nil, &n); err != nil || n != want {
			t.Fatalf("Call(inc) = %d, %v; want %d", n, err, want)
		}
	}
	if err := a.Call(ctx, r.canister, "reject", "via v2"); !isCertifiedReject(err, "via v2") {
		t.Errorf("Call(reject) via v2: %v", err)
	}
	if v3.Load() != 1 || v2.Load() != 4 {
		t.Errorf("%d v3 and %d v2 calls, want 1 and 4", v3.Load(), v2.Load())
	}
}

func isCertifiedReject(err error, msg string) bool {
	var re *RejectError
	return errors.As(err, &re) && re.Certified && re.Message == msg
}

func TestReplicaConcurrent(t *testing.T) {
	checkNoGoroutineLeak(t)
	ctx := testContext(t)
	r := startReplica(t, 0)
	a := newAgent(t, r.URL(), Config{FetchRootKey: true, Identity: testIdentity(t)})
	const workers, perWorker = 100, 1
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			errs <- func() error {
				for i := range perWorker {
					name := strings.Repeat("x", w+i)
					var got string
					if err := a.Call(ctx, r.canister, "greet", name, &got); err != nil {
						return err
					}
					if got != "Hello, "+name+"!" {
						return errors.New("greet: wrong reply " + got)
					}
					if err := a.Call(ctx, r.canister, "inc", nil); err != nil {
						return err
					}
					if err := a.Query(ctx, r.canister, "greet_q", name, &got); err != nil {
						return err
					}
					if got != "Hello, "+name+"!" {
						return errors.New("greet_q: wrong reply " + got)
					}
				}
				return nil
			}()
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	var n uint64
	if err := a.Query(ctx, r.canister, "get", nil, &n); err != nil || n != workers*perWorker {
		t.Errorf("get = %d, %v; want %d", n, err, workers*perWorker)
	}
}

func TestReplicaContextCancel(t *testing.T) {
	checkNoGoroutineLeak(t)
	r := startReplica(t, 0)
	a := newAgent(t, r.URL(), Config{RootKey: r.RootKey()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Call(ctx, r.canister, "inc", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Call with a cancelled context: %v", err)
	}
	if err := a.Query(ctx, r.canister, "get", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Query with a cancelled context: %v", err)
	}
}

// A /api/v3 call answered 202 (the IC's sync timeout) is polled with read_state.
func TestReplicaV3AcceptedThenPolled(t *testing.T) {
	ctx := testContext(t)
	r := startReplica(t, 0)
	var polls atomic.Int32
	p := newProxy(t, r.URL(), func(path string) proxyAction {
		switch {
		case strings.HasPrefix(path, "/api/v3/") && strings.HasSuffix(path, "/call"):
			return proxyAccepted
		case strings.HasSuffix(path, "/read_state"):
			polls.Add(1)
		}
		return proxyPass
	}, nil)
	a := newAgent(t, p.URL, Config{RootKey: r.RootKey(), Identity: testIdentity(t), PollInterval: time.Millisecond})
	var s string
	if err := a.Call(ctx, r.canister, "greet", "poll", &s); err != nil || s != "Hello, poll!" {
		t.Fatalf("Call = %q, %v", s, err)
	}
	if err := a.Call(ctx, r.canister, "trap", "polled trap"); !isCertifiedRejectContaining(err, "polled trap") {
		t.Errorf("Call(trap): %v", err)
	}
	if polls.Load() < 2 || a.noV3.Load() {
		t.Errorf("%d polls, noV3 %v; want polls and v3 kept", polls.Load(), a.noV3.Load())
	}
}

func isCertifiedRejectContaining(err error, msg string) bool {
	var re *RejectError
	return errors.As(err, &re) && re.Certified && strings.Contains(re.Message, msg)
}

// Transient answers (503) are retried; a persistent one is returned as an *HTTPError.
func TestReplicaTransientErrors(t *testing.T) {
	ctx := testContext(t)
	r := startReplica(t, 0)
	var queries, failures atomic.Int32
	failures.Store(2)
	p := newProxy(t, r.URL(), func(path string) proxyAction {
		if strings.HasSuffix(path, "/query") {
			queries.Add(1)
			if failures.Add(-1) >= 0 {
				return proxyUnavailable
			}
		}
		return proxyPass
	}, nil)
	a := newAgent(t, p.URL, Config{RootKey: r.RootKey()})
	var s string
	if err := a.Query(ctx, r.canister, "greet_q", "again", &s); err != nil || s != "Hello, again!" {
		t.Fatalf("Query = %q, %v", s, err)
	}
	if queries.Load() != 3 {
		t.Errorf("%d query requests, want 3", queries.Load())
	}
	failures.Store(100)
	err := a.Query(ctx, r.canister, "greet_q", "again", &s)
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable || !he.Temporary() {
		t.Errorf("got %v, want a 503 *HTTPError", err)
	}
}

// With DisableQuerySignatureCheck, queries are not checked and no node keys are read.
func TestReplicaQuerySignatureCheckDisabled(t *testing.T) {
	ctx := testContext(t)
	r := startReplica(t, 0)
	var readStates atomic.Int32
	p := newProxy(t, r.URL(), func(path string) proxyAction {
		if strings.HasSuffix(path, "/read_state") {
			readStates.Add(1)
		}
		return proxyPass
	}, nil)
	a := newAgent(t, p.URL, Config{RootKey: r.RootKey(), DisableQuerySignatureCheck: true})
	var s string
	if err := a.Query(ctx, r.canister, "greet_q", "unchecked", &s); err != nil || s != "Hello, unchecked!" {
		t.Fatalf("Query = %q, %v", s, err)
	}
	checked := newAgent(t, p.URL, Config{RootKey: r.RootKey()})
	for range 3 {
		if err := checked.Query(ctx, r.canister, "greet_q", "checked", &s); err != nil {
			t.Fatal(err)
		}
	}
	if readStates.Load() != 1 {
		t.Errorf("%d read_state requests, want 1 (node keys read once, by the checking agent)", readStates.Load())
	}
}

// A call the IC never received (dropped on the way) ends when the IC's time passes its expiry.
func TestReplicaCallExpired(t *testing.T) {
	ctx := testContext(t)
	var offset atomic.Int64 // shared fake clock: real time plus offset
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	cfg := replica.Config{Canisters: []replica.CanisterSpec{{Name: "test", New: newTestCanister}}, Clock: clock}
	rep, err := replica.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	canister, _ := rep.CanisterID("test")
	p := newProxy(t, rep.URL(), func(path string) proxyAction {
		if strings.HasSuffix(path, "/call") {
			// Time passes the expiry, but less than a certificate's maximum age.
			offset.Add(int64(DefaultIngressExpiry + 10*time.Second))
			return proxyDropped
		}
		return proxyPass
	}, nil)
	a := newAgent(t, p.URL, Config{RootKey: rep.RootKey(), Clock: clock, PollInterval: 10 * time.Millisecond, MaxPollInterval: 100 * time.Millisecond})
	if err := a.Call(ctx, canister, "inc", nil); !errors.Is(err, ErrCallExpired) {
		t.Fatalf("got %v, want ErrCallExpired", err)
	}
}
