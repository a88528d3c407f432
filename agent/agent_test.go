package agent

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  string // substring of the error; "" for success
	}{
		{"mainnet", Config{URL: "https://icp-api.io"}, ""},
		{"local fetch", Config{URL: "http://127.0.0.1:4943", FetchRootKey: true}, ""},
		{"trailing slash", Config{URL: "http://localhost:4943/"}, ""},
		{"no scheme", Config{URL: "127.0.0.1:4943"}, "invalid Config.URL"},
		{"ftp", Config{URL: "ftp://example.com"}, "want http://"},
		{"query", Config{URL: "http://127.0.0.1/?x=1"}, "no query"},
		{"fetch on icp-api.io", Config{URL: "https://icp-api.io", FetchRootKey: true}, "mainnet host"},
		{"fetch on icp0.io", Config{URL: "https://icp0.io", FetchRootKey: true}, "mainnet host"},
		{"fetch on a subdomain of ic0.app", Config{URL: "https://boundary.ic0.app", FetchRootKey: true}, "mainnet host"},
		{"fetch and key", Config{URL: "http://127.0.0.1", FetchRootKey: true, RootKey: certificate.MainnetRootKey()}, "exclude each other"},
		{"bad key", Config{URL: "http://127.0.0.1", RootKey: []byte("not a key")}, "RootKey"},
		{"expiry too long", Config{URL: "http://127.0.0.1", IngressExpiry: 6 * time.Minute}, "IngressExpiry"},
		{"negative duration", Config{URL: "http://127.0.0.1", PollInterval: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if a.Sender() != principal.Anonymous() {
					t.Errorf("Sender() = %s, want anonymous", a.Sender())
				}
				if strings.HasSuffix(a.URL(), "/") {
					t.Errorf("URL() = %q keeps a trailing slash", a.URL())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("New: got %v, want an error with %q", err, tt.err)
			}
		})
	}
	a, err := New(Config{URL: "https://icp-api.io"})
	if err != nil {
		t.Fatal(err)
	}
	if string(a.RootKey()) != string(certificate.MainnetRootKey()) {
		t.Error("the default root key is not the mainnet key")
	}
	a, err = New(Config{URL: "http://127.0.0.1:1", FetchRootKey: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.RootKey() != nil {
		t.Error("RootKey() before fetching should be nil")
	}
}

func TestFetchRootKeyFailure(t *testing.T) {
	ctx := testContext(t)
	srv := newCertServer(t, nil) // answers 404 to /api/v2/status
	a, err := New(Config{URL: srv.URL, FetchRootKey: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.FetchRootKey(ctx)
	var he *HTTPError
	if !errors.Is(err, ErrRootKeyNotFetched) || !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
		t.Fatalf("got %v, want ErrRootKeyNotFetched with a 404 HTTPError", err)
	}
	if _, err := a.QueryRaw(ctx, ryjl3, "x", nil); !errors.Is(err, ErrRootKeyNotFetched) {
		t.Errorf("QueryRaw: got %v, want ErrRootKeyNotFetched", err)
	}
}

func TestIngressExpiry(t *testing.T) {
	now := time.Date(2025, 5, 1, 12, 34, 56, 789_000_000, time.UTC)
	a, err := New(Config{URL: "http://127.0.0.1", Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.ingressExpiryNanos(), uint64(time.Date(2025, 5, 1, 12, 38, 56, 0, time.UTC).UnixNano()); got != want {
		t.Errorf("expiry %d, want %d (now + 4 min, whole seconds)", got, want)
	}
	a.setSkew(-time.Hour)
	if got, want := a.ingressExpiryNanos(), uint64(time.Date(2025, 5, 1, 11, 38, 56, 0, time.UTC).UnixNano()); got != want {
		t.Errorf("with a skew of -1h: expiry %d, want %d", got, want)
	}
	if a.ClockSkew() != -time.Hour {
		t.Errorf("ClockSkew() = %v", a.ClockSkew())
	}
}

func TestParseMinimumExpiry(t *testing.T) {
	icNow := time.Date(2025, 5, 1, 23, 55, 18, 5_285_297, time.UTC)
	// What the replica (package envelope) writes.
	refusal := envelope.CheckIngressExpiry(uint64(icNow.Add(time.Hour).UnixNano()), icNow)
	if refusal == nil {
		t.Fatal("no refusal")
	}
	tests := []struct {
		body string
		want time.Time
		ok   bool
	}{
		{refusal.Error(), icNow, true},
		// As the IC words it (agent-js syncTime test).
		{"Invalid request expiry: Specified ingress_expiry not within expected range: Minimum allowed expiry: 2025-05-01 23:55:18.005285297 UTC, Maximum allowed expiry: 2025-05-02 00:00:48.005285297 UTC, Provided expiry: 2025-05-01 12:38:00 UTC", icNow, true},
		// Older replicas put each bound on its own line.
		{"Specified ingress_expiry not within expected range:\nMinimum allowed expiry: 2022-05-10 09:03:31.088945300 UTC\nMaximum allowed expiry: 2022-05-10 09:09:01.088945300 UTC", time.Date(2022, 5, 10, 9, 3, 31, 88945300, time.UTC), true},
		{"Minimum allowed expiry: 1746143718005285297, Maximum", icNow, true},
		{"Minimum allowed expiry: 2025-05-01 23:55:18 UTC", icNow.Truncate(time.Second), true},
		{"Invalid request expiry: something else", time.Time{}, false},
		{"Minimum allowed expiry: yesterday", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseMinimumExpiry(tt.body)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseMinimumExpiry(%q) = %v, %v; want %v, %v", tt.body, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := isExpiryRefusal(newHTTPError("u", 400, []byte(refusal.Error()))); !ok {
		t.Error("isExpiryRefusal does not recognize the replica's refusal")
	}
	if _, ok := isExpiryRefusal(newHTTPError("u", 403, []byte(refusal.Error()))); ok {
		t.Error("isExpiryRefusal accepts a 403")
	}
}

func TestErrorMessages(t *testing.T) {
	id, _ := requestid.Parse("edad510eaaa08ed2acd4781324e6446269da6753ec17760f206bbe81c465ff52")
	tests := []struct {
		err  error
		want string
	}{
		{&RejectError{Code: envelope.CanisterError, Message: "boom", ErrorCode: "IC0503", Certified: true, RequestID: id},
			"canister rejected the call: reject code 5 (CANISTER_ERROR), error code IC0503: boom"},
		{&RejectError{Code: envelope.CanisterReject, Message: "no"},
			"canister rejected the call: reject code 4 (CANISTER_REJECT), uncertified: no"},
		{newHTTPError("http://x/api/v2/status", 503, []byte("The service is overloaded.\n")),
			"agent: http://x/api/v2/status answered 503 Service Unavailable: The service is overloaded. (the IC is overloaded; retry later)"},
		{newHTTPError("http://x", 500, []byte(strings.Repeat("é", 1000))), "agent: http://x answered 500 Internal Server Error: " + strings.Repeat("é", 256)},
		{newHTTPError("http://x", 400, []byte{0xff, 'a'}), "agent: http://x answered 400 Bad Request: \uFFFDa"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q\nwant      %q", got, tt.want)
		}
	}
	if !newHTTPError("u", 429, nil).Temporary() || newHTTPError("u", 400, nil).Temporary() {
		t.Error("Temporary is wrong")
	}
}

func TestEncodeArgs(t *testing.T) {
	tests := []struct {
		arg  any
		want string
	}{
		{nil, "DIDL\x00\x00"},
		{Args{}, "DIDL\x00\x00"},
		{"hi", "DIDL\x00\x01\x71\x02hi"},
		{Args{"hi", uint64(1)}, "DIDL\x00\x02\x71\x78\x02hi\x01\x00\x00\x00\x00\x00\x00\x00"},
		{[]byte{1, 2}, "DIDL\x01\x6d\x7b\x01\x00\x02\x01\x02"},
	}
	for _, tt := range tests {
		got, err := encodeArgs("m", tt.arg)
		if err != nil || string(got) != tt.want {
			t.Errorf("encodeArgs(%#v) = %q, %v; want %q", tt.arg, got, err, tt.want)
		}
	}
	if _, err := encodeArgs("m", map[string]int{}); err == nil || !strings.Contains(err.Error(), "arguments of m") {
		t.Errorf("encodeArgs(map): %v", err)
	}
	var s string
	if err := decodeResults("m", []byte("DIDL\x00\x01\x71\x02hi"), []any{&s}); err != nil || s != "hi" {
		t.Errorf("decodeResults: %q, %v", s, err)
	}
	if err := decodeResults("m", []byte("DIDL\x00\x01\x71\x02hi"), []any{new(uint64)}); err == nil || !strings.Contains(err.Error(), "reply of m") {
		t.Errorf("decodeResults into the wrong type: %v", err)
	}
}

func TestCheckTag(t *testing.T) {
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{"", true},
		{"\xd9\xd9\xf7\xa0", true},
		{"\xa0", true},
		{"\xd9\x59\xf7\xa0", false},
		{"\xc2\x40", false},
		{"\xd9", false},
	} {
		if err := checkTag([]byte(tt.body)); (err == nil) != tt.ok {
			t.Errorf("checkTag(%x) = %v, want ok=%v", tt.body, err, tt.ok)
		}
	}
}

func TestNodeKeyCacheSharesOneFetch(t *testing.T) {
	var c nodeKeyCache
	var fetches atomic.Int32
	release, started := make(chan struct{}), make(chan struct{})
	var once sync.Once
	keys := &subnetKeys{}
	fetch := func(ctx context.Context) (*subnetKeys, error) {
		fetches.Add(1)
		once.Do(func() { close(started) })
		<-release
		return keys, nil
	}
	ecid := principal.CanisterID(1)
	const n = 50
	var wg sync.WaitGroup
	results := make(chan *subnetKeys, n)
	for range n {
		wg.Go(func() {
			k, err := c.get(context.Background(), ecid, time.Now, nil, fetch)
			if err != nil {
				t.Error(err)
			}
			results <- k
		})
	}
	// Wait until the fetch started, then let it finish.
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no fetch started")
	}
	close(release)
	wg.Wait()
	close(results)
	for k := range results {
		if k != keys {
			t.Error("a caller got other keys")
		}
	}
	if f := fetches.Load(); f != 1 {
		t.Errorf("%d fetches, want 1", f)
	}
	// Cached until it expires, unless the caller finds it stale.
	if _, err := c.get(context.Background(), ecid, time.Now, nil, fetch); err != nil || fetches.Load() != 1 {
		t.Errorf("cached get: %v, %d fetches", err, fetches.Load())
	}
	if _, err := c.get(context.Background(), ecid, time.Now, keys, fetch); err != nil || fetches.Load() != 2 {
		t.Errorf("stale get: %v, %d fetches", err, fetches.Load())
	}
	later := func() time.Time { return time.Now().Add(nodeKeyTTL + time.Second) }
	if _, err := c.get(context.Background(), ecid, later, nil, fetch); err != nil || fetches.Load() != 3 {
		t.Errorf("expired get: %v, %d fetches", err, fetches.Load())
	}
}

func TestNodeKeyCacheErrors(t *testing.T) {
	var c nodeKeyCache
	ecid := principal.CanisterID(1)
	boom := errors.New("boom")
	calls := 0
	failing := func(ctx context.Context) (*subnetKeys, error) { calls++; return nil, boom }
	for range 2 {
		if _, err := c.get(context.Background(), ecid, time.Now, nil, failing); !errors.Is(err, boom) {
			t.Fatalf("got %v, want boom", err)
		}
	}
	if calls != 2 {
		t.Errorf("%d fetches, want 2: a failure must not be cached", calls)
	}

	// A waiter whose leader gave up (its context ended) fetches with its own context.
	started := make(chan struct{})
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, err := c.get(leaderCtx, principal.CanisterID(2), time.Now, nil, func(ctx context.Context) (*subnetKeys, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})
		leaderDone <- err
	}()
	<-started
	waiterDone := make(chan error, 1)
	waiterStarted := make(chan struct{})
	go func() {
		close(waiterStarted)
		_, err := c.get(context.Background(), principal.CanisterID(2), time.Now, nil, func(ctx context.Context) (*subnetKeys, error) {
			return &subnetKeys{}, nil
		})
		waiterDone <- err
	}()
	<-waiterStarted
	cancel()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v", err)
	}
	if err := <-waiterDone; err != nil {
		t.Errorf("waiter: %v, want its own successful fetch", err)
	}
}

func TestIsMainnetHost(t *testing.T) {
	for host, want := range map[string]bool{
		"icp-api.io":       true,
		"icp0.io":          true,
		"ic0.app":          true,
		"boundary.ic0.app": true,
		"ICP-API.IO":       true,
		"127.0.0.1":        false,
		"icp-api.io.evil":  false,
		"noticp0.io":       false,
		"":                 false,
	} {
		if got := IsMainnetHost(host); got != want {
			t.Errorf("IsMainnetHost(%q) = %v, want %v", host, got, want)
		}
	}
}
