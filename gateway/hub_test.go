package gateway

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

const testGWText = "h5ag3-gxvkr-a3wjw-wfhg4-ysa3d-z56v7-i26nf-2qscz-k2vmc-6yvhj-bqe"

func batchOf(cert bool, keys ...string) *protocol.CertMessages {
	res := &protocol.CertMessages{}
	for i, k := range keys {
		res.Messages = append(res.Messages, protocol.Message{ClientID: uint64(i), Key: k, Val: []byte{1}})
	}
	if cert {
		res.Cert, res.Tree = []byte{1}, []byte{2}
	}
	return res
}

func key(n uint64) string { return string(protocol.AppendKey(nil, testGWText, n)) }

func TestCheckBatch(t *testing.T) {
	other := string(protocol.AppendKey(nil, "2vxsx-fae", 5))
	tests := []struct {
		name    string
		res     *protocol.CertMessages
		cursor  uint64
		fresh   bool
		next    uint64
		gap     bool
		refused bool
	}{
		{"empty", batchOf(false), 7, false, 7, false, false},
		{"fresh start anywhere", batchOf(true, key(40), key(41)), 0, true, 42, false, false},
		{"restart above the cursor", batchOf(true, key(40), key(41)), 7, true, 42, false, false},
		{"continues", batchOf(true, key(7), key(8), key(9)), 7, false, 10, false, false},
		{"gap at start", batchOf(true, key(9), key(10)), 7, false, 11, true, false},
		{"before cursor", batchOf(true, key(6), key(7)), 7, false, 7, false, true},
		{"before cursor when fresh", batchOf(true, key(6), key(7)), 7, true, 7, false, true},
		{"gap inside", batchOf(true, key(7), key(9)), 7, false, 10, true, false},
		{"gap inside when fresh", batchOf(true, key(7), key(9)), 0, true, 10, true, false},
		{"repeat inside", batchOf(true, key(7), key(7)), 7, false, 7, false, true},
		{"last nonce", batchOf(true, key(1<<64-1)), 7, false, 7, false, true},
		{"descending", batchOf(true, key(8), key(7)), 7, false, 7, false, true},
		{"other gateway", batchOf(true, key(7), other), 7, false, 7, false, true},
		{"bad key", batchOf(true, key(7), "garbage"), 7, false, 7, false, true},
		{"short nonce", batchOf(true, testGWText+"_8"), 7, false, 7, false, true},
		{"no certificate", batchOf(false, key(7)), 7, false, 7, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, gap, err := checkBatch(tt.res, testGWText, tt.cursor, tt.fresh)
			if (err != nil) != tt.refused {
				t.Fatalf("err = %v, want refused %v", err, tt.refused)
			}
			if err != nil && !errors.Is(err, errBatch) {
				t.Errorf("err = %v does not wrap errBatch", err)
			}
			if next != tt.next || gap != tt.gap {
				t.Errorf("next, gap = %d, %v; want %d, %v", next, gap, tt.next, tt.gap)
			}
		})
	}
}

var testCanister = principal.CanisterID(7)

