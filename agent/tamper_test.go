package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxyAction says what a test proxy does with a request.
type proxyAction int

const (
	proxyPass        proxyAction = iota // forward it
	proxyNotFound                       // answer 404, as a replica without the endpoint
	proxyAccepted                       // forward it, but answer 202 with no body
	proxyDropped                        // do not forward it; answer 202 with no body
	proxyUnavailable                    // answer 503, as an overloaded boundary node
)

// newProxy starts a loopback reverse proxy to target. route (if not nil) decides per request
// path; modify (if not nil) may replace the body of each answer.
func newProxy(t testing.TB, target string, route func(path string) proxyAction, modify func(path string, body []byte) []byte) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	if modify != nil {
		rp.ModifyResponse = func(res *http.Response) error {
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				return err
			}
			body = modify(res.Request.URL.Path, body)
			res.Body = io.NopCloser(bytes.NewReader(body))
			res.ContentLength = int64(len(body))
			res.Header.Set("Content-Length", strconv.Itoa(len(body)))
			return nil
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := proxyPass
		if route != nil {
			action = route(r.URL.Path)
		}
		switch action {
		case proxyNotFound:
			http.NotFound(w, r)
		case proxyAccepted:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			w.WriteHeader(http.StatusAccepted)
		case proxyDropped:
			w.WriteHeader(http.StatusAccepted)
		case proxyUnavailable:
			http.Error(w, "The service is overloaded.", http.StatusServiceUnavailable)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A man in the middle who flips one byte of an answer must never get a result accepted: every
// operation fails with ErrUntrusted or ErrInvalidResponse, for every position of the flip (every
// seventh position with -short).
func TestReplicaTamperedResponses(t *testing.T) {
	r := startReplica(t, 0)
	isV3Call := func(p string) bool { return strings.HasPrefix(p, "/api/v3/") && strings.HasSuffix(p, "/call") }
	isQuery := func(p string) bool { return strings.HasSuffix(p, "/query") }
	isReadState := func(p string) bool { return strings.HasSuffix(p, "/read_state") }
	greet := func(ctx context.Context, a *Agent) (string, error) {
		var s string
		err := a.Call(ctx, r.canister, "greet", "tamper", &s)
		return s, err
	}
	greetQuery := func(ctx context.Context, a *Agent) (string, error) {
		var s string
		err := a.Query(ctx, r.canister, "greet_q", "tamper", &s)
		return s, err
	}
	kinds := []struct {
		name  string
		match func(path string) bool // which answers are tampered with
		noV3  bool                   // the proxy hides /api/v3, so calls poll with read_state
		op    func(context.Context, *Agent) (string, error)
		want  string
	}{
		{"v3 call answer", isV3Call, false, greet, "Hello, tamper!"},
		{"query answer", isQuery, false, greetQuery, "Hello, tamper!"},
		{"node keys read_state", isReadState, false, greetQuery, "Hello, tamper!"},
		{"v2 call status read_state", isReadState, true, greet, "Hello, tamper!"},
		{"read_state /time", isReadState, false, func(ctx context.Context, a *Agent) (string, error) {
			c, err := a.ReadState(ctx, r.canister, timePaths)
			if err != nil {
				return "", err
			}
			tm, err := c.Time()
			return tm.Format(time.DateOnly), err
		}, time.Now().UTC().Format(time.DateOnly)},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			ctx := testContext(t)
			route := func(path string) proxyAction {
				if k.noV3 && strings.HasPrefix(path, "/api/v3/") {
					return proxyNotFound
				}
				return proxyPass
			}
			// An honest run, to learn the length of the answers to tamper with.
			var mu sync.Mutex
			size := 0
			honest := newProxy(t, r.URL(), route, func(path string, body []byte) []byte {
				if k.match(path) {
					mu.Lock()
					size = max(size, len(body))
					mu.Unlock()
				}
				return body
			})
			a := newAgent(t, honest.URL, Config{RootKey: r.RootKey(), Identity: testIdentity(t), PollInterval: time.Millisecond})
			if got, err := k.op(ctx, a); err != nil || got != k.want {
				t.Fatalf("untampered: %q, %v; want %q", got, err, k.want)
			}
			if size == 0 {
				t.Fatal("no answer to tamper with passed the proxy")
			}
			// The flipped position is set per run; runs are sequential.
			var pos, flips atomic.Int64
			flipAt := func(p int) byte { return byte(0x01) << (7 * (p % 2)) } // 0x01, 0x80, ...
			evil := newProxy(t, r.URL(), route, func(path string, body []byte) []byte {
				if p := int(pos.Load()); k.match(path) && p < len(body) {
					body = bytes.Clone(body)
					body[p] ^= flipAt(p)
					flips.Add(1)
				}
				return body
			})
			refused, untouched := 0, 0
			stride := 1
			if testing.Short() {
				stride = 7
			}
			for p := 0; p < size; p += stride {
				pos.Store(int64(p))
				flips.Store(0)
				flip := flipAt(p)
				// A new agent each time, with no cached node keys.
				a, err := New(Config{URL: evil.URL, RootKey: r.RootKey(), Identity: testIdentity(t), PollInterval: time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				got, err := k.op(ctx, a)
				a.CloseIdleConnections()
				switch {
				case flips.Load() == 0:
					// The answers of this run were all shorter than pos: nothing was tampered with.
					untouched++
				case err == nil:
					t.Errorf("byte %d of %d flipped (^%#x): accepted, result %q", p, size, flip, got)
				case !errors.Is(err, ErrUntrusted) && !errors.Is(err, ErrInvalidResponse):
					t.Errorf("byte %d of %d flipped (^%#x): refused, but with an unexpected error: %v", p, size, flip, err)
				default:
					refused++
				}
			}
			t.Logf("%d single-byte flips refused, out of %d positions (%d runs had shorter answers)", refused, size, untouched)
			if refused < size/stride/2 {
				t.Errorf("only %d runs were tampered with", refused)
			}
		})
	}
}
