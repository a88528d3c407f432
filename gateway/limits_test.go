package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestConnLimiter(t *testing.T) {
	l := newConnLimiter(3, 2)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	steps := []struct {
		ip     netip.Addr
		ok     bool
		reason refusal
	}{
		{a, true, 0}, {a, true, 0}, {a, false, refusedMaxPerIP}, {b, true, 0}, {b, false, refusedMaxConnections},
	}
	for i, s := range steps {
		reason, ok := l.acquire(s.ip)
		if ok != s.ok || (!ok && reason != s.reason) {
			t.Fatalf("step %d: acquire = %v, %v; want %v, %v", i, reason, ok, s.reason, s.ok)
		}
	}
	l.release(a)
	if _, ok := l.acquire(b); !ok {
		t.Fatal("a released slot was not reusable")
	}
	l.release(a)
	l.release(b)
	l.release(b)
	if total, addrs := l.counts(); total != 0 || addrs != 0 {
		t.Fatalf("after release: total %d, addresses %d", total, addrs)
	}
	unlimited := newConnLimiter(-1, -1)
	for i := 0; i < 1000; i++ {
		if _, ok := unlimited.acquire(a); !ok {
			t.Fatal("unlimited limiter refused")
		}
	}
}

func TestRemoteIP(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:5000":        "127.0.0.1",
		"[::ffff:10.1.2.3]:80":  "10.1.2.3",
		"[2001:db8::1]:443":     "2001:db8::1",
		"not an address at all": "invalid IP",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		if got := remoteIP(r).String(); got != want {
			t.Errorf("remoteIP(%q) = %s, want %s", addr, got, want)
		}
	}
}

