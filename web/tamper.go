package web

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/gateway"
	"github.com/icws/icws/protocol"
)

// TamperPath is where Handler serves the tampering relay when Config.TamperRelay is set.
const TamperPath = "/tamper"

// Tamper returns frame, a cert message (S6) or a batch frame (S9) from a gateway, with the last
// byte of an application payload flipped, as a forging gateway would change it, and true; or
// frame itself and false when it carries no application payload with a sequence number of at
// least from (service messages, empty payloads, other frames). In an S9 the first such message
// is changed. The certificate and witness are left as they are, so a client's witness check
// catches it.
func Tamper(frame []byte, from uint64) ([]byte, bool) {
	if protocol.IsBatchFrame(frame) {
		bf, err := protocol.DecodeBatchFrame(frame)
		if err != nil {
			return frame, false
		}
		for i, v := range bf.Vals {
			if val, ok := tamperVal(v, from); ok {
				bf.Vals = slices.Clone(bf.Vals)
				bf.Vals[i] = val
				return bf.Marshal(), true
			}
		}
		return frame, false
	}
	cm, err := protocol.DecodeCertMessage(frame)
	if err != nil {
		return frame, false
	}
	val, ok := tamperVal(cm.Val, from)
	if !ok {
		return frame, false
	}
	cm.Val = val
	return cm.Marshal(), true
}

// tamperVal returns a copy of val, a certified S4, with the last byte of its application payload
// flipped, and true; or nil and false for a service message, an empty payload, or a sequence
// number below from.
func tamperVal(v []byte, from uint64) ([]byte, bool) {
	m, err := protocol.DecodeWebsocketMessage(v)
	if err != nil || m.Service || len(m.Message) == 0 || m.SequenceNum < from {
		return nil, false
	}
	i := bytes.Index(v, m.Message)
	if i < 0 {
		return nil, false
	}
	val := bytes.Clone(v)
	val[i+len(m.Message)-1] ^= 1
	return val, true
}

// tamperRelay is a WebSocket relay to a gateway that forges one message per connection: the
// first canister message with an application payload and a sequence number of at least the
// query's from (default 0) gets a byte flipped (Tamper); everything else passes unchanged. It is the demo page's "tamper" switch: the page moves its connection
// here, sees the forged message rejected, and moves back to the gateway.
type tamperRelay struct {
	gateway string
	up      websocket.Upgrader
	log     *slog.Logger
}

func newTamperRelay(gateway string, log *slog.Logger) *tamperRelay {
	return &tamperRelay{
		gateway: gateway,
		// The gateway checks the page's origin, which the relay passes on.
		up:  websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		log: log,
	}
}

func (t *tamperRelay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := http.Header{}
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Origin", o)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	gw, res, err := websocket.DefaultDialer.DialContext(ctx, t.gateway, h)
	cancel()
	if err != nil {
		status := http.StatusBadGateway
		if res != nil {
			status = res.StatusCode
		}
		http.Error(w, "tamper relay: cannot reach the gateway "+t.gateway+": "+err.Error(), status)
		return
	}
	page, err := t.up.Upgrade(w, r, nil)
	if err != nil {
		gw.Close()
		return
	}
	from, err := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
	if err != nil {
		from = 0
	}
	// Bounds on what one frame may hold: a client's message (the gateway's default cap), and
	// a gateway's frame (a message with its certificate and witness).
	page.SetReadLimit(gateway.DefaultMaxMessageBytes)
	gw.SetReadLimit(16 << 20)
	var forged atomic.Bool
	done := make(chan struct{}, 2)
	go func() { relayFrames(page, gw, nil); done <- struct{}{} }()
	go func() {
		relayFrames(gw, page, func(frame []byte) []byte {
			if forged.Load() {
				return frame
			}
			out, ok := Tamper(frame, from)
			if ok {
				forged.Store(true)
				t.log.Info("tamper relay: forged one message on its way to the page", "remote", r.RemoteAddr)
			}
			return out
		})
		done <- struct{}{}
	}()
	<-done
	gw.Close()
	page.Close()
	<-done
}

// relayFrames copies frames from src to dst, passing binary ones through edit (if not nil), and
// ends dst with src's close code (1001 for a connection that dropped).
func relayFrames(src, dst *websocket.Conn, edit func([]byte) []byte) {
	for {
		typ, data, err := src.ReadMessage()
		if err != nil {
			code, reason := websocket.CloseGoingAway, ""
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure && ce.Code != websocket.CloseNoStatusReceived {
				code, reason = ce.Code, ce.Text
			}
			_ = dst.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
			return
		}
		if typ == websocket.BinaryMessage && edit != nil {
			data = edit(data)
		}
		if err := dst.WriteMessage(typ, data); err != nil {
			return
		}
	}
}
