package gateway

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// loopbackPair returns the two ends of a TCP connection on loopback.
func loopbackPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial loopback: %v", err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept on loopback failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestCorkConn(t *testing.T) {
	tests := []struct {
		name       string
		cork       bool
		sizes      []int
		wantWrites int
	}{
		{"uncorked writes pass through", false, []int{100, 200, 300}, 3},
		{"corked writes go out in one", true, []int{100, 200, 300, 7500, 7500}, 1},
		{"corked writes past the limit flush", true, []int{corkLimit - 10, 100, 100}, 2},
		{"a corked write larger than the limit goes straight out", true, []int{10, corkLimit + 1, 10}, 3},
		{"corked with nothing written writes nothing", true, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := loopbackPair(t)
			cc := &countingConn{Conn: a}
			c := &corkConn{Conn: cc, pool: newCorkPool()}
			var want bytes.Buffer
			if tt.cork {
				c.cork()
			}
			for i, n := range tt.sizes {
				p := bytes.Repeat([]byte{byte(i + 1)}, n)
				want.Write(p)
				if k, err := c.Write(p); err != nil || k != n {
					t.Fatalf("Write(%d bytes) = %d, %v", n, k, err)
				}
			}
			if tt.cork {
				if err := c.uncork(); err != nil {
					t.Fatalf("uncork: %v", err)
				}
				if c.buf != nil {
					t.Fatal("uncork kept the buffer: an idle connection must hold none")
				}
			}
			if cc.writes != tt.wantWrites {
				t.Fatalf("%d writes reached the socket, want %d", cc.writes, tt.wantWrites)
			}
			got := make([]byte, want.Len())
			if _, err := io.ReadFull(b, got); err != nil {
				t.Fatalf("read what was written: %v", err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatal("the bytes that arrived differ from those written, or arrived out of order")
			}
		})
	}
}

func TestCorkConnWriteError(t *testing.T) {
	a, _ := loopbackPair(t)
	c := &corkConn{Conn: a, pool: newCorkPool()}
	c.cork()
	if _, err := c.Write([]byte("frame")); err != nil {
		t.Fatalf("corked Write: %v", err)
	}
	a.Close()
	if err := c.uncork(); err == nil {
		t.Fatal("uncork on a closed socket reported no error")
	}
}

// BenchmarkCorkConn writes bursts of 20 frames of 7.5 KB (today's frame for a 64-byte payload)
// over loopback, one write per frame against one coalesced write per burst.
func BenchmarkCorkConn(b *testing.B) {
	frame := bytes.Repeat([]byte{0xa5}, 7500)
	for _, corked := range []bool{false, true} {
		name := "per-frame"
		if corked {
			name = "coalesced"
		}
		b.Run(name, func(b *testing.B) {
			a, r := loopbackPair(b)
			go io.Copy(io.Discard, r)
			c := &corkConn{Conn: a, pool: newCorkPool()}
			b.SetBytes(int64(20 * len(frame)))
			for b.Loop() {
				if corked {
					c.cork()
				}
				for range 20 {
					if _, err := c.Write(frame); err != nil {
						b.Fatal(err)
					}
				}
				if corked {
					if err := c.uncork(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