// TestPollerRoutesAndStops checks one poller per canister: batches are fetched back to back
// (PollInterval is an hour, so only the full-batch rule can deliver them all), every message
// reaches its client in order, and the poller stops when the last client leaves.
func TestPollerRoutesAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake *fakeIC
		g := newTestGateway(t, Config{PollInterval: time.Hour}, func(gw string) canisterAPI {
			fake = &fakeIC{gateway: gw}
			return fake
		})
		const perClient = 60
		h := g.hubFor(seedWire{}, testCanister)
		conns := []*conn{testConn(g, 1), testConn(g, 2), testConn(g, 3)}
		for _, c := range conns {
			if h.add(c) != nil {
				t.Fatal("add asked to wait for a ws_close")
			}
		}
		// The messages are queued once every client is registered (the first client's poller may
		// already have polled), and one poke wakes the poller from its hour-long wait.
		for i := 0; i < perClient; i++ {
			for c := uint64(1); c <= 3; c++ {
				fake.push(c, []byte(fmt.Sprintf("%d/%d", c, i)))
			}
		}
		h.poke()
		if got := g.hubFor(seedWire{}, testCanister); got != h {
			t.Fatal("hubFor made a second hub for one canister")
		}
		waitFor(t, "all messages routed", func() bool { return g.m.messagesPolled.get() == 3*perClient })
		for _, c := range conns {
			items := c.q.take()
			if len(items) != perClient {
				t.Fatalf("client %d got %d messages, want %d", c.clientID, len(items), perClient)
			}
			for i, f := range items {
				m := f.b.msgs[f.i]
				if m.ClientID != c.clientID || string(m.Val) != fmt.Sprintf("%d/%d", c.clientID, i) {
					t.Fatalf("client %d message %d is %d %q", c.clientID, i, m.ClientID, m.Val)
				}
			}
		}
		if g.m.pollers.get() != 1 {
			t.Fatalf("pollers = %d, want 1", g.m.pollers.get())
		}
		for _, c := range conns {
			h.leave(c, false)
		}

		waitFor(t, "poller stopped", func() bool { return g.m.pollers.get() == 0 })
		h.mu.Lock()
		cursor, running := h.cursor, h.running
		h.mu.Unlock()
		if running || cursor != 3*perClient {
			t.Fatalf("after stop: running %v, cursor %d; want false, %d", running, cursor, 3*perClient)
		}

		// A new client restarts the poller at the kept cursor.
		before := len(fake.calls())
		fake.push(4, []byte("later"))
		c4 := testConn(g, 4)
		h.add(c4)
		waitFor(t, "message after restart", func() bool { return c4.q.len() == 1 })
		if first := fake.calls()[before]; first != 3*perClient {
			t.Fatalf("restarted poller asked for nonce %d, want %d", first, 3*perClient)
		}
		h.leave(c4, false)
		waitFor(t, "poller stopped again", func() bool { return g.m.pollers.get() == 0 })
	})
}

// TestPollerSurvivesErrors checks that transport failures and batches that break the nonce order
// are retried without moving the cursor, and that the poller goes on afterwards.
func TestPollerSurvivesErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake *fakeIC
		g := newTestGateway(t, Config{PollInterval: time.Millisecond}, func(gw string) canisterAPI {
			fake = &fakeIC{gateway: gw, getErrs: 3, badBatches: 2}
			return fake
		})
		for i := 0; i < 5; i++ {
			fake.push(1, []byte{byte(i)})
		}
		c := testConn(g, 1)
		h := g.hubFor(seedWire{}, testCanister)
		h.add(c)
		waitFor(t, "messages after errors", func() bool { return c.q.len() == 5 })
		for i, f := range c.q.take() {
			if v := f.b.msgs[f.i].Val; v[0] != byte(i) {
				t.Fatalf("message %d has value %d", i, v[0])
			}
		}
		if g.m.pollErrors.get() != 3 || g.m.pollRefused.get() != 2 {
			t.Fatalf("poll errors %d, refused %d; want 3, 2", g.m.pollErrors.get(), g.m.pollRefused.get())
		}
		for i, n := range fake.calls()[:6] {
			if n != 0 {
				t.Fatalf("call %d asked for nonce %d before any batch was accepted", i, n)
			}
		}
		// Messages lost in the canister: the batch is taken, the gap counted.
		fake.pushAndDrop(1, [][]byte{{5}, {6}, {7}}, 6)
		waitFor(t, "messages after a gap", func() bool { return c.q.len() == 2 })
		if g.m.pollGaps.get() != 1 {
			t.Fatalf("gaps = %d, want 1", g.m.pollGaps.get())
		}
		h.leave(c, false)
		waitFor(t, "poller stopped", func() bool { return g.m.pollers.get() == 0 })
	})
}

