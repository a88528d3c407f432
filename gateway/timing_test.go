package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/protocol"
)

// The tests of this file run the gateway's timers (handshake, keep-alive, write deadline, poll
// backoff) in a testing/synctest bubble (see bubble): each measures the gateway's timing in the
// bubble's fake time, to the millisecond, with its defaults (tens of seconds) and without
// waiting for them.

// within fails the test unless got is in [want, want+slack].
func within(t testing.TB, what string, got, want, slack time.Duration) {
	t.Helper()
	if got < want || got > want+slack {
		t.Fatalf("%s after %v, want %v (up to %v later)", what, got, want, slack)
	}
}

// readUntilEnd reads c's frames in a goroutine until the connection ends and sends the error and
// the time it ended. pong says whether c answers the gateway's pings.
func readUntilEnd(c *testClient, pong bool) <-chan endOf {
	if !pong {
		c.ws.SetPingHandler(func(string) error { return nil })
	}
	ended := make(chan endOf, 1)
	go func() {
		for {
			if _, _, err := c.ws.ReadMessage(); err != nil {
				ended <- endOf{err, time.Now()}
				return
			}
		}
	}()
	return ended
}

type endOf struct {
	err  error
	when time.Time
}

// TestKeepaliveSynctest checks the keep-alive: a client that reads but never answers a ping is
// cut off PingInterval + PongTimeout after the open (without a Close frame it could not answer
// either), and the canister is told with ws_close; a client that answers stays open however long
// it is idle.
func TestKeepaliveSynctest(t *testing.T) {
	tests := []struct {
		name           string
		ping, pongWait time.Duration // Config.PingInterval and PongTimeout; 0: the defaults (20 s, 30 s)
		pong           bool
	}{
		{"silent, defaults", 0, 0, false},
		{"silent, 5 s + 2 s", 5 * time.Second, 2 * time.Second, false},
		{"answers pings, defaults", 0, 0, true},
		{"answers pings, 5 s + 2 s", 5 * time.Second, 2 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Polls every minute: the keep-alive does not depend on them, and fewer polls
				// keep the test fast in real time.
				b := startBubble(t, Config{PingInterval: tt.ping, PongTimeout: tt.pongWait, PollInterval: time.Minute})
				c := b.open(t, b.echo)
				opened := time.Now()
				ended := readUntilEnd(c, tt.pong)
				want := b.gw.cfg.PingInterval + b.gw.cfg.PongTimeout
				if tt.pong {
					idle := 5 * want
					select {
					case e := <-ended:
						t.Fatalf("a client answering pings ended after %v idle: %v", e.when.Sub(opened), e.err)
					case <-time.After(idle):
					}
					if n := b.gw.m.connections.get(); n != 1 {
						t.Fatalf("%d connections after %v idle, want 1", n, idle)
					}
					return
				}
				var e endOf
				select {
				case e = <-ended:
				case <-time.After(10 * want):
					t.Fatalf("a client not answering pings still open after %v", 10*want)
				}
				t.Logf("cut off %v after the open", e.when.Sub(opened))
				within(t, "the silent client cut off", e.when.Sub(opened), want, 100*time.Millisecond)
				var ce *websocket.CloseError
				if errors.As(e.err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
					t.Fatalf("the silent client got a Close frame %d; a peer that does not answer pings is cut off", ce.Code)
				}
				synctest.Wait()
				if n := wsCloses(b.gw); n != 1 {
					t.Fatalf("%d ws_close calls for the silent client, want 1", n)
				}
			})
		})
	}
}

// TestHandshakeTimeoutSynctest checks that a connection that sends no first message, on either
// endpoint (the seed protocol's and Omnia's, which sends its own handshake first), is closed with
// 4005 HandshakeTimeout exactly HandshakeTimeout after it opened, and holds no slot after that.
func TestHandshakeTimeoutSynctest(t *testing.T) {
	for _, path := range []string{"/", "/omnia"} {
		for _, timeout := range []time.Duration{0, 3 * time.Second} {
			t.Run(fmt.Sprint(path, " ", timeout), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					b := startBubble(t, Config{HandshakeTimeout: timeout})
					d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: b.l.Dial}
					ws, _, err := d.Dial("ws://gateway.test"+path, nil)
					if err != nil {
						t.Fatal(err)
					}
					defer ws.Close()
					dialed := time.Now()
					e := <-readUntilEnd(&testClient{t: t, ws: ws}, true)
					within(t, "the silent handshake closed", e.when.Sub(dialed), b.gw.cfg.HandshakeTimeout, 0)
					var ce *websocket.CloseError
					if !errors.As(e.err, &ce) || ce.Code != int(protocol.CloseHandshakeTimeout) {
						t.Fatalf("the silent handshake ended with %v, want a Close frame %d", e.err, protocol.CloseHandshakeTimeout)
					}
					synctest.Wait()
					if n := b.gw.m.connections.get(); n != 0 {
						t.Fatalf("%d connections after the handshake timeout, want 0", n)
					}
				})
			})
		}
	}
}

