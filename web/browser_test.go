package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/gateway"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/internal/testenv"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// chromiumPath is where Debian's chromium package puts the browser (.ci/run installs it).
const chromiumPath = "/usr/bin/chromium"

// browserTimeout bounds the whole browser run.
const browserTimeout = 3 * time.Minute

// requireNode returns the node binary after checking that Node.js and the npm packages are
// installed (testenv: a skip, or a failure under ICWS_REQUIRE_NPM) and, for the browser tests,
// Chromium (a failure: scripts/test.sh installs it).
func requireNode(t *testing.T, chromium bool) string {
	t.Helper()
	node, _ := testenv.Node(t, "@dfinity/agent", "@noble/curves", "esbuild", "playwright-core")
	if chromium {
		if _, err := os.Stat(chromiumPath); err != nil {
			t.Fatalf("Chromium is missing (%v): install it with apt-get update && apt-get install -y chromium", err)
		}
	}
	return node
}

// runNode runs node with args in the package directory, bounded by timeout, and returns stdout.
func runNode(t *testing.T, node string, timeout time.Duration, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	killProcessGroup(cmd) // Chromium is a child of node: end it too
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// TestNodeUnit runs the Node tests of the browser client (test/*.test.mjs): verification of
// golden frames, the wire encodings, and the client's pacing under the gateway's limits.
func TestNodeUnit(t *testing.T) {
	node := requireNode(t, false)
	out := runNode(t, node, time.Minute, "--test", "--test-reporter=tap",
		filepath.Join("test", "verify.test.mjs"), filepath.Join("test", "client.test.mjs"), filepath.Join("test", "package.test.mjs"), filepath.Join("test", "explain.test.mjs"), filepath.Join("test", "channel.test.mjs"))
	if !bytes.Contains(out, []byte("\n# fail 0\n")) || bytes.Contains(out, []byte("\n# pass 0\n")) {
		t.Fatalf("node --test:\n%s", out)
	}
}

// TestDistUpToDate checks that the committed dist/ is what web/build.mjs makes from src/.
func TestDistUpToDate(t *testing.T) {
	node := requireNode(t, false)
	runNode(t, node, time.Minute, "build.mjs", "--check")
}

// tamperProxy is a WebSocket proxy between a browser and the gateway that flips one byte of the
// val of the one chat message whose text is secret, and records the chat texts it forwarded.
type tamperProxy struct {
	target string // the gateway's ws:// URL
	secret string
	up     websocket.Upgrader

	mu        sync.Mutex
	tampered  int
	forwarded map[string]bool
	changed   chan struct{}                       // closed and replaced when forwarded grows
	live      map[*websocket.Conn]*websocket.Conn // browser side → gateway side, while relaying
	cut       int                                 // connections /cut ended
}

func newTamperProxy(target, secret string) *tamperProxy {
	return &tamperProxy{
		target:    target,
		secret:    secret,
		up:        websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}, // the gateway checks it
		forwarded: map[string]bool{},
		changed:   make(chan struct{}),
		live:      map[*websocket.Conn]*websocket.Conn{},
	}
}

func (p *tamperProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/seen":
		p.serveSeen(w, r)
		return
	case "/cut":
		p.serveCut(w)
		return
	}
	h := http.Header{}
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Origin", o)
	}
	up, res, err := websocket.DefaultDialer.DialContext(r.Context(), p.target, h)
	if err != nil {
		status := http.StatusBadGateway
		if res != nil {
			status = res.StatusCode
		}
		http.Error(w, "proxy: "+err.Error(), status)
		return
	}
	down, err := p.up.Upgrade(w, r, nil)
	if err != nil {
		up.Close()
		return
	}
	p.mu.Lock()
	p.live[down] = up
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.live, down)
		p.mu.Unlock()
	}()
	done := make(chan struct{}, 2)
	go func() { relayFrames(down, up, nil); done <- struct{}{} }()
	go func() { relayFrames(up, down, p.inspect); done <- struct{}{} }()
	<-done
	up.Close()
	down.Close()
	<-done
}