func TestNormalizeOrigin(t *testing.T) {
	for _, tc := range []struct {
		in, want, problem string
	}{
		{"http://localhost:5173", "http://localhost:5173", ""},
		{"https://App.Example.org/", "https://app.example.org", ""},
		{"HTTPS://app.example.org:443", "https://app.example.org", ""},
		{"http://127.0.0.1:80", "http://127.0.0.1", ""},
		{"http://[::1]:5173", "http://[::1]:5173", ""},
		{"chrome-extension://abcdef", "chrome-extension://abcdef", ""},
		{"localhost:5173", "", "no scheme"},
		{"127.0.0.1:5173", "", "no scheme"},
		{"http://", "", "no host"},
		{"https://:443", "", "no host"},
		{"http://bücher.example", "", "punycode"},
		{"http://a b", "", "not printable ASCII"},
		{"a://%80", "", "no percent-escapes"},
		{"http://localhost:5173#", "", "no path or query"},
		{"http://localhost:5173/app", "", "no path"},
		{"http://localhost:5173?x=1", "", "no path or query"},
		{"http://u:p@localhost:5173", "", "no user info"},
		{"https://*.example.org", "", "wildcards are not supported"},
		{"http://localhost:0", "", "port 0"},
		{"http://localhost:99999", "", "port 99999"},
	} {
		got, err := NormalizeOrigin(tc.in)
		if tc.problem == "" {
			if err != nil || got != tc.want {
				t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		var oe *OriginError
		if !errors.As(err, &oe) || oe.Origin != tc.in || !strings.Contains(err.Error(), tc.problem) ||
			!strings.Contains(err.Error(), "want scheme://host[:port], such as http://127.0.0.1:5173") {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want an *OriginError saying %q and the form to use", tc.in, got, err, tc.problem)
		}
	}
}

func TestOriginChecker(t *testing.T) {
	if _, err := newOriginChecker([]string{"localhost:5173"}); err == nil || !strings.Contains(err.Error(), `"localhost:5173" is not a web origin (no scheme)`) {
		t.Errorf("an origin without a scheme: %v", err)
	}
	list, err := newOriginChecker([]string{"http://localhost:5173", " https://App.Example.org/ "})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := newOriginChecker(nil)
	if err != nil {
		t.Fatal(err)
	}
	star, err := newOriginChecker([]string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	const host = "gw.example:8080" // the host the requests are addressed to
	for _, tc := range []struct {
		origin            string
		list, empty, star bool
	}{
		{"", true, true, true}, // not a browser
		{"http://localhost:5173", true, false, true},
		{"https://app.example.org", true, false, true},
		{"https://app.example.org:443", true, false, true},
		{"http://localhost:5174", false, false, true},
		{"https://evil.example", false, false, true},
		{"null", false, false, true},
		{"http://gw.example:8080", true, true, true},  // same origin
		{"https://GW.example:8080", true, true, true}, // same host behind a TLS proxy
		{"http://gw.example:8081", false, false, true},
	} {
		r := httptest.NewRequest("GET", "http://"+host+"/", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		for _, c := range []struct {
			name string
			c    *originChecker
			want bool
		}{{"list", list, tc.list}, {"empty", empty, tc.empty}, {"star", star, tc.star}} {
			if o, got := c.c.allow(r); got != c.want || o != tc.origin {
				t.Errorf("%s: allow(Origin %q) = %q, %v; want %v", c.name, tc.origin, o, got, c.want)
			}
		}
	}
}

func TestOriginRefusal(t *testing.T) {
	for _, tc := range []struct{ origin, want string }{
		{"http://127.0.0.1:5173", "origin http://127.0.0.1:5173 is not allowed: start the gateway with --allowed-origins http://127.0.0.1:5173"},
		{"https://a-rather-long-name.example.org", "origin https://a-rather-long-name.example.org is not allowed: add it to the gateway's --allowed-origins"},
		{"https://" + strings.Repeat("x", 100) + ".org", "origin https://" + strings.Repeat("x", 47) + "... is not allowed: add it to the gateway's --allowed-origins"},
		{"http://\xff\xfe", "origin http://? is not allowed: serve the page from an origin in the gateway's --allowed-origins"},
		{"null", "origin null is not allowed: serve the page from an origin in the gateway's --allowed-origins"},
		{strings.Repeat("0", 40), "origin " + strings.Repeat("0", 32) + "... is not allowed: serve the page from an origin in the gateway's --allowed-origins"},
	} {
		got := originRefusal(tc.origin)
		if got != tc.want || len(got) > maxReasonBytes {
			t.Errorf("originRefusal(%q) = %q (%d bytes)\nwant %q", tc.origin, got, len(got), tc.want)
		}
	}
}

func TestKeyCache(t *testing.T) {
	c := newKeyCache(2)
	r := func(id uint64) clientRef { return clientRef{testCanister, id} }
	c.put(r(1), []byte{1})
	c.put(r(2), []byte{2})
	c.get(r(1)) // 2 is now the least recently used
	c.put(r(3), []byte{3})
	if _, ok := c.get(r(2)); ok {
		t.Error("the least recently used entry was kept")
	}
	if k, ok := c.get(r(1)); !ok || k[0] != 1 {
		t.Error("a recently used entry was evicted")
	}
	c.remove(r(1))
	if _, ok := c.get(r(1)); ok || c.len() != 1 {
		t.Errorf("after remove: len %d", c.len())
	}
	off := newKeyCache(0)
	off.put(r(1), []byte{1})
	if off.len() != 0 {
		t.Error("a zero-size cache stored an entry")
	}
}

func TestSendQueue(t *testing.T) {
	q := newSendQueue(3)
	b := &batch{}
	for i := 0; i < 3; i++ {
		if !q.push(outFrame{b: b, i: i}) {
			t.Fatalf("push %d refused", i)
		}
	}
	if q.push(outFrame{b: b, i: 3}) {
		t.Fatal("push past the bound accepted")
	}
	items := q.take()
	if len(items) != 3 || items[2].i != 2 || q.len() != 0 {
		t.Fatalf("take = %v", items)
	}
	q.recycle(items)
	if !q.push(outFrame{b: b, i: 9}) || q.len() != 1 {
		t.Fatal("push after take")
	}
	allocs := testing.AllocsPerRun(100, func() {
		q.push(outFrame{b: b})
		q.recycle(q.take())
	})
	if allocs != 0 {
		t.Errorf("steady push/take allocates %v times", allocs)
	}
}

// TestMetricsExposition checks that every line of the metrics page is valid text exposition and
// that histograms are cumulative.
func TestMetricsExposition(t *testing.T) {
	m := newMetrics()
	m.connections.inc()
	m.results[methodOpen][resultReject].inc()
	m.closeCode(4003)
	m.closeCode(3999)
	m.pollDuration.observe(3 * time.Millisecond)
	m.pollDuration.observe(2 * time.Second)
	m.pollDuration.observe(time.Minute)
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	line := regexp.MustCompile(`^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[^"]*"(,le="[^"]+")?\}|\{le="[^"]+"\})? -?[0-9.e+-]+)$`)
	want := map[string]bool{
		"icws_gateway_connections 1":                                      false,
		`icws_gateway_ws_open_total{result="reject"} 1`:                   false,
		`icws_gateway_closes_total{code="4003"} 1`:                        false,
		`icws_gateway_closes_total{code="other"} 1`:                       false,
		`icws_gateway_poll_duration_seconds_bucket{le="0.005"} 1`:         false,
		`icws_gateway_poll_duration_seconds_bucket{le="2.5"} 2`:           false,
		`icws_gateway_poll_duration_seconds_bucket{le="+Inf"} 3`:          false,
		`icws_gateway_poll_duration_seconds_count 3`:                      false,
		`icws_gateway_poll_duration_seconds_sum 62.003`:                   false,
		`icws_gateway_ic_call_duration_seconds_count{method="ws_open"} 0`: false,
	}
	sc := bufio.NewScanner(bytes.NewReader(rec.Body.Bytes()))
	for sc.Scan() {
		l := sc.Text()
		if !line.MatchString(l) {
			t.Errorf("bad exposition line %q", l)
		}
		if _, ok := want[l]; ok {
			want[l] = true
		}
	}
	for l, seen := range want {
		if !seen {
			t.Errorf("missing line %q", l)
		}
	}
}

func TestHandlerEndpoints(t *testing.T) {
	g := newTestGateway(t, Config{}, func(gw string) canisterAPI { return &fakeIC{gateway: gw} })
	h, mh := g.Handler(), g.MetricsHandler()
	for _, tt := range []struct {
		h      http.Handler
		path   string
		status int
	}{
		{h, "/healthz", 200}, {h, "/readyz", 200}, {h, "/", http.StatusUpgradeRequired},
		{mh, "/metrics", 200}, {mh, "/healthz", 200}, {mh, "/readyz", 200}, {mh, "/", 404},
	} {
		rec := httptest.NewRecorder()
		tt.h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.path, rec.Code, tt.status)
		}
	}
	for i := 0; i < icFailThreshold; i++ {
		g.icDown(errTransport)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "fake transport failure") {
		t.Errorf("readyz with the IC down: %d %q", rec.Code, rec.Body.String())
	}
	g.icUp()
	if err := g.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 {
		t.Errorf("readyz after shutdown: %d", rec.Code)
	}
}

// FuzzOrigin feeds Origin headers (outside bytes) to the checker and the refusal: neither panics,
// a normalized origin is a fixed point, and the refusal is a valid Close reason (UTF-8, at most
// 123 bytes) that names the flag.
func FuzzOrigin(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:5173", "https://App.Example.org:443/", "null", "", "http://[::1]:80",
		"http://\xff", "chrome-extension://abc", "https://" + strings.Repeat("é", 80) + ".org", "http://a:0", "x://y?z#w"} {
		f.Add(s)
	}
	c, err := newOriginChecker([]string{"http://127.0.0.1:5173"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		if norm, err := NormalizeOrigin(origin); err == nil {
			if again, err := NormalizeOrigin(norm); err != nil || again != norm {
				t.Fatalf("NormalizeOrigin(%q) = %q, then %q, %v", origin, norm, again, err)
			}
		}
		r := httptest.NewRequest("GET", "http://gw.example:8080/", nil)
		r.Header.Set("Origin", origin)
		if o, _ := c.allow(r); o != r.Header.Get("Origin") {
			t.Fatalf("allow returned origin %q for %q", o, origin)
		}
		reason := originRefusal(origin)
		if len(reason) > maxReasonBytes || !utf8.ValidString(reason) || !strings.Contains(reason, "--allowed-origins") {
			t.Fatalf("originRefusal(%q) = %q (%d bytes)", origin, reason, len(reason))
		}
	})
}