// TestPollBackoffSynctest cuts the IC's network for a minute while a client is open: the poller
// backs off (min PollInterval, doubling to 5 s, jittered down to half) instead of polling every
// 100 ms, /readyz reports the outage with the time of its first failure read from Config.Clock,
// and once the IC is back the message sent during the outage arrives within the longest backoff.
func TestPollBackoffSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A Clock that stands still: what the gateway reports moves with it, when it acts does not.
		stopped := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
		b := startBubble(t, Config{Clock: func() time.Time { return stopped }})
		c := b.open(t, b.echo)
		if err := c.sendText("before"); err != nil {
			t.Fatal(err)
		}
		if err := c.expect("before"); err != nil {
			t.Fatal(err)
		}
		const outage = time.Minute
		b.ic.SetDown(true)
		before := b.gw.m.pollErrors.get()
		if err := c.sendText("during"); err != nil {
			t.Fatal(err)
		}
		// The client reads all along, as a browser does (it answers the gateway's pings: a pipe
		// has no buffer to hold them).
		arrived := make(chan error, 1)
		go func() {
			for {
				got, err := c.readText(10 * time.Minute)
				if err != nil || strings.Contains(got, "during") {
					arrived <- err
					return
				}
			}
		}()
		time.Sleep(outage)
		// Each wait is in [d/2, d] with d = 100 ms, 200 ms, … 3.2 s, then 5 s: 7 polls in the first
		// 3.15 to 6.3 s, then one every 2.5 to 5 s.
		failed := b.gw.m.pollErrors.get() - before
		t.Logf("%d polls failed in a %v outage", failed, outage)
		if failed < 14 || failed > 32 {
			t.Fatalf("%d polls failed in a %v outage, want 14 to 32 (backoff to 5 s)", failed, outage)
		}
		rec := httptest.NewRecorder()
		b.gw.serveReady(rec, nil)
		if body := rec.Body.String(); rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, "since 2031-05-06T07:08:09Z") {
			t.Fatalf("/readyz during the outage: %d %q, want 503 since the Clock's time", rec.Code, body)
		}

		b.ic.SetDown(false)
		back := time.Now()
		if err := <-arrived; err != nil {
			t.Fatalf("after the outage: %v", err)
		}
		took := time.Since(back)
		t.Logf("the message sent during the outage arrived %v after the IC was back", took)
		if took > 5*time.Second+500*time.Millisecond {
			t.Fatalf("the message sent during the outage arrived %v after the IC was back, want within the longest backoff (5 s)", took)
		}
		synctest.Wait()
		rec = httptest.NewRecorder()
		if b.gw.serveReady(rec, nil); rec.Code != http.StatusOK {
			t.Fatalf("/readyz after the outage: %d %q", rec.Code, rec.Body)
		}
		if n := b.gw.m.pollers.get(); n != 1 {
			t.Fatalf("pollers = %d, want 1", n)
		}
	})
}

