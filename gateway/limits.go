package gateway

import (
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
	any     bool            // "*" was listed, or the list is empty
	origins map[string]bool // lower-cased scheme://host[:port]
}

// newOriginChecker builds a checker from an allow-list of origins such as
// "http://localhost:5173" or "https://app.example.org"; "*" allows every origin, and so does an
// empty list. Origins are compared without case; a trailing slash is ignored.
func newOriginChecker(allowed []string) (*originChecker, error) {
	c := &originChecker{any: len(allowed) == 0, origins: make(map[string]bool)}
	for _, o := range allowed {
		o = strings.TrimSpace(o)
		if o == "*" {
			c.any = true
			continue
		}
		norm, err := normalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		c.origins[norm] = true
	}
	return c, nil
}

func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return "", &originError{origin: o}
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

type originError struct{ origin string }

func (e *originError) Error() string {
	return "gateway: allowed origin " + strconv.Quote(e.origin) + " is not of the form scheme://host[:port]"
}

// allow reports whether r may be upgraded. A request without an Origin header does not come from
// a browser page (a browser always sends one on a WebSocket handshake) and is allowed: the check
// protects the gateway from other websites, not from programs, which can send any header.
func (c *originChecker) allow(r *http.Request) bool {
	if c.any {
		return true
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	norm, err := normalizeOrigin(o)
	if err != nil {
		return false
	}
	return c.origins[norm]
}