// inspect records the texts of the chat messages of a frame (S6, or each of an S9's) on their way
// to the browser, and tampers with the secret one.
func (p *tamperProxy) inspect(frame []byte) []byte {
	var vals [][]byte
	if bf, err := protocol.DecodeBatchFrame(frame); err == nil {
		vals = bf.Vals
	} else if cm, err := protocol.DecodeCertMessage(frame); err == nil {
		vals = [][]byte{cm.Val}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := frame
	for _, v := range vals {
		m, err := protocol.DecodeWebsocketMessage(v)
		if err != nil || m.Service {
			continue
		}
		ev, err := chat.Decode(m.Message)
		if err != nil || ev.Message == nil {
			continue
		}
		if !p.forwarded[ev.Message.Text] {
			p.forwarded[ev.Message.Text] = true
			close(p.changed)
			p.changed = make(chan struct{})
		}
		if ev.Message.Text != p.secret || p.tampered > 0 {
			continue
		}
		// From its sequence number: in an S9, the secret message is the first app message at or
		// above it. "…10:00" becomes "…10:01".
		if forged, ok := Tamper(frame, m.SequenceNum); ok {
			out = forged
			p.tampered++
		}
	}
	return out
}

// serveSeen answers 200 once a chat message with the text ?text= was forwarded to a browser, or
// 504 after 10 seconds.
func (p *tamperProxy) serveSeen(w http.ResponseWriter, r *http.Request) {
	text := r.URL.Query().Get("text")
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		seen, changed := p.forwarded[text], p.changed
		p.mu.Unlock()
		if seen {
			w.WriteHeader(http.StatusOK)
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			http.Error(w, "not forwarded", http.StatusGatewayTimeout)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// serveCut ends every relayed connection as a gateway going away would: 1001 to the browser,
// the gateway's side dropped (so the gateway calls ws_close, as after any lost connection).
func (p *tamperProxy) serveCut(w http.ResponseWriter) {
	p.mu.Lock()
	live := maps.Clone(p.live)
	p.cut += len(live)
	p.mu.Unlock()
	for down, up := range live {
		_ = down.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "cut by the test"), time.Now().Add(time.Second))
		up.Close()
		down.Close()
	}
	fmt.Fprintf(w, "%d\n", len(live))
}

func (p *tamperProxy) cutCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

func (p *tamperProxy) tamperedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tampered
}

// browserItem is one entry of a page's message list, as test/browser.mjs reads it.
type browserItem struct {
	Status string  `json:"status"`
	Kind   *string `json:"kind"`
	Seq    *string `json:"seq"`
	From   *string `json:"from"`
	Text   *string `json:"text"`
	Mark   *string `json:"mark"`
	// Channel is the certified channel the message came on (a chat room), or nil.
	Channel *string `json:"channel"`
}

type browserRoom struct {
	State    string        `json:"state"`
	ClientID string        `json:"clientId"`
	Status   string        `json:"status"`
	Items    []browserItem `json:"items"`
}

type browserPage struct {
	Rooms    map[string]browserRoom `json:"rooms"`
	BodyText string                 `json:"bodyText"`
	HTML     string                 `json:"html"`
}

type browserResult struct {
	Pages          map[string]browserPage `json:"pages"`
	Errors         []string               `json:"errors"`
	Failure        string                 `json:"failure"`
	AfterForwarded bool                   `json:"afterForwarded"`
	// Reconnected says page B's chat went from reconnecting back to open after /cut.
	Reconnected bool `json:"reconnected"`
	// EventsReconnect is the event API's run with reconnect on, cut by the proxy once.
	EventsReconnect struct {
		Events  []string `json:"events"`
		Timeout bool     `json:"timeout"`
	} `json:"eventsReconnect"`
	// TamperUnchecked says page A's tamper switch turned itself off after the forged message.
	TamperUnchecked bool          `json:"tamperUnchecked"`
	Screenshot      string        `json:"screenshot"`
	Events          browserEvents `json:"events"`
	// EchoBeforeClick is each page's echo tab before its Start button was pressed.
	EchoBeforeClick map[string]struct {
		State string `json:"state"`
		Items int    `json:"items"`
	} `json:"echoBeforeClick"`
}

// browserEvents is what the event API (IcWebSocketEvents, the package's default export) did on
// page A against echo.
type browserEvents struct {
	Events       []string `json:"events"`
	Data         []string `json:"data"`
	InitialState int      `json:"initialState"`
	OpenState    int      `json:"openState"`
	ClosedState  int      `json:"closedState"`
	Code         int      `json:"code"`
	Reason       string   `json:"reason"`
	WasClean     bool     `json:"wasClean"`
	Timeout      bool     `json:"timeout"`
}

