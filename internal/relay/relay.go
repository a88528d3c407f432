// Package relay is a gateway that misbehaves on purpose: a WebSocket relay between clients and a
// real gateway that passes, drops or withholds frames as a Policy says, while keeping the
// client's socket open. The client tests, the browser tests and `icws bench relay` use it to
// check that a client notices a silent gateway, a withheld last message and a swallowed client
// message, and how soon.
//
// An S9 frame (docs/PROTOCOL.md §13, several messages under one certificate) is put to the policy
// once per message it carries, so that a policy counts messages whatever the framing: the relay
// passes the messages the policy passes, in an S9 with the same certificate and witness (which
// still verifies: the witness holds every key of the batch), and withholds the rest.
package relay

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	ws "github.com/gorilla/websocket"

	"github.com/icws/icws/gateway"
	"github.com/icws/icws/protocol"
)

// Action is what a Policy does with one frame.
type Action int

const (
	// Pass relays the frame.
	Pass Action = iota
	// Drop discards the frame; later frames are asked about as usual.
	Drop
	// Silence discards the frame and every later one in its direction; the relay stops reading
	// from that side but keeps the client's socket open, as a gateway that withholds would.
	Silence
)

// Frame is one WebSocket data frame on its way through the relay, decoded where it can be.
type Frame struct {
	// N is the frame's index in its direction on its connection, from 0. The messages of one S9
	// share it.
	N int
	// Batch says the frame is an S9 that decoded; the policy is then asked about each of its
	// messages in order, Part being the message's index in it (0 for every other frame).
	Batch bool
	Part  int
	// Type is the WebSocket message type (ws.BinaryMessage for the protocol's frames).
	Type int
	// Data is the frame's bytes (for an S9, the whole frame). A policy must not keep or change
	// them.
	Data []byte
	// Decoded says whether Data decoded: as a cert message (S6) from the gateway, whose key is
	// Key and whose certified val is Msg, or message Part of an S9, likewise; or as a client
	// message (S5) from the client, whose unverified S4 is Msg. The first frame of a client (S2)
	// does not decode.
	Decoded bool
	Key     string
	Msg     protocol.WebsocketMessage
}

// App reports whether the frame carries an application message (not a service message).
func (f *Frame) App() bool { return f.Decoded && !f.Msg.Service }

// Policy decides, per connection, what happens to each frame. Its functions run on the
// connection's goroutine of their direction, one frame at a time; nil passes every frame.
type Policy struct {
	// Down decides on each frame from the gateway to the client.
	Down func(f *Frame) Action
	// Up decides on each frame from the client to the gateway.
	Up func(f *Frame) Action
}

// SilentFromStart withholds every frame from the gateway from the start, and passes the client's.
func SilentFromStart() Policy {
	return Policy{Down: func(*Frame) Action { return Silence }}
}

// WithholdAfter passes the gateway's frames until n application messages went through, then
// withholds the next application message and everything after it, heartbeats too.
func WithholdAfter(n int) Policy {
	passed := 0
	return Policy{Down: func(f *Frame) Action {
		if !f.App() {
			return Pass
		}
		if passed == n {
			return Silence
		}
		passed++
		return Pass
	}}
}

// SilentAfterHeartbeat passes the gateway's frames up to and including the first service
// message (the canister's first heartbeat), then withholds everything.
func SilentAfterHeartbeat() Policy {
	beat := false
	return Policy{Down: func(f *Frame) Action {
		if beat {
			return Silence
		}
		beat = f.Decoded && f.Msg.Service
		return Pass
	}}
}

// SwallowClientMessage drops the client's application message with index k (0 for its first),
// and passes every other frame either way.
func SwallowClientMessage(k int) Policy {
	seen := 0
	return Policy{Up: func(f *Frame) Action {
		if !f.App() {
			return Pass
		}
		seen++
		if seen-1 == k {
			return Drop
		}
		return Pass
	}}
}

// Relay relays WebSocket connections to the gateway at Target, each under a Policy of its own.
// It is an http.Handler; serve it on a loopback listener (or a net.Pipe listener in a synctest
// bubble).
type Relay struct {
	// Target is the gateway's WebSocket URL.
	Target string
	// Policy returns the policy of a new connection; nil passes everything.
	Policy func() Policy
	// Dialer dials the gateway; nil is ws.DefaultDialer.
	Dialer *ws.Dialer
	// DrainSilenced keeps reading (and discarding) the gateway's frames once a policy silenced
	// them, so that the gateway's pings are answered and it keeps the connection, as a gateway
	// that withholds on purpose would. Leave it off in a synctest bubble: a goroutine reading a
	// real socket is not durably blocked, so the bubble's clock would never jump.
	DrainSilenced bool

	wg sync.WaitGroup
	mu sync.Mutex
	// passed is when the relay last passed a frame to a client; withheld when it first dropped
	// or withheld one, in either direction (zero: never).
	passed, withheld time.Time
}

// LastPassed returns when the relay last passed a gateway frame to a client, or zero.
func (r *Relay) LastPassed() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.passed
}

// FirstWithheld returns when the relay first dropped or withheld a frame, or zero.
func (r *Relay) FirstWithheld() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.withheld
}

// Wait waits for the connections being relayed to end (their clients' sockets to close).
func (r *Relay) Wait() { r.wg.Wait() }

func (r *Relay) mark(passed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case passed:
		r.passed = time.Now()
	case r.withheld.IsZero():
		r.withheld = time.Now()
	}
}

