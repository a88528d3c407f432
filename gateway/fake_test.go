package gateway

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// fakeIC is an in-memory stand-in for a canister, for unit tests of the poller and the queues
// only; the end-to-end tests use the real replica and agent. It keeps one gateway's queue.
type fakeIC struct {
	gateway string

	mu         sync.Mutex
	queue      []protocol.Message // this gateway's messages, in nonce order
	nextNonce  uint64
	getErrs    int // fail this many ws_get_messages calls with a transport error
	badBatches int // corrupt this many batches (two messages swapped)
	nonces     []uint64
	closed     []uint64
	closeErrs  int // fail this many ws_close calls
	msgErrs    int // fail this many ws_message calls with a transport error
	messages   int // ws_message calls answered true
}

var errTransport = errors.New("fake transport failure")

func (f *fakeIC) push(clientID uint64, val []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushLocked(clientID, val)
}

func (f *fakeIC) pushLocked(clientID uint64, val []byte) {
	f.queue = append(f.queue, protocol.Message{ClientID: clientID, Key: string(protocol.AppendKey(nil, f.gateway, f.nextNonce)), Val: val})
	f.nextNonce++
}

// pushAndDrop queues messages and deletes the oldest n queued messages, as the canister's
// expiry would, in one step.
func (f *fakeIC) pushAndDrop(clientID uint64, vals [][]byte, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range vals {
		f.pushLocked(clientID, v)
	}
	f.queue = f.queue[n:]
}

func (f *fakeIC) getClientKey(context.Context, principal.Principal, uint64) ([]byte, error) {
	return nil, &agent.RejectError{Code: 5, Message: "no keys in the fake"}
}

func (f *fakeIC) open(context.Context, principal.Principal, []byte, []byte) (bool, error) {
	return false, nil
}

func (f *fakeIC) message(context.Context, principal.Principal, []byte) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.msgErrs > 0 {
		f.msgErrs--
		return false, errTransport
	}
	f.messages++
	return true, nil
}

func (f *fakeIC) close(_ context.Context, _ principal.Principal, clientID uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closeErrs > 0 {
		f.closeErrs--
		return errTransport
	}
	f.closed = append(f.closed, clientID)
	return nil
}

func (f *fakeIC) getMessages(ctx context.Context, _ principal.Principal, nonce uint64) (*protocol.CertMessages, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nonces = append(f.nonces, nonce)
	if f.getErrs > 0 {
		f.getErrs--
		return nil, errTransport
	}
	res := &protocol.CertMessages{}
	for _, m := range f.queue {
		_, n, _ := protocol.ParseKey(m.Key)
		if n >= nonce && len(res.Messages) < 50 {
			res.Messages = append(res.Messages, m)
		}
	}
	if len(res.Messages) > 0 {
		res.Cert, res.Tree = []byte("cert"), []byte("tree")
	}
	if f.badBatches > 0 && len(res.Messages) > 2 {
		f.badBatches--
		res.Messages = append([]protocol.Message(nil), res.Messages...)
		res.Messages[0], res.Messages[1] = res.Messages[1], res.Messages[0]
	}
	return res, nil
}

func (f *fakeIC) calls() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.nonces...)
}

// newTestGateway returns a gateway on api with a fresh identity and quiet logs.
func newTestGateway(t *testing.T, cfg Config, newAPI func(gateway string) canisterAPI) *Gateway {
	t.Helper()
	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	g, err := newGateway(cfg.withDefaults(), newAPI(id.Sender().String()), id.Sender())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.hardCancel)
	t.Cleanup(func() { checkOnePoller(t, g) })
	return g
}

// checkOnePoller fails the test if a canister ever had more than one poll loop at once.
func checkOnePoller(t testing.TB, g *Gateway) {
	t.Helper()
	g.mu.Lock()
	hubs := make([]*hub, 0, len(g.hubs))
	for _, h := range g.hubs {
		hubs = append(hubs, h)
	}
	g.mu.Unlock()
	for _, h := range hubs {
		h.mu.Lock()
		n := h.maxLoops
		h.mu.Unlock()
		if n > 1 {
			t.Errorf("canister %s had %d poll loops at once, want at most 1", h.canister, n)
		}
	}
}

// testConn is a connection without a socket, for routing tests: its writer is off, so messages
// stay in its queue.
func testConn(g *Gateway, clientID uint64) *conn {
	return &conn{
		g:            g,
		id:           clientID,
		wire:         seedWire{},
		clientID:     clientID,
		q:            newSendQueue(g.cfg.SendQueueSize),
		closing:      make(chan struct{}),
		socketClosed: make(chan struct{}),
		wstate:       writerFinished,
	}
}

// waitFor waits until cond holds, failing the test after a generous bound.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testLogger discards logs unless ICWS_TEST_LOG is set, in which case they go to stderr (t.Log
// cannot be used: goroutines may log after the test ends).
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("ICWS_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}