// TestSlowClientClosedNotSkipped checks that a client whose queue overflows is closed with
// CloseTooSlow while the other clients of the canister get every message.
func TestSlowClientClosedNotSkipped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake *fakeIC
		g := newTestGateway(t, Config{PollInterval: time.Millisecond, SendQueueSize: 10}, func(gw string) canisterAPI {
			fake = &fakeIC{gateway: gw}
			return fake
		})
		slow, fast := testConn(g, 1), testConn(g, 2)
		h := g.hubFor(seedWire{}, testCanister)
		h.add(slow)
		h.add(fast)
		var got int
		for i := 0; i < 30; i++ {
			fake.push(1, []byte{byte(i)})
			fake.push(2, []byte{byte(i)})
			waitFor(t, "fast client message", func() bool { return fast.q.len() > 0 })
			for _, f := range fast.q.take() {
				if v := f.b.msgs[f.i].Val[0]; int(v) != got {
					t.Fatalf("fast client got %d, want %d", v, got)
				}
				got++
			}
		}
		select {
		case <-slow.closing:
		default:
			t.Fatal("the slow client was not closed")
		}
		if slow.closeCode != protocol.CloseTooSlow || g.m.queueOverflows.get() != 1 {
			t.Fatalf("slow client closed with %v, overflows %d", slow.closeCode, g.m.queueOverflows.get())
		}
		if n := slow.q.len(); n != 10 {
			t.Fatalf("slow client's queue holds %d, want the 10 that fit", n)
		}
		h.leave(slow, false)
		h.leave(fast, false)
		waitFor(t, "poller stopped", func() bool { return g.m.pollers.get() == 0 })
	})
}

// TestCloseNoticeEndsConnection checks that the canister's close notice is marked as the last
// frame of its connection.
func TestCloseNoticeEndsConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake *fakeIC
		g := newTestGateway(t, Config{PollInterval: time.Millisecond}, func(gw string) canisterAPI {
			fake = &fakeIC{gateway: gw}
			return fake
		})
		notice := (&protocol.WebsocketMessage{ClientID: 1, SequenceNum: 3, Service: true, Ack: 2, Close: "closed by the app"}).MarshalCanister()
		plain := (&protocol.WebsocketMessage{ClientID: 1, SequenceNum: 2, Message: []byte("close")}).MarshalCanister()
		fake.push(1, plain)
		fake.push(1, notice)
		c := testConn(g, 1)
		h := g.hubFor(seedWire{}, testCanister)
		h.add(c)
		waitFor(t, "two messages", func() bool { return c.q.len() == 2 })
		items := c.q.take()
		if items[0].last || !items[1].last {
			t.Fatalf("last flags = %v, %v; want false, true", items[0].last, items[1].last)
		}
		h.leave(c, false)
		waitFor(t, "poller stopped", func() bool { return g.m.pollers.get() == 0 })
	})
}

// TestCloseClientRetries checks that ws_close is retried after transport failures, with backoff,
// and given up (logged at error level) CloseRetryTimeout after the first attempt.
func TestCloseClientRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake *fakeIC
		g := newTestGateway(t, Config{}, func(gw string) canisterAPI {
			fake = &fakeIC{gateway: gw, closeErrs: 2}
			return fake
		})
		g.keys.put(clientRef{testCanister, 9}, []byte("k"))
		start := time.Now()
		g.closeClient(testCanister, 9, g.log)
		// Two waits of the backoff, each in [d/2, d] for d = 200 ms, 400 ms.
		within(t, "ws_close done", time.Since(start), 300*time.Millisecond, 300*time.Millisecond)
		if len(fake.closed) != 1 || fake.closed[0] != 9 {
			t.Fatalf("closed = %v, want [9]", fake.closed)
		}
		if g.m.retries[methodClose].get() != 2 || g.m.results[methodClose][resultTrue].get() != 1 {
			t.Fatalf("retries %d, closes %d", g.m.retries[methodClose].get(), g.m.results[methodClose][resultTrue].get())
		}
		if _, ok := g.keys.get(clientRef{testCanister, 9}); ok {
			t.Fatal("the closed client's key is still cached")
		}

		fake.mu.Lock()
		fake.closeErrs = 1 << 30
		fake.mu.Unlock()
		start = time.Now()
		g.closeClient(testCanister, 10, g.log)
		within(t, "ws_close given up", time.Since(start), g.cfg.CloseRetryTimeout, 0)
		if n := g.m.results[methodClose][resultError].get(); n != 1 {
			t.Fatalf("%d ws_close calls given up, want 1", n)
		}
		// The backoff grows to 10 s: about 40 attempts in 5 minutes, not one every 200 ms.
		if n := g.m.retries[methodClose].get() - 2; n < 30 || n > 70 {
			t.Fatalf("%d ws_close retries in %v, want 30 to 70 (backoff to 10 s)", n, g.cfg.CloseRetryTimeout)
		}
	})
}