// ServeHTTP upgrades the client's request, dials the gateway (passing the Origin header on) and
// relays between them until the client's socket ends.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.wg.Add(1)
	defer r.wg.Done()
	var p Policy
	if r.Policy != nil {
		p = r.Policy()
	}
	d := r.Dialer
	if d == nil {
		d = ws.DefaultDialer
	}
	h := http.Header{}
	if o := req.Header.Get("Origin"); o != "" {
		h.Set("Origin", o)
	}
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	gconn, res, err := d.DialContext(ctx, r.Target, h)
	cancel()
	if err != nil {
		status := http.StatusBadGateway
		if res != nil {
			status = res.StatusCode
		}
		http.Error(w, "relay: cannot reach the gateway "+r.Target+": "+err.Error(), status)
		return
	}
	defer gconn.Close()
	up := ws.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	cconn, err := up.Upgrade(w, req, nil)
	if err != nil {
		return
	}
	defer cconn.Close()
	// Bounds on what one frame may hold: a client's message (the gateway's default cap), and a
	// gateway's frame (a message with its certificate and witness).
	cconn.SetReadLimit(gateway.DefaultMaxMessageBytes)
	gconn.SetReadLimit(16 << 20)
	downDone := make(chan struct{})
	go func() { // gateway → client, until the gateway's socket ends or the policy silences it
		defer close(downDone)
		r.copy(gconn, cconn, p.Down, true)
	}()
	r.copy(cconn, gconn, p.Up, false) // client → gateway, until the client's socket ends
	_ = gconn.Close()
	<-downDone
}

// copy relays src's frames to dst under decide until src ends or dst fails; down says src is the
// gateway. A src that ends with a close code passes it on to dst. Once decide silences, the
// gateway's side is no longer read (its frames wait in the socket) unless DrainSilenced; the
// client's is still read, and its frames discarded, so that its socket stays open.
func (r *Relay) copy(src, dst *ws.Conn, decide func(*Frame) Action, down bool) {
	decode := decodeUp
	if down {
		decode = decodeDown
	}
	silent := false
	for n := 0; ; n++ {
		typ, data, err := src.ReadMessage()
		if err != nil {
			if silent {
				return
			}
			code, reason := ws.CloseGoingAway, ""
			var ce *ws.CloseError
			if errors.As(err, &ce) && ce.Code != ws.CloseAbnormalClosure && ce.Code != ws.CloseNoStatusReceived {
				code, reason = ce.Code, ce.Text
			}
			_ = dst.WriteControl(ws.CloseMessage, ws.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
			return
		}
		if silent {
			continue
		}
		if down && decide != nil && typ == ws.BinaryMessage && protocol.IsBatchFrame(data) {
			if bf, err := protocol.DecodeBatchFrame(data); err == nil {
				out, act := r.decideBatch(n, data, bf, decide)
				if out != nil {
					if err := dst.WriteMessage(typ, out); err != nil {
						return
					}
					r.mark(true)
				}
				if act == Silence {
					if !r.DrainSilenced {
						return
					}
					silent = true
				}
				continue
			}
		}
		act := Pass
		if decide != nil {
			f := &Frame{N: n, Type: typ, Data: data}
			if typ == ws.BinaryMessage {
				decode(f)
			}
			act = decide(f)
		}
		switch act {
		case Drop:
			r.mark(false)
			continue
		case Silence:
			r.mark(false)
			if down && !r.DrainSilenced {
				return
			}
			silent = true
			continue
		}
		if err := dst.WriteMessage(typ, data); err != nil {
			return
		}
		if down {
			r.mark(true)
		}
	}
}

// decideBatch puts each message of S9 frame bf (data, the connection's frame n) to decide, in
// order, and returns the frame to relay in its place (nil for none: every message dropped or
// withheld) and Silence if decide silenced at one of its messages (the messages after it are not
// asked about), else Pass. The frame relayed is data itself when every message passed, else an
// S9 of the messages that passed with bf's certificate and witness.
func (r *Relay) decideBatch(n int, data []byte, bf protocol.BatchFrame, decide func(*Frame) Action) ([]byte, Action) {
	keep := protocol.BatchFrame{Gateway: bf.Gateway, Cert: bf.Cert, Tree: bf.Tree}
	final := Pass
	for i, val := range bf.Vals {
		f := &Frame{N: n, Type: ws.BinaryMessage, Data: data, Batch: true, Part: i, Key: bf.Key(i)}
		if m, err := protocol.DecodeWebsocketMessage(val); err == nil {
			f.Decoded, f.Msg = true, m
		}
		act := decide(f)
		if act == Pass {
			keep.Nonces = append(keep.Nonces, bf.Nonces[i])
			keep.Vals = append(keep.Vals, val)
			continue
		}
		r.mark(false)
		if act == Silence {
			final = Silence
			break
		}
	}
	switch len(keep.Vals) {
	case len(bf.Vals):
		return data, final
	case 0:
		return nil, final
	}
	return keep.Marshal(), final
}

// decodeDown decodes a gateway frame (S6).
func decodeDown(f *Frame) {
	cm, err := protocol.DecodeCertMessage(f.Data)
	if err != nil {
		return
	}
	m, err := protocol.DecodeWebsocketMessage(cm.Val)
	if err != nil {
		return
	}
	f.Decoded, f.Key, f.Msg = true, cm.Key, m
}

// decodeUp decodes a client frame (S5; its signature unchecked).
func decodeUp(f *Frame) {
	cm, err := protocol.DecodeClientMessage(f.Data)
	if err != nil {
		return
	}
	m, err := protocol.DecodeWebsocketMessage(cm.Val)
	if err != nil {
		return
	}
	f.Decoded, f.Msg = true, m
}