// find returns the items of room whose text contains s.
func (r browserRoom) find(s string) []browserItem {
	var out []browserItem
	for _, it := range r.Items {
		if it.Text != nil && strings.Contains(*it.Text, s) {
			out = append(out, it)
		}
	}
	return out
}

// describe lists the room's items one per line: status, kind, seq, channel, from, text.
func (r browserRoom) describe() string {
	var b strings.Builder
	for i, it := range r.Items {
		fmt.Fprintf(&b, "\n  %d %s kind=%s seq=%s channel=%s from=%q text=%q", i, it.Status, str(it.Kind), str(it.Seq), str(it.Channel), str(it.From), str(it.Text))
	}
	return b.String()
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// TestBrowser runs the demo page in Chromium against a real replica and gateway: two pages chat
// with each other; a proxy in front of page B tampers with one message, which B shows as
// rejected (and never its text) while A shows it verified; A plays the seed's ping-pong. It
// keeps a screenshot of page B in test-results/demo.png.
func TestBrowser(t *testing.T) {
	node := requireNode(t, true)
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	r, err := replica.Start(ctx, replica.Config{
		WasmCacheDir: wasmtest.CacheDir(),
		Canisters:    []replica.CanisterSpec{{Name: "echo", Wasm: wasmtest.Build(t, wasmtest.Echo).Wasm}, {Name: "chat", Wasm: wasmtest.Build(t, wasmtest.Chat).Wasm}},
		Logger:       log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	canisters := map[string]string{}
	for _, c := range r.Canisters() {
		canisters[c.Name] = c.ID.String()
	}

	// The pages' servers exist (and have their URLs) before the gateway, which allows their origins.
	pageA, pageB := httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)
	t.Cleanup(pageA.Close)
	t.Cleanup(pageB.Close)
	originA, originB := "http://"+pageA.Listener.Addr().String(), "http://"+pageB.Listener.Addr().String()

	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{
		URL:            r.URL(),
		Identity:       id,
		RootKey:        r.RootKey(),
		AllowedOrigins: []string{originA, originB},
		Logger:         log,
	})
	if err != nil {
		t.Fatal(err)
	}
	gwSrv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := gw.Shutdown(sctx); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
		gwSrv.Close()
	})
	gwURL := "ws" + strings.TrimPrefix(gwSrv.URL, "http")

	const secret = "Meet me at the north gate at 10:00"
	const after = "Did you get that?"
	const away = "Written while B was away"
	const back = "B is back"
	const forged = "This one is forged on its way to A"
	proxy := newTamperProxy(gwURL, secret)
	proxySrv := httptest.NewServer(proxy)
	t.Cleanup(proxySrv.Close)

	pageA.Config.Handler = Handler(Config{Gateway: gwURL, IC: r.URL(), RootKey: r.RootKey(), Canisters: canisters, TamperRelay: true, Logger: log})
	pageB.Config.Handler = Handler(Config{Gateway: "ws" + strings.TrimPrefix(proxySrv.URL, "http"), IC: r.URL(), RootKey: r.RootKey(), Canisters: canisters})
	pageA.Start()
	pageB.Start()

	shot, err := filepath.Abs(filepath.Join("test-results", "demo.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(shot)
	cfg, err := json.Marshal(map[string]string{
		"pageA": pageA.URL, "pageB": pageB.URL, "proxy": proxySrv.URL,
		"secret": secret, "after": after, "away": away, "back": back, "forged": forged, "screenshot": shot, "chromium": chromiumPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := runNode(t, node, browserTimeout, filepath.Join("test", "browser.mjs"), string(cfg))
	var res browserResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("browser.mjs printed %q: %v", out, err)
	}
	if res.Failure != "" {
		t.Fatalf("the browser run failed: %s\n(errors: %q)", res.Failure, res.Errors)
	}
	for _, e := range res.Errors {
		t.Errorf("browser: %s", e)
	}

	a, b := res.Pages["A"], res.Pages["B"]
	// Every verified entry says so and has a sequence number; nothing is rejected on A.
	for name, p := range res.Pages {
		for room, rm := range p.Rooms {
			for _, it := range rm.Items {
				switch it.Status {
				case "verified":
					if str(it.Mark) != "✓ verified" || it.Seq == nil || *it.Seq == "" {
						t.Errorf("page %s %s: verified entry %+v lacks its mark or sequence number", name, room, it)
					}
				case "rejected":
					if !strings.HasPrefix(str(it.Mark), "✗ rejected") {
						t.Errorf("page %s %s: rejected entry %+v lacks its mark", name, room, it)
					}
				}
			}
		}
	}
	ac, bc := a.Rooms["chat"], b.Rooms["chat"]
	if ac.State != "open" {
		t.Errorf("page A chat is %q (%s), want open", ac.State, ac.Status)
	}
	for _, want := range []struct{ text, from string }{
		{"Hello from A! Anyone here?", "you"},
		{"Hi A, B here. Ünïcödé works too.", "client " + bc.ClientID},
		{secret, "you"},
		{after, "you"},
	} {
		got := ac.find(want.text)
		if len(got) != 1 || got[0].Status != "verified" || str(got[0].From) != want.from {
			t.Errorf("page A chat: %q: got %+v, want one verified entry from %s", want.text, got, want.from)
		}
	}
	// A rejected one message only, forged by the relay of its tamper switch, and then showed the
	// genuine one, verified.
	var aRejected []int
	for i, it := range ac.Items {
		if it.Status == "rejected" {
			aRejected = append(aRejected, i)
		}
	}
	switch {
	case len(aRejected) != 1 || str(ac.Items[aRejected[0]].Kind) != "tampered":
		t.Errorf("page A chat: rejected entries at %v, want one, tampered (items %s)", aRejected, ac.describe())
	case aRejected[0]+1 >= len(ac.Items) || str(ac.Items[aRejected[0]+1].Text) != forged || ac.Items[aRejected[0]+1].Status != "verified":
		t.Errorf("page A chat: after the forged message, want the genuine %q verified; items %+v", forged, ac.Items[aRejected[0]:])
	}
	if got := ac.find(forged); len(got) != 1 {
		t.Errorf("page A chat: %q shown %d times, want once (verified)", forged, len(got))
	}
	if !res.TamperUnchecked {
		t.Error("page A's tamper switch is still on after the forged message")
	}

	// Rooms: each room message once, verified, on the room's channel, from its sender "in #garden";
	// A left before "Only B is here" and never shows it, but does show what B then said to everyone.
	for _, want := range []struct {
		room          browserRoom
		page          string
		text, from    string
		want, channel bool
	}{
		{bc, "B", "B in the garden", "you in #garden", true, true},
		{ac, "A", "B in the garden", "", false, true},
		{ac, "A", "A in the garden", "you in #garden", true, true},
		{bc, "B", "A in the garden", "client " + ac.ClientID + " in #garden", true, true},
		{bc, "B", "Only B is here", "you in #garden", true, true},
		{ac, "A", "Only B is here", "", false, true},
		{ac, "A", "Back to everyone", "client " + bc.ClientID, true, false},
	} {
		got := want.room.find(want.text)
		switch {
		case !want.want && len(got) != 0:
			t.Errorf("page %s chat: %q shown (%+v), want it absent: the page was not in the room", want.page, want.text, got)
		case want.want && (len(got) != 1 || got[0].Status != "verified" || str(got[0].From) != want.from):
			t.Errorf("page %s chat: %q: got %+v, want one verified entry from %q", want.page, want.text, got, want.from)
		case want.want && want.channel && str(got[0].Channel) != "room:garden":
			t.Errorf("page %s chat: %q came on channel %q, want room:garden", want.page, want.text, str(got[0].Channel))
		case want.want && !want.channel && got[0].Channel != nil:
			t.Errorf("page %s chat: %q came on channel %q, want none (to everyone)", want.page, want.text, str(got[0].Channel))
		}
	}

	// B: the conversation before the tampered message, then the rejection, then nothing.
	for _, want := range []struct{ text, from string }{
		{"Hello from A! Anyone here?", "client " + ac.ClientID},
		{"Hi A, B here. Ünïcödé works too.", "you"},
	} {
		got := bc.find(want.text)
		if len(got) != 1 || got[0].Status != "verified" || str(got[0].From) != want.from {
			t.Errorf("page B chat: %q: got %+v, want one verified entry from %s", want.text, got, want.from)
		}
	}
	var rejected []browserItem
	for i, it := range bc.Items {
		if it.Status == "rejected" {
			rejected = append(rejected, it)
			if i != len(bc.Items)-1 {
				t.Errorf("page B chat shows entries after the rejected message: %+v", bc.Items[i+1:])
			}
		}
	}
	if len(rejected) != 1 || str(rejected[0].Kind) != "tampered" || str(rejected[0].Mark) != "✗ rejected: tampered" {
		t.Errorf("page B chat: rejected entries %+v, want one, tampered", rejected)
	}
	if bc.State != "failed" || !strings.Contains(bc.Status, "tampered") {
		t.Errorf("page B chat is %q (%s), want failed, naming the tampered check", bc.State, bc.Status)
	}
	tamperedText := secret[:len(secret)-1] + string(secret[len(secret)-1]^1)
	for _, s := range []string{secret, tamperedText, "north gate", after} {
		if strings.Contains(b.BodyText, s) || strings.Contains(b.HTML, s) {
			t.Errorf("page B shows %q: a rejected message, or one after it, was rendered", s)
		}
	}
	if er := res.EventsReconnect; er.Timeout || strings.Join(er.Events, ",") != "open,message ping,reconnecting,message after the cut ping,close 1000" {
		t.Errorf("event API with reconnect, cut once: %q (timeout %v), want open, ping, reconnecting, the answer to what was sent meanwhile, close 1000", er.Events, er.Timeout)
	}
	if n := proxy.cutCount(); n == 0 {
		t.Error("the proxy cut no connection")
	}
	if !res.Reconnected {
		t.Error("page B did not reconnect by itself after its connection was cut")
	}
	for _, want := range []struct{ text, from string }{
		{away, "client " + ac.ClientID},
		{back, "you"},
	} {
		got := bc.find(want.text)
		if len(got) != 1 || got[0].Status != "verified" || str(got[0].From) != want.from {
			t.Errorf("page B chat after reconnecting: %q: got %+v, want one verified entry from %s", want.text, got, want.from)
		}
		if got := ac.find(want.text); len(got) != 1 || got[0].Status != "verified" {
			t.Errorf("page A chat: %q: got %+v, want one verified entry", want.text, got)
		}
	}
	if n := proxy.tamperedCount(); n != 1 {
		t.Errorf("the proxy tampered with %d messages, want 1", n)
	}
	if !res.AfterForwarded {
		t.Errorf("the proxy did not forward %q to page B", after)
	}

	// The seed's ping-pong on echo (page A) and echo through the proxy (page B).
	ae := a.Rooms["echo"]
	for _, want := range []struct{ text, status string }{{"ping", "verified"}, {"ping-pong", "sent"}, {"ping-pong ping", "verified"}} {
		found := false
		for _, it := range ae.Items {
			found = found || str(it.Text) == want.text && it.Status == want.status
		}
		if !found {
			t.Errorf("page A echo: no %s entry %q in %+v", want.status, want.text, ae.Items)
		}
	}
	if be := b.Rooms["echo"]; be.State != "open" || len(be.find("ping")) == 0 {
		t.Errorf("page B echo is %q with %+v, want open with a verified ping", be.State, be.Items)
	}

	for _, name := range []string{"A", "B"} {
		if e, ok := res.EchoBeforeClick[name]; !ok || e.State != "idle" || e.Items != 0 {
			t.Errorf("page %s echo before Start: %+v, want idle and empty", name, e)
		}
	}

	// The event API: open, the greeting, the answer to its send, then a clean close.
	ev := res.Events
	if ev.Timeout || !slices.Equal(ev.Events, []string{"open", "message", "message", "close"}) ||
		!slices.Equal(ev.Data, []string{"ping", "events ping"}) || ev.InitialState != 0 || ev.OpenState != 1 ||
		ev.ClosedState != 3 || ev.Code != 1000 || ev.Reason != "done" || !ev.WasClean {
		t.Errorf("event API on echo: %+v, want open, messages ping and \"events ping\", clean close 1000 done", ev)
	}

	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("no PNG screenshot at %s (%v)", shot, err)
	} else {
		t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	}
	if t.Failed() {
		for name, p := range res.Pages {
			t.Logf("page %s:\n%s", name, p.BodyText)
		}
	}
}