// TestHubReplacesAndWaitsForClose checks the rules for a client that connects again: a newer
// connection replaces an older one (which then must not call ws_close), and a new connection
// waits for an earlier connection's ws_close in flight.
func TestHubReplacesAndWaitsForClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTestGateway(t, Config{PollInterval: time.Hour}, func(gw string) canisterAPI { return &fakeIC{gateway: gw} })
		h := g.hubFor(seedWire{}, testCanister)
		old, repl := testConn(g, 5), testConn(g, 5)
		h.add(old)
		if h.add(repl) != nil {
			t.Fatal("replacement asked to wait")
		}
		select {
		case <-old.closing:
		default:
			t.Fatal("the replaced connection was not closed")
		}
		if old.closeCode != protocol.CloseSessionEnded || !old.replaced.Load() {
			t.Fatalf("replaced connection: code %v, replaced %v", old.closeCode, old.replaced.Load())
		}
		if done := h.leave(old, true); done != nil {
			t.Fatal("a replaced connection was asked to call ws_close")
		}
		h.mu.Lock()
		current := h.clients[clientKey{id: 5}]
		h.mu.Unlock()
		if current != repl {
			t.Fatal("the replaced connection's leave removed the newer one")
		}
		done := h.leave(repl, true)
		if done == nil {
			t.Fatal("no ws_close registered")
		}
		next := testConn(g, 5)
		wait := h.add(next)
		if wait == nil {
			t.Fatal("the new connection was not told to wait for ws_close")
		}
		select {
		case <-wait:
			t.Fatal("closed before ws_close was done")
		default:
		}
		done()
		<-wait
		if h.leave(next, false) != nil {
			t.Fatal("ws_close registered without need")
		}
		waitFor(t, "poller stopped", func() bool { return g.m.pollers.get() == 0 })
	})
}

// TestOnePollerWhenClientJoinsAsPollerStops checks that a client that joins while the poller is
// stopping gets exactly one poller: the stopping one is gone (it decided to stop and cleared
// running in one step), the new one is the only one, and a later client starts no other. The test
// hook holds the stopping poller between its decision and its return.
func TestOnePollerWhenClientJoinsAsPollerStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake *fakeIC
		g := newTestGateway(t, Config{PollInterval: time.Hour}, func(gw string) canisterAPI {
			fake = &fakeIC{gateway: gw}
			return fake
		})
		h := g.hubFor(seedWire{}, testCanister)
		stopping, resume := make(chan struct{}), make(chan struct{})
		var resumed sync.Once
		release := func() { resumed.Do(func() { close(resume) }) }
		t.Cleanup(release) // a failing test does not leave the poller held
		var once sync.Once
		h.afterStop = func() {
			once.Do(func() {
				close(stopping)
				<-resume
			})
		}
		c1, c2, c3 := testConn(g, 1), testConn(g, 2), testConn(g, 3)
		h.add(c1)
		waitFor(t, "the first poll", func() bool { return len(fake.calls()) == 1 })
		h.leave(c1, false)
		select {
		case <-stopping:
		case <-time.After(20 * time.Second):
			t.Fatal("the poller did not stop after its last client left")
		}

		// The first poller is held after its decision to stop; c2 joins.
		h.add(c2)
		waitFor(t, "the second client's poll", func() bool { return len(fake.calls()) == 2 })
		release()
		waitFor(t, "the stopping poller gone", func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.loops == 1
		})
		h.add(c3)
		fake.push(3, []byte("to c3"))
		h.poke()
		waitFor(t, "the message to c3", func() bool { return c3.q.len() > 0 })

		h.mu.Lock()
		loops, maxLoops, running := h.loops, h.maxLoops, h.running
		h.mu.Unlock()
		if n := g.m.pollers.get(); n != 1 {
			t.Errorf("pollers gauge = %d with clients, want 1", n)
		}
		if loops != 1 || maxLoops != 1 || !running {
			t.Errorf("poll loops %d, at most %d, running %v; want 1, 1, true", loops, maxLoops, running)
		}

		h.leave(c2, false)
		h.leave(c3, false)
		waitFor(t, "poller stopped", func() bool { return g.m.pollers.get() == 0 })
		h.mu.Lock()
		loops, maxLoops = h.loops, h.maxLoops
		h.mu.Unlock()
		if loops != 0 || maxLoops != 1 {
			t.Errorf("after stop: poll loops %d, at most %d; want 0, 1", loops, maxLoops)
		}
		if n := c3.q.len(); n != 1 {
			t.Errorf("c3 got %d copies of its message, want 1", n)
		}
	})
}

