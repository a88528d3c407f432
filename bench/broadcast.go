package bench

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/bench/canister"
)

// baselineHeader is the size of a baseline payload's header: the load canister's header (kind
// Broadcast and the broadcast number) and the server's send time (Unix nanoseconds, big-endian),
// which the canister's messages carry in their timestamp instead.
const baselineHeader = canister.HeaderSize + 8

// defaultBaselineQueue is the baseline server's queue per connection, the gateway's default
// (gateway.DefaultSendQueueSize).
const defaultBaselineQueue = 256

// broadcastServer is the baseline: a bare WebSocket broadcast server on gorilla/websocket, the
// library of the gateway, as one would write it without the IC. POST /broadcast?count=N&size=S
// sends N payloads of S bytes to every connection; any other request is a WebSocket. Each
// connection has a bounded queue and a writer goroutine; a connection whose queue is full is
// closed, as the gateway closes a client that is too slow.
type broadcastServer struct {
	upgrader websocket.Upgrader
	queue    int

	mu     sync.Mutex
	conns  map[*bconn]struct{} // guarded by mu
	next   uint64              // guarded by mu; the next broadcast number
	joined uint64              // guarded by mu; connections so far
	closed bool                // guarded by mu
}

type bconn struct {
	ws   *websocket.Conn
	send chan []byte
	once sync.Once
	done chan struct{}
}

func newBroadcastServer(queue int) *broadcastServer {
	if queue <= 0 {
		queue = defaultBaselineQueue
	}
	return &broadcastServer{
		// The gateway's buffer settings, so that the memory per connection compares.
		upgrader: websocket.Upgrader{ReadBufferSize: 1024, WriteBufferPool: &sync.Pool{}, CheckOrigin: func(*http.Request) bool { return true }},
		queue:    queue,
		conns:    make(map[*bconn]struct{}),
	}
}

// broadcastReply is the answer of POST /broadcast.
type broadcastReply struct {
	First   uint64 `json:"first"`
	Clients int    `json:"clients"`
}

func (b *broadcastServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/broadcast" {
		b.serveBroadcast(w, r)
		return
	}
	ws, err := b.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &bconn{ws: ws, send: make(chan []byte, b.queue), done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		ws.Close()
		return
	}
	b.conns[c] = struct{}{}
	id := b.joined
	b.joined++
	b.mu.Unlock()
	// The welcome tells the client that broadcasts will reach it, as the canister's does.
	c.send <- b.payload(canister.Welcome, id, baselineHeader)
	go b.write(c)
	// Read (and drop) until the socket ends: gorilla answers pings and close frames while reading.
	for {
		if _, _, err := ws.NextReader(); err != nil {
			break
		}
	}
	b.drop(c)
}

func (b *broadcastServer) serveBroadcast(w http.ResponseWriter, r *http.Request) {
	count, err1 := strconv.Atoi(r.URL.Query().Get("count"))
	size, err2 := strconv.Atoi(r.URL.Query().Get("size"))
	if r.Method != http.MethodPost || err1 != nil || err2 != nil || count < 0 || size < baselineHeader || size > canister.MaxSize {
		http.Error(w, fmt.Sprintf("want POST /broadcast?count=N&size=S with S from %d to %d", baselineHeader, canister.MaxSize), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	conns := make([]*bconn, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	first := b.next
	b.next += uint64(count)
	b.mu.Unlock()
	for i := 0; i < count; i++ {
		p := b.payload(canister.Broadcast, first+uint64(i), size)
		for _, c := range conns {
			select {
			case c.send <- p:
			default:
				b.drop(c) // too slow
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(broadcastReply{First: first, Clients: len(conns)})
}

// payload is a baseline payload: the kind, the number, the time now, padding to size bytes.
func (b *broadcastServer) payload(kind byte, n uint64, size int) []byte {
	p := canister.AppendPayload(make([]byte, 0, size), kind, n, canister.HeaderSize)
	p = binary.BigEndian.AppendUint64(p, uint64(time.Now().UnixNano()))
	for len(p) < size {
		p = append(p, byte(len(p)))
	}
	return p
}

// write writes c's queue until c is dropped.
func (b *broadcastServer) write(c *bconn) {
	for {
		select {
		case p := <-c.send:
			_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
				b.drop(c)
				return
			}
		case <-c.done:
			return
		}
	}
}

// drop forgets c and closes its socket.
func (b *broadcastServer) drop(c *bconn) {
	c.once.Do(func() {
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
		close(c.done)
		c.ws.Close()
	})
}

// close drops every connection.
func (b *broadcastServer) close() {
	b.mu.Lock()
	b.closed = true
	conns := make([]*bconn, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	for _, c := range conns {
		b.drop(c)
	}
}
