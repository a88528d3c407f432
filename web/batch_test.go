package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/cdk"
	cdkws "github.com/icws/icws/cdk/websocket"
	"github.com/icws/icws/gateway"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/internal/relay"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// newManyEcho is a test canister whose app message "many t1,t2,…" sends each text back to the
// client in one update, so that they come in one poll batch: one S9 frame to a client that opted
// in. Any other message is echoed. Heartbeats every second.
func newManyEcho() *cdk.Canister {
	var s *cdkws.Server
	s = cdkws.New(cdkws.Config{
		OnMessage: func(ic cdk.System, client uint64, payload []byte) {
			out := [][]byte{payload}
			if m, err := protocol.DecodeAppMessage(payload); err == nil && strings.HasPrefix(m.Text, "many ") {
				out = out[:0]
				for _, t := range strings.Split(strings.TrimPrefix(m.Text, "many "), ",") {
					out = append(out, protocol.AppMessage{Text: t}.Marshal())
				}
			}
			for _, p := range out {
				if err := s.Send(ic, client, p); err != nil {
					ic.Trap(err.Error())
				}
			}
		},
		HeartbeatInterval: time.Second,
		TickInterval:      250 * time.Millisecond,
	})
	c := &cdk.Canister{}
	s.Register(c)
	return c
}

// batchWatch records, per relay path, what went through it: the batch key of each client's S2
// and how many S9 frames of three or more messages reached the browser.
type batchWatch struct {
	mu     sync.Mutex
	s2     map[string][]uint64
	frames map[string]int
}

func (w *batchWatch) policy(path string, drop bool) func() relay.Policy {
	return func() relay.Policy {
		dropped := false
		return relay.Policy{
			Up: func(f *relay.Frame) relay.Action {
				if f.N == 0 {
					if s2, err := protocol.DecodeSignedFirstMessage(f.Data); err == nil {
						w.mu.Lock()
						w.s2[path] = append(w.s2[path], s2.Batch)
						w.mu.Unlock()
					}
				}
				return relay.Pass
			},
			Down: func(f *relay.Frame) relay.Action {
				if !f.Batch {
					return relay.Pass
				}
				if f.Part == 0 {
					if bf, err := protocol.DecodeBatchFrame(f.Data); err == nil && len(bf.Vals) >= 3 {
						w.mu.Lock()
						w.frames[path]++
						w.mu.Unlock()
					}
				}
				if am, err := protocol.DecodeAppMessage(f.Msg.Message); drop && !dropped && f.App() && err == nil && am.Text == "b" {
					dropped = true // b, inside the S9 of a, b, c: a gap
					return relay.Drop
				}
				return relay.Pass
			},
		}
	}
}

