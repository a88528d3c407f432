package gateway

import (
	"bytes"
	"io"

	"github.com/icws/icws/protocol"
)

// batch is one poll's answer, shared by every frame made from it. The certificate and the witness
// cover the whole batch; their encoding (tail) is made once and written to each client straight
// from here, never copied per client.
type batch struct {
	msgs []protocol.Message
	tail []byte // `"cert": bytes, "tree": bytes`, the end of every S6 frame of the batch
}

func newBatch(res *protocol.CertMessages) *batch {
	tail := make([]byte, 0, 5+9+len(res.Cert)+5+9+len(res.Tree))
	tail = appendCBORText(tail, "cert")
	tail = appendCBORHead(tail, cborBytes, uint64(len(res.Cert)))
	tail = append(tail, res.Cert...)
	tail = appendCBORText(tail, "tree")
	tail = appendCBORHead(tail, cborBytes, uint64(len(res.Tree)))
	tail = append(tail, res.Tree...)
	return &batch{msgs: res.Messages, tail: tail}
}

// outFrame is one message waiting in a client's send queue: message i of batch b.
type outFrame struct {
	b *batch
	i int
	// last marks the canister's close notice: the connection is closed once it is written.
	last bool
}

// frameSize is the length of the S6 frame of message i of b.
func (b *batch) frameSize(i int) int {
	m := &b.msgs[i]
	return 1 + 4 + cborHeadLen(uint64(len(m.Key))) + len(m.Key) +
		4 + cborHeadLen(uint64(len(m.Val))) + len(m.Val) + len(b.tail)
}

// writeFrame writes the S6 frame {key, val, cert, tree} of message i of b to w: the same bytes as
// protocol.CertMessage.Marshal, with the batch's certificate and tree written from the shared tail.
// scratch is reused between calls to avoid allocation.
func (b *batch) writeFrame(w io.Writer, scratch []byte, i int) ([]byte, error) {
	m := &b.msgs[i]
	h := scratch[:0]
	h = appendCBORHead(h, cborMap, 4)
	h = appendCBORText(h, "key")
	h = appendCBORText(h, m.Key)
	h = appendCBORText(h, "val")
	h = appendCBORHead(h, cborBytes, uint64(len(m.Val)))
	if _, err := w.Write(h); err != nil {
		return h, err
	}
	if _, err := w.Write(m.Val); err != nil {
		return h, err
	}
	_, err := w.Write(b.tail)
	return h, err
}

// CBOR major types used by the frame encoder.
const (
	cborBytes = 2
	cborText  = 3
	cborMap   = 5
)

// appendCBORHead appends a CBOR head (major type and argument) in the shortest form.
func appendCBORHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func cborHeadLen(n uint64) int {
	switch {
	case n < 24:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	}
	return 9
}

func appendCBORText(b []byte, s string) []byte {
	b = appendCBORHead(b, cborText, uint64(len(s)))
	return append(b, s...)
}

// closeKey is the CBOR text "close", the key of a canister's close notice in a service message.
const closeKey = "\x65close"

// closeNotice reports whether val (S4) is the canister's close notice, the last message of a
// connection the canister closed, and its reason. Most messages are rejected by a byte search
// without decoding.
func closeNotice(val []byte) (string, bool) {
	if !bytes.Contains(val, []byte(closeKey)) {
		return "", false
	}
	m, err := protocol.DecodeWebsocketMessage(val)
	if err != nil || !m.Service || m.Close == "" {
		return "", false
	}
	return m.Close, true
}
