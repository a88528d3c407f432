package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// connLimiter caps open connections, in total and per client IP address. A slot is taken before
// the WebSocket upgrade, so a refused connection costs one HTTP response and nothing more.
type connLimiter struct {
	max, maxPerIP int // <= 0: no limit

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int // only addresses with at least one connection
}

func newConnLimiter(max, maxPerIP int) *connLimiter {
	return &connLimiter{max: max, maxPerIP: maxPerIP, perIP: make(map[netip.Addr]int)}
}

// acquire takes a slot for ip. When it returns ok, release(ip) must be called exactly once.
func (l *connLimiter) acquire(ip netip.Addr) (reason refusal, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return refusedMaxConnections, false
	}
	n := l.perIP[ip]
	if l.maxPerIP > 0 && n >= l.maxPerIP {
		return refusedMaxPerIP, false
	}
	l.total++
	l.perIP[ip] = n + 1
	return 0, true
}

// release gives back a slot taken by acquire.
func (l *connLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.perIP[ip]; n <= 1 {
		delete(l.perIP, ip)
	} else {
		l.perIP[ip] = n - 1
	}
}

// counts returns the total and the number of distinct addresses, for tests.
func (l *connLimiter) counts() (total, addrs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, len(l.perIP)
}

// remoteIP is the client address of r: the host part of RemoteAddr, IPv4-mapped IPv6 addresses
// unmapped. Proxy headers such as X-Forwarded-For are not trusted: behind a reverse proxy every
// client shares the proxy's address, and the per-IP cap must be set with that in mind.
func remoteIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{} // one shared bucket for unparsable addresses
	}
	return a.Unmap()
}

// originChecker decides whether a browser's Origin may open a WebSocket.
type originChecker struct {
	any     bool            // "*" was listed
	origins map[string]bool // NormalizeOrigin of each listed origin
}

// newOriginChecker builds a checker from an allow-list of origins such as
// "http://localhost:5173" or "https://app.example.org"; "*" allows every origin. An empty list
// allows none but the gateway's own (same-origin pages). Origins are compared as NormalizeOrigin
// writes them.
func newOriginChecker(allowed []string) (*originChecker, error) {
	c := &originChecker{origins: make(map[string]bool)}
	for _, o := range allowed {
		o = strings.TrimSpace(o)
		if o == "*" {
			c.any = true
			continue
		}
		norm, err := NormalizeOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("gateway: allowed origins: %w", err)
		}
		c.origins[norm] = true
	}
	return c, nil
}

// OriginError is an allowed origin that is not of the form scheme://host[:port].
type OriginError struct {
	// Origin is the text as given.
	Origin string
	// Problem says what is wrong with it.
	Problem string
}

// Error implements error. It shows the form an origin must have.
func (e *OriginError) Error() string {
	return strconv.Quote(e.Origin) + " is not a web origin (" + e.Problem +
		"): want scheme://host[:port], such as http://127.0.0.1:5173 or https://app.example.org, or '*' for every origin"
}

// NormalizeOrigin checks that o is a web origin, scheme://host[:port] as browsers send it in the
// Origin header, and returns it in lower case without a trailing slash or the scheme's default
// port ("HTTPS://App.Example.org:443/" is "https://app.example.org"). It returns an *OriginError
// for anything else: a missing scheme, a path, a query, user info or a wildcard.
func NormalizeOrigin(o string) (string, error) {
	bad := func(problem string) (string, error) { return "", &OriginError{Origin: o, Problem: problem} }
	for _, r := range o {
		if r <= ' ' || r > '~' {
			return bad("not printable ASCII: browsers send international names in punycode, xn--…")
		}
	}
	if strings.Contains(o, "%") {
		return bad("no percent-escapes: browsers send origins without them")
	}
	if strings.Contains(o, "*") {
		return bad("wildcards are not supported: list each origin, or pass '*' alone")
	}
	if !strings.Contains(o, "://") {
		return bad("no scheme")
	}
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	switch {
	case err != nil:
		return bad("it does not parse")
	case u.Scheme == "" || u.Hostname() == "":
		return bad("no host")
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || strings.Contains(o, "#"):
		return bad("an origin has no path or query")
	case u.User != nil:
		return bad("an origin has no user info")
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return bad("port " + p + " is not 1 to 65535")
		}
	}
	if def := map[string]string{"http": ":80", "https": ":443", "ws": ":80", "wss": ":443"}[scheme]; def != "" {
		host = strings.TrimSuffix(host, def)
	}
	return scheme + "://" + host, nil
}

// allow reports whether r may be upgraded, and its Origin header. A request without an Origin
// header does not come from a browser page (a browser always sends one on a WebSocket
// handshake) and is allowed: the check protects the gateway from other websites, not from
// programs, which can send any header. A page served by the gateway's own host (same origin) is
// allowed too.
func (c *originChecker) allow(r *http.Request) (string, bool) {
	o := r.Header.Get("Origin")
	if c.any || o == "" {
		return o, true
	}
	norm, err := NormalizeOrigin(o)
	if err != nil {
		return o, false // "null" (a file or a sandboxed frame) and other non-origins
	}
	if c.origins[norm] {
		return o, true
	}
	// Same origin: the host the page came from is the one this request is addressed to (the
	// scheme may differ behind a TLS-terminating proxy, as gorilla/websocket's own check allows).
	self, err := NormalizeOrigin("http://" + r.Host)
	_, host, _ := strings.Cut(norm, "://")
	return o, err == nil && strings.TrimPrefix(self, "http://") == host
}

// originRefusal is the reason of the Close frame that refuses origin: it names the origin and
// the gateway setting that would allow it (or, for what is no origin, such as "null", where to
// serve the page from). A long origin is cut so that the reason fits a Close frame (123 bytes).
func originRefusal(origin string) string {
	_, err := NormalizeOrigin(origin)
	origin = strings.ToValidUTF8(origin, "?") // a Close reason must be UTF-8
	fit := func(suffix string) string {
		o := origin
		if room := maxReasonBytes - len("origin ") - len(suffix); len(o) > room {
			o = truncate(o, room-len("...")) + "..."
		}
		return "origin " + o + suffix
	}
	if err != nil { // "null": a file, a sandboxed frame
		return fit(" is not allowed: serve the page from an origin in the gateway's --allowed-origins")
	}
	if r := "origin " + origin + " is not allowed: start the gateway with --allowed-origins " + origin; len(r) <= maxReasonBytes {
		return r
	}
	return fit(" is not allowed: add it to the gateway's --allowed-origins")
}
