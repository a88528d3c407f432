package client_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ws "github.com/gorilla/websocket"

	"github.com/icws/icws/protocol"
)

// proxy is a gateway that misbehaves on purpose: a WebSocket proxy on a loopback listener in
// front of a real gateway. It passes the client's frames on untouched, and lets edit change,
// drop, add or hold the frames from the gateway to each client.
//
// An S9 frame (the clients ask for them by default) is put to edit as the S6 frames of its
// messages, one by one (each verifies: the S9's witness holds all of its keys), so that an edit
// written for S6 frames sees every message: when edit passes all of them unchanged the S9 goes
// on as it came, else the client gets the S6 frames edit returned. With whole set, edit gets S9
// frames as they are (TestBatchFramesForged).
type proxy struct {
	url string
	// edit gets each frame from the gateway to a client, and returns the frames to send to the
	// client instead (none to drop it). It runs on the connection's gateway-to-client goroutine,
	// so it may block to hold frames back — the whole frame from the gateway, all the messages of
	// an S9 with it: to hold one message back, drop it and return it later (TestDelayedMessage).
	// Nil passes every frame.
	edit func(f *proxyFrame) [][]byte

	// swallow, when set, drops the clients' frames instead of passing them to the gateway.
	swallow atomic.Bool
	// whole, when set, puts S9 frames to edit whole instead of message by message.
	whole atomic.Bool

	// closes gets the code of every Close frame from a client (buffered; those past its room are
	// not reported).
	closes chan int

	mu     sync.Mutex
	conns  map[*ws.Conn]bool // the clients' connections
	firsts [][]byte          // the first frame (S2) of every connection, in order
}

// firstFrames returns the first frame (S2) of every connection so far, in order.
func (p *proxy) firstFrames() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.firsts...)
}

// closeAll sends a Close frame with code and reason to every client, as a gateway would.
func (p *proxy) closeAll(code protocol.CloseCode, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.WriteControl(ws.CloseMessage, ws.FormatCloseMessage(int(code), reason), time.Now().Add(time.Second))
	}
}

// proxyFrame is a frame from the gateway, decoded for edit.
type proxyFrame struct {
	client uint64 // the client of the connection
	n      int    // the index of the gateway's frame on the connection: the messages of an S9 share it
	data   []byte
	key    string
	msg    protocol.WebsocketMessage // the certified message (val)
}

// text is the text of the frame's app message, or "" for a service message or another payload.
func (f *proxyFrame) text() string {
	if f.msg.Service {
		return ""
	}
	m, err := protocol.DecodeAppMessage(f.msg.Message)
	if err != nil {
		return ""
	}
	return m.Text
}

// edited decodes the frame, lets change alter its parts, and encodes it again.
func (f *proxyFrame) edited(change func(cm *protocol.CertMessage)) []byte {
	cm, err := protocol.DecodeCertMessage(f.data)
	if err != nil {
		panic(err)
	}
	cm.Val = append([]byte(nil), cm.Val...)
	cm.Cert = append([]byte(nil), cm.Cert...)
	cm.Tree = append([]byte(nil), cm.Tree...)
	change(&cm)
	return cm.Marshal()
}

// newProxy starts a proxy to the gateway at target.
func newProxy(t *testing.T, target string, edit func(f *proxyFrame) [][]byte) *proxy {
	t.Helper()
	p := &proxy{edit: edit, conns: map[*ws.Conn]bool{}, closes: make(chan int, 16)}
	var wg sync.WaitGroup
	up := ws.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cconn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		gconn, _, err := ws.DefaultDialer.Dial(target, nil)
		if err != nil {
			_ = cconn.WriteMessage(ws.CloseMessage, ws.FormatCloseMessage(ws.CloseInternalServerErr, "proxy: "+err.Error()))
			_ = cconn.Close()
			return
		}
		wg.Add(1)
		defer wg.Done()
		p.mu.Lock()
		p.conns[cconn] = true
		p.mu.Unlock()
		p.serve(cconn, gconn)
		p.mu.Lock()
		delete(p.conns, cconn)
		p.mu.Unlock()
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	p.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return p
}

// serve relays between the client's and the gateway's connection until either ends, passing
// Close frames (code and reason) on.
func (p *proxy) serve(cconn, gconn *ws.Conn) {
	var client atomic.Uint64
	done := make(chan struct{})
	go func() { // gateway → client
		defer close(done)
		for n := 0; ; n++ {
			typ, data, err := gconn.ReadMessage()
			if err != nil {
				forwardClose(cconn, err)
				return
			}
			out := [][]byte{data}
			if p.edit != nil && typ == ws.BinaryMessage {
				out = p.editFrame(client.Load(), n, data)
			}
			for _, d := range out {
				if err := cconn.WriteMessage(typ, d); err != nil {
					_ = gconn.Close()
					return
				}
			}
		}
	}()
	for { // client → gateway
		typ, data, err := cconn.ReadMessage()
		if err != nil {
			if ce, ok := err.(*ws.CloseError); ok {
				select {
				case p.closes <- ce.Code:
				default:
				}
			}
			forwardClose(gconn, err)
			break
		}
		if client.Load() == 0 {
			if s2, err := protocol.DecodeSignedFirstMessage(data); err == nil {
				if s1, err := s2.Decode(); err == nil {
					client.Store(s1.ClientID)
					p.mu.Lock()
					p.firsts = append(p.firsts, append([]byte(nil), data...))
					p.mu.Unlock()
				}
			}
		}
		if p.swallow.Load() {
			continue
		}
		if err := gconn.WriteMessage(typ, data); err != nil {
			break
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	_ = gconn.Close()
	_ = cconn.Close()
	<-done
}

// editFrame puts frame n from the gateway to client to edit and returns what to send instead:
// an S9 message by message, as S6 frames (see proxy), unless whole.
func (p *proxy) editFrame(client uint64, n int, data []byte) [][]byte {
	one := func(data []byte) [][]byte {
		f := &proxyFrame{client: client, n: n, data: data}
		if cm, err := protocol.DecodeCertMessage(data); err == nil {
			f.key = cm.Key
			f.msg, _ = protocol.DecodeWebsocketMessage(cm.Val)
		}
		return p.edit(f)
	}
	if p.whole.Load() || !protocol.IsBatchFrame(data) {
		return one(data)
	}
	bf, err := protocol.DecodeBatchFrame(data)
	if err != nil {
		return one(data)
	}
	var out [][]byte
	same := true
	for i, val := range bf.Vals {
		cm := protocol.CertMessage{Key: bf.Key(i), Val: val, Cert: bf.Cert, Tree: bf.Tree}
		s6 := cm.Marshal()
		got := one(s6)
		same = same && len(got) == 1 && bytes.Equal(got[0], s6)
		out = append(out, got...)
	}
	if same {
		return [][]byte{data}
	}
	return out
}

// forwardClose sends to conn the Close frame that ended the other side (1006 becomes 1011).
func forwardClose(conn *ws.Conn, err error) {
	code, reason := ws.CloseInternalServerErr, "proxy: the other side dropped"
	if ce, ok := err.(*ws.CloseError); ok && ce.Code != ws.CloseAbnormalClosure && ce.Code != ws.CloseNoStatusReceived {
		code, reason = ce.Code, ce.Text
	}
	_ = conn.WriteControl(ws.CloseMessage, ws.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}
