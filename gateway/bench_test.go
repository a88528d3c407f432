package gateway

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// openMany registers n clients of canister (through a few agents, concurrently) and connects
// them to gw, and waits until they are all open.
func openMany(tb testing.TB, a *agent.Agent, gwURL string, canister principal.Principal, n int, open func() int64, connected func(int, *testClient)) []*testClient {
	tb.Helper()
	cs := make([]*testClient, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c, err := registerE(a, canister)
				if err != nil {
					tb.Error(err)
					return
				}
				c.t = tb
				if err := c.dial(gwURL); err != nil {
					tb.Error(err)
					return
				}
				if err := c.ws.WriteMessage(2, c.firstMessage()); err != nil {
					tb.Error(err)
					return
				}
				cs[i] = c
				if connected != nil {
					connected(i, c)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
	if open != nil {
		waitFor(tb, fmt.Sprintf("%d open clients", n), func() bool { return open() == int64(n) })
	}
	return cs
}

// BenchmarkFanout1000 measures delivery through one gateway to 1,000 clients of the chat canister:
// posts go in through the gateway (ws_message), the canister sends each to every member, and the
// gateway polls and writes them. Posts are pipelined: at most `depth` are not yet delivered to
// every client (depth=1 shows the latency of a lone post, depth=8 the throughput). It reports
// deliveries per second and the p50 and p99 latency from the canister's timestamp (the IC time of
// the round that queued the message) to the client's read.
//
// Setting up costs more than the measurement: each of the 1,000 joins is broadcast to every member
// already there (half a million messages, some of which the canister drops from its bounded queue
// while the clients open; the readers accept gaps until a marker has gone round).
//
//	go test -run '^$' -bench Fanout1000 -benchtime 100x ./gateway
func BenchmarkFanout1000(b *testing.B) {
	const clients, posters = 1000, 8
	ic := startIC(b)
	gw := startGateway(b, ic, Config{MaxConnections: -1, MaxConnectionsPerIP: -1, MessageRate: -1, SendQueueSize: 4096, MaxPendingMessages: 64})

	type post struct {
		count atomic.Int32
		done  chan struct{}
	}
	var (
		mu      sync.Mutex
		posts   []*post
		marker  sync.WaitGroup
		readers sync.WaitGroup
	)
	getPost := func(i int) *post {
		mu.Lock()
		defer mu.Unlock()
		for len(posts) <= i {
			posts = append(posts, &post{done: make(chan struct{})})
		}
		return posts[i]
	}
	// lat[c][n] is client c's latency for post n; a reader writes it before counting the post
	// delivered, so a done post's latencies are visible to the benchmark.
	lat := make([][]time.Duration, clients)
	stop := make(chan struct{})
	marker.Add(clients)
	read := func(ci int, c *testClient) {
		defer readers.Done()
		c.tolerateGaps = true
		sawMarker := false
		for {
			m, err := c.readLight(2 * time.Minute)
			if err != nil {
				select {
				case <-stop:
				default:
					b.Errorf("client %d: %v", ci, err)
				}
				if !sawMarker {
					marker.Done()
				}
				return
			}
			ev, err := chat.Decode(m.Message)
			if m.Service || err != nil || ev.Message == nil {
				continue
			}
			text := ev.Message.Text
			if !sawMarker {
				if text == "marker" {
					sawMarker = true
					c.tolerateGaps = false
					marker.Done()
				}
				continue
			}
			i := strings.LastIndexByte(text, '#')
			n, err := strconv.Atoi(text[i+1:])
			if i < 0 || err != nil {
				continue
			}
			for len(lat[ci]) <= n {
				lat[ci] = append(lat[ci], 0)
			}
			lat[ci][n] = time.Duration(time.Now().UnixNano() - int64(m.Timestamp))
			if p := getPost(n); p.count.Add(1) == clients {
				close(p.done)
			}
		}
	}
	setup := time.Now()
	cs := openMany(b, ic.agent(b), gw.url, ic.chat, clients, gw.m.clients.get, func(i int, c *testClient) {
		readers.Add(1)
		go read(i, c)
	})
	if err := cs[0].sendText("marker"); err != nil {
		b.Fatal(err)
	}
	marker.Wait()
	if b.Failed() {
		b.FailNow()
	}
	b.Logf("setup: %d clients open in %v; %d messages polled, %d batches after messages lost in the canister during the joins",
		clients, time.Since(setup).Round(time.Millisecond), gw.m.messagesPolled.get(), gw.m.pollGaps.get())

	// Posters: one goroutine per posting client, each sending in order.
	sends := make([]chan int, posters)
	var sendWG sync.WaitGroup
	for k := range sends {
		sends[k] = make(chan int, 16)
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			for n := range sends[k] {
				if err := cs[k].sendText("post #" + strconv.Itoa(n)); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	next := 0 // number of the next post
	for _, depth := range []int{1, 8} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			first := next
			polled := gw.m.messagesPolled.get()
			start := time.Now()
			for b.Loop() {
				if next-first >= depth {
					<-getPost(next - depth).done
				}
				sends[next%posters] <- next
				next++
			}
			for i := max(first, next-depth); i < next; i++ {
				<-getPost(i).done
			}
			elapsed := time.Since(start)
			var all []time.Duration
			for _, l := range lat {
				all = append(all, l[first:next]...)
			}
			slices.Sort(all)
			q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e6 }
			b.ReportMetric(float64(gw.m.messagesPolled.get()-polled)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
	for _, s := range sends {
		close(s)
	}
	sendWG.Wait()
	close(stop)
	for _, c := range cs {
		c.ws.Close()
	}
	readers.Wait()
}

// readLight reads the next frame and checks only its sequence number (the benchmark's clients
// skip the tree check, which would dominate the shared CPU).
func (c *testClient) readLight(timeout time.Duration) (protocol.WebsocketMessage, error) {
	c.ws.SetReadDeadline(time.Now().Add(timeout))
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		return protocol.WebsocketMessage{}, err
	}
	f, err := protocol.DecodeCertMessage(data)
	if err != nil {
		return protocol.WebsocketMessage{}, err
	}
	m, err := protocol.DecodeWebsocketMessage(f.Val)
	if err != nil {
		return m, err
	}
	if m.ClientID != c.id {
		return m, fmt.Errorf("message for client %d, I am %d", m.ClientID, c.id)
	}
	return m, c.checkSeq(m.SequenceNum)
}
