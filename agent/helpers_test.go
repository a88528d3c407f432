package agent

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/envelope"
)

// readHex reads a hex file from testdata.
func readHex(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// fixedClock returns a clock stopped at the given RFC 3339 time.
func fixedClock(t testing.TB, at string) func() time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		t.Fatal(err)
	}
	return func() time.Time { return tm }
}

// certServer serves a recorded certificate as the answer to every read_state request, on a
// loopback port, and counts the requests.
type certServer struct {
	*httptest.Server
	requests chan string // paths of the requests, buffered
}

func newCertServer(t testing.TB, cert []byte) *certServer {
	t.Helper()
	body, err := cbor.Marshal(envelope.ReadStateResponse{Certificate: cert})
	if err != nil {
		t.Fatal(err)
	}
	s := &certServer{requests: make(chan string, 1000)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.requests <- r.URL.Path:
		default:
		}
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/read_state") {
			http.NotFound(w, r)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/cbor" {
			http.Error(w, "Unexpected content-type, expected application/cbor.", http.StatusBadRequest)
			return
		}
		req, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if _, err := envelope.Decode(req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/cbor")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// checkNoGoroutineLeak fails the test if, after cleanup, more goroutines run than before it
// started. It waits a bounded time for goroutines that are finishing.
func checkNoGoroutineLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		var now int
		for {
			now = runtime.NumGoroutine()
			if now <= before || time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
			time.Sleep(10 * time.Millisecond)
		}
		if now > before {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Errorf("%d goroutines before the test, %d after:\n%s", before, now, buf[:n])
		}
	})
}

// testContext returns a context bounded by the test's deadline or a minute.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