// TestWriteTimeoutSynctest checks the write deadline: a client that stops reading is cut off once
// a write to it has been blocked for WriteTimeout (a pipe has no buffer: the first frame to it
// blocks), before its queue is full, without a Close frame (none could get through), and the
// canister is told (ws_close). The other client of the room gets every post meanwhile.
func TestWriteTimeoutSynctest(t *testing.T) {
	for _, timeout := range []time.Duration{0, 3 * time.Second} {
		t.Run(fmt.Sprint(timeout), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Polls after each ws_message (the poke), otherwise every minute: fewer polls keep
				// the test fast in real time.
				b := startBubble(t, Config{SendQueueSize: 64, MessageRate: -1, MaxPendingMessages: 64, WriteTimeout: timeout, PollInterval: time.Minute})
				fast := b.open(t, b.chat)
				if _, err := fast.readApp(readWait); err != nil { // its own join event
					t.Fatal(err)
				}
				stalled := b.open(t, b.chat) // never reads: chat's join event to it blocks at once
				opened := time.Now()
				if _, err := fast.readApp(readWait); err != nil { // the stalled client's join event
					t.Fatal(err)
				}
				const posts = 20
				for i := range posts {
					if err := fast.sendText(fmt.Sprintf("post #%d", i)); err != nil {
						t.Fatal(err)
					}
					got, err := fast.readText(readWait)
					if err != nil {
						t.Fatalf("post %d: %v", i, err)
					}
					if got != fmt.Sprintf("post #%d", i) {
						t.Fatalf("got %q, want post #%d", got, i)
					}
				}
				waitFor(t, "the stalled client cut off", func() bool { return b.gw.m.connections.get() == 1 })
				within(t, "the stalled client cut off", time.Since(opened), b.gw.cfg.WriteTimeout, 10*time.Millisecond)
				waitFor(t, "ws_close for the stalled client", func() bool { return wsCloses(b.gw) == 1 })
				if n := b.gw.m.closeCounter(protocol.CloseAbnormal).get(); n != 1 {
					t.Fatalf("%d connections ended abnormally (1006), want 1", n)
				}
				if n := b.gw.m.queueOverflows.get(); n != 0 {
					t.Fatalf("queue overflows = %d, want 0 (the deadline, not the queue, ended the stalled client)", n)
				}
				_, _, err := stalled.ws.ReadMessage()
				var ce *websocket.CloseError
				if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
					t.Fatalf("the stalled client got a Close frame %d; none could get through", ce.Code)
				}
				if err == nil {
					t.Fatal("the stalled client read a frame after it was cut off")
				}
			})
		})
	}
}

// TestMessageRateSynctest checks the token bucket on the bubble's clock (MessageRate 1/s,
// MessageBurst 2): a client that sends one message a second is never limited; one that sends
// every 500 ms is closed with 4004 at its fourth message (the bucket holds 2, 1.5, 1, 0.5 tokens
// as they arrive); one that sends two at once and then one a second is not limited, and one that
// sends two at once and then one every 900 ms is, at its third.
func TestMessageRateSynctest(t *testing.T) {
	tests := []struct {
		name    string
		burst   int           // messages sent at once first
		every   time.Duration // then one message every
		refused int           // the message refused (closed with 4004); -1: none
	}{
		{"at the rate", 1, time.Second, -1},
		{"twice the rate", 1, 500 * time.Millisecond, 3},
		{"two at once then at the rate", 2, time.Second, -1},
		{"two at once then faster", 2, 900 * time.Millisecond, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Polls after each ws_message (the poke) and otherwise every minute, to keep the
				// test fast in real time.
				b := startBubble(t, Config{MessageRate: 1, MessageBurst: 2, PollInterval: time.Minute})
				c := b.open(t, b.echo)
				if err := c.expect("ping"); err != nil {
					t.Fatal(err)
				}
				// The client reads all along: echoes (their texts) and the end.
				var echoed []string
				ended := make(chan error, 1)
				go func() {
					for {
						got, err := c.readText(10 * time.Minute)
						if err != nil {
							ended <- err
							return
						}
						echoed = append(echoed, got)
					}
				}()
				const sends = 20
				var want []string
				for i := range sends {
					if i >= tt.burst {
						time.Sleep(tt.every)
					}
					text := fmt.Sprintf("m%d", i)
					if err := c.sendText(text); err != nil {
						break // the gateway closed the connection
					}
					if tt.refused < 0 || i < tt.refused {
						want = append(want, text+" ping") // echo's reply
					}
				}
				time.Sleep(5 * time.Second) // the last replies
				c.ws.Close()
				err := <-ended
				var ce *websocket.CloseError
				switch limited := errors.As(err, &ce) && ce.Code == int(protocol.CloseRateLimited); {
				case tt.refused >= 0 && !limited:
					t.Fatalf("the connection ended with %v, want 4004 at message %d", err, tt.refused)
				case tt.refused < 0 && limited:
					t.Fatalf("a client within the limit was closed: %v", err)
				}
				if got := strings.Join(echoed, " "); got != strings.Join(want, " ") {
					t.Fatalf("echoed %q, want %q", got, strings.Join(want, " "))
				}
			})
		})
	}
}