// TestCallBookkeeping checks endCall's accounting through the call sites: a retried attempt
// counts as a retry (not as an error: error is a call given up), an answer after retries counts
// once, and readiness follows the last call.
func TestCallBookkeeping(t *testing.T) {
	tests := []struct {
		name                  string
		msgErrs               int
		callTimeout           time.Duration
		retries, errs, trues  uint64
		delivered, readyAfter bool
	}{
		{"delivered at once", 0, 10 * time.Second, 0, 0, 1, true, true},
		{"delivered after two transport failures", 2, 10 * time.Second, 2, 0, 1, true, true},
		{"given up", 1 << 30, 0, 0, 1, 0, false, false}, // after the default CallTimeout, 2 min
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var fake *fakeIC
				g := newTestGateway(t, Config{CallTimeout: tt.callTimeout}, func(gw string) canisterAPI {
					fake = &fakeIC{gateway: gw, msgErrs: tt.msgErrs}
					return fake
				})
				c := testConn(g, 1)
				c.canister = testCanister
				c.hub = g.hubFor(seedWire{}, testCanister)
				start := time.Now()
				c.callMessage([]byte("frame"))
				if !tt.delivered {
					within(t, "ws_message given up", time.Since(start), g.cfg.CallTimeout, 0)
				}
				m := &g.m.results[methodMessage]
				retries := g.m.retries[methodMessage].get()
				if tt.retries > 0 && retries != tt.retries || tt.retries == 0 && tt.errs == 0 && retries != 0 {
					t.Errorf("retries %d, want %d", retries, tt.retries)
				}
				if m[resultError].get() != tt.errs || m[resultTrue].get() != tt.trues {
					t.Errorf("ws_message error %d true %d, want %d and %d", m[resultError].get(), m[resultTrue].get(), tt.errs, tt.trues)
				}
				if delivered := fake.messages == 1; delivered != tt.delivered {
					t.Errorf("delivered %v, want %v", delivered, tt.delivered)
				}
				if ready := g.icFails.Load() == 0; ready != tt.readyAfter {
					t.Errorf("IC up %v (%d failures in a row), want %v", ready, g.icFails.Load(), tt.readyAfter)
				}
				if n, calls := sumCounts(&g.m.icCalls[methodMessage].counts), retries+m[resultError].get()+m[resultTrue].get(); n != calls {
					t.Errorf("latency observed %d times for %d calls", n, calls)
				}
			})
		})
	}
}

func sumCounts(c *[len(latencyBuckets) + 1]atomic.Uint64) uint64 {
	var n uint64
	for i := range c {
		n += c[i].Load()
	}
	return n
}