// editProxy relays to target, passing each S9 frame of three or more messages from the gateway
// through edit, which returns the frames to send in its place.
func editProxy(t *testing.T, target string, edit func(f protocol.BatchFrame, raw []byte) [][]byte) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := http.Header{}
		if o := req.Header.Get("Origin"); o != "" {
			h.Set("Origin", o)
		}
		gw, _, err := websocket.DefaultDialer.DialContext(req.Context(), target, h)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		page, err := up.Upgrade(w, req, nil)
		if err != nil {
			gw.Close()
			return
		}
		done := make(chan struct{}, 2)
		go func() { relayFrames(page, gw, nil); done <- struct{}{} }()
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				typ, data, err := gw.ReadMessage()
				if err != nil {
					code := websocket.CloseGoingAway
					var ce *websocket.CloseError
					if errors.As(err, &ce) {
						code = ce.Code
					}
					_ = page.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
					return
				}
				out := [][]byte{data}
				if bf, err := protocol.DecodeBatchFrame(data); err == nil && len(bf.Vals) >= 3 {
					out = edit(bf, data)
				}
				for _, d := range out {
					if err := page.WriteMessage(typ, d); err != nil {
						return
					}
				}
			}
		}()
		<-done
		gw.Close()
		page.Close()
		<-done
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBatchFramesBrowser runs the browser client (web/dist/icws.js) in headless Chromium against
// a real replica and gateway with S9 batched frames (docs/PROTOCOL.md §13), on by default: three
// messages of one update come in one S9 and arrive verified and in order, twice over; with
// batchFrames false the client asks for S6 frames and gets the same. Relays that change an S9
// are caught: one that drops a message inside it (internal/relay) is a gap after the messages
// before it, one that swaps two values or forges a byte (the tamper relay) is tampered, and one
// that sends a frame again gets its messages dropped as replays, each delivered once.
func TestBatchFramesBrowser(t *testing.T) {
	node := requireNode(t, true)
	ctx := t.Context()
	r, err := replica.Start(ctx, replica.Config{Canisters: []replica.CanisterSpec{{Name: "many", New: newManyEcho}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	canister, _ := r.CanisterID("many")

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<!doctype html><title>batch</title>"))
	})
	mux.HandleFunc("/icws.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFileFS(w, r, Assets(), "icws.js") })
	mux.HandleFunc("/batch-run.mjs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, "test/batch-run.mjs")
	})
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)

	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	// A poll every 100 ms: an update's messages are in the canister's queue together by then.
	g, err := gateway.New(gateway.Config{URL: r.URL(), Identity: id, RootKey: r.RootKey(), PollInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), AllowedOrigins: []string{page.URL}})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(g.Handler())
	t.Cleanup(gw.Close)
	gwURL := "ws" + strings.TrimPrefix(gw.URL, "http")
	wsURL := func(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }

	watch := &batchWatch{s2: map[string][]uint64{}, frames: map[string]int{}}
	relays := http.NewServeMux()
	relays.Handle("/plain", &relay.Relay{Target: gwURL, Policy: watch.policy("/plain", false)})
	relays.Handle("/single", &relay.Relay{Target: gwURL, Policy: watch.policy("/single", false)})
	relays.Handle("/drop", &relay.Relay{Target: gwURL, Policy: watch.policy("/drop", true)})
	relays.Handle("/forge", newTamperRelay(gwURL, slog.New(slog.DiscardHandler)))
	relaySrv := httptest.NewServer(relays)
	t.Cleanup(relaySrv.Close)
	swap := editProxy(t, gwURL, func(f protocol.BatchFrame, _ []byte) [][]byte {
		f.Vals[0], f.Vals[1] = f.Vals[1], f.Vals[0]
		return [][]byte{f.Marshal()}
	})
	replay := editProxy(t, gwURL, func(f protocol.BatchFrame, raw []byte) [][]byte {
		one := f
		one.Nonces, one.Vals = f.Nonces[1:2], f.Vals[1:2]
		return [][]byte{raw, one.Marshal(), raw} // the frame, its second message alone, the frame again
	})

	cfg, err := json.Marshal(map[string]string{
		"page": page.URL, "chromium": chromiumPath, "script": "/batch-run.mjs", "ic": r.URL(), "canister": canister.String(),
		"plain": wsURL(relaySrv) + "/plain", "single": wsURL(relaySrv) + "/single", "drop": wsURL(relaySrv) + "/drop",
		"forge": wsURL(relaySrv) + "/forge", "swap": wsURL(swap), "replay": wsURL(replay),
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := runNode(t, node, 2*time.Minute, "test/channels-browser.mjs", string(cfg))
	var res struct {
		Modes map[string]struct {
			Got    []string
			Errors []struct{ Name, Kind, Message string }
		}
		Failure string
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("batch-run.mjs printed %q: %v", raw, err)
	}
	if res.Failure != "" {
		t.Fatalf("batch-run.mjs: %s\n%s", res.Failure, raw)
	}
	for _, tc := range []struct {
		mode string
		got  string
		kind string // the fatal error's kind; "" for none
	}{
		{"plain", "a,b,c,d,e,f", ""},
		{"single", "a,b,c,d,e,f", ""},
		{"replay", "a,b,c,d,e,f", ""},
		{"drop", "a", "gap"},
		{"swap", "", "tampered"},
		{"forge", "", "tampered"},
	} {
		m := res.Modes[tc.mode]
		if got := strings.Join(m.Got, ","); got != tc.got {
			t.Errorf("%s: delivered %q, want %q", tc.mode, got, tc.got)
		}
		var fatal []string
		replays := 0
		for _, e := range m.Errors {
			switch {
			case e.Name == "VerifyError" && e.Kind == "replay":
				replays++
			default:
				fatal = append(fatal, e.Kind+": "+e.Message)
			}
		}
		switch {
		case tc.kind == "" && len(fatal) > 0:
			t.Errorf("%s: errors %q, want none", tc.mode, fatal)
		case tc.kind != "" && (len(fatal) != 1 || !strings.HasPrefix(fatal[0], tc.kind+": ")):
			t.Errorf("%s: errors %q, want one %s", tc.mode, fatal, tc.kind)
		}
		if tc.mode == "replay" && replays < 3 {
			t.Errorf("replay: %d replays reported, want at least 3 (the second message alone, the frame again)", replays)
		}
	}
	watch.mu.Lock()
	defer watch.mu.Unlock()
	for path, want := range map[string]uint64{"/plain": protocol.BatchFrames, "/single": 0, "/drop": protocol.BatchFrames} {
		if s2 := watch.s2[path]; len(s2) != 1 || s2[0] != want {
			t.Errorf("%s: the clients' S2 batch keys %v, want [%d]", path, s2, want)
		}
	}
	if watch.frames["/plain"] < 2 || watch.frames["/drop"] < 1 {
		t.Errorf("S9 frames of three messages: %v, want two through /plain and one through /drop", watch.frames)
	}
	if watch.frames["/single"] != 0 {
		t.Errorf("/single: %d S9 frames reached a client that asked for S6 frames", watch.frames["/single"])
	}
}