// TestShutdownSynctest checks Shutdown's timing: with the IC up and clients that read it is done
// at once, each client told 1001; with a client that stopped reading it is done closeWait later
// (the write stuck on that client is cut); with the IC down it gives up ShutdownTimeout after it
// began, with ErrShutdown, ws_close still failing.
func TestShutdownSynctest(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration // Config.ShutdownTimeout
		icDown  bool
		stalled bool          // one more client that never reads
		took    time.Duration // Shutdown's duration; -1: the gateway's ShutdownTimeout
		err     error
	}{
		{"IC up, clients read", 0, false, false, 0, nil},
		{"a client stopped reading", 0, false, true, closeWait, nil},
		{"IC down", 0, true, false, -1, ErrShutdown},
		{"IC down, 3 s", 3 * time.Second, true, false, -1, ErrShutdown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := startBubble(t, Config{ShutdownTimeout: tt.timeout})
				var ends []<-chan endOf
				for range 3 {
					c := b.open(t, b.echo)
					if err := c.expect("ping"); err != nil {
						t.Fatal(err)
					}
					ends = append(ends, readUntilEnd(c, true))
				}
				if tt.stalled {
					b.open(t, b.echo) // its "ping" blocks the writer: a pipe holds nothing
				}
				synctest.Wait()
				b.ic.SetDown(tt.icDown)
				start := time.Now()
				err := b.gw.Shutdown(context.Background())
				took := time.Since(start)
				want := tt.took
				if want < 0 {
					want = b.gw.cfg.ShutdownTimeout
				}
				within(t, "Shutdown returned", took, want, 100*time.Millisecond)
				if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
					t.Fatalf("Shutdown: %v, want %v", err, tt.err)
				}
				for i, end := range ends {
					e := <-end
					var ce *websocket.CloseError
					if !errors.As(e.err, &ce) || ce.Code != websocket.CloseGoingAway {
						t.Fatalf("client %d ended with %v, want 1001", i, e.err)
					}
				}
				wantCloses := uint64(len(ends))
				if tt.stalled {
					wantCloses++
				}
				if tt.icDown {
					wantCloses = 0
				}
				if n := wsCloses(b.gw); n != wantCloses {
					t.Fatalf("%d ws_close calls done, want %d", n, wantCloses)
				}
			})
		})
	}
}

// TestDrainAfterLeaveSynctest checks the bound on the frames of a client that left: they still go
// to the canister, one at a time, but all within one CallTimeout of the leave, then ws_close is
// called (and retried until the IC is back). With the IC down from t0, two frames sent at t0 and
// the client gone at t0+10 s: the first ws_message gives up at t0+CallTimeout (its own bound), the
// second at t0+10 s+CallTimeout (the leave's), not at t0+2×CallTimeout.
func TestDrainAfterLeaveSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := startBubble(t, Config{})
		c := b.open(t, b.echo)
		if err := c.expect("ping"); err != nil {
			t.Fatal(err)
		}
		b.ic.SetDown(true)
		t0 := time.Now()
		for _, m := range []string{"m0", "m1"} {
			if err := c.sendText(m); err != nil {
				t.Fatal(err)
			}
		}
		const left = 10 * time.Second
		time.Sleep(left)
		c.ws.Close()
		call := b.gw.cfg.CallTimeout
		givenUp := func() uint64 { return b.gw.m.results[methodMessage][resultError].get() }
		for _, step := range []struct {
			at   time.Duration // since t0
			want uint64
		}{
			{call - time.Millisecond, 0},
			{call + time.Millisecond, 1},
			{left + call - time.Millisecond, 1},
			{left + call + time.Millisecond, 2},
		} {
			time.Sleep(time.Until(t0.Add(step.at)))
			if n := givenUp(); n != step.want {
				t.Fatalf("%v after the first send: %d ws_message calls given up, want %d", step.at, n, step.want)
			}
		}
		if n := wsCloses(b.gw); n != 0 {
			t.Fatalf("%d ws_close done while the IC is down", n)
		}
		b.ic.SetDown(false)
		waitFor(t, "ws_close once the IC is back", func() bool { return wsCloses(b.gw) == 1 })
	})
}
