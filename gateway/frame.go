package gateway

import (
	"bytes"
	"io"

	"github.com/icws/icws/ic/cbor"
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
	tail = cbor.AppendText(tail, "cert")
	tail = cbor.AppendBytes(tail, res.Cert)
	tail = cbor.AppendText(tail, "tree")
	tail = cbor.AppendBytes(tail, res.Tree)
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
	return 1 + 4 + cbor.HeadLen(uint64(len(m.Key))) + len(m.Key) +
		4 + cbor.HeadLen(uint64(len(m.Val))) + len(m.Val) + len(b.tail)
}

// writeFrame writes the S6 frame {key, val, cert, tree} of message i of b to w: the same bytes as
// protocol.CertMessage.Marshal, with the batch's certificate and tree written from the shared tail.
// scratch is reused between calls to avoid allocation.
func (b *batch) writeFrame(w io.Writer, scratch []byte, i int) ([]byte, error) {
	m := &b.msgs[i]
	h := scratch[:0]
	h = cbor.AppendHead(h, cbor.MajorMap, 4)
	h = cbor.AppendText(h, "key")
	h = cbor.AppendText(h, m.Key)
	h = cbor.AppendText(h, "val")
	h = cbor.AppendHead(h, cbor.MajorBytes, uint64(len(m.Val)))
	if _, err := w.Write(h); err != nil {
		return h, err
	}
	if _, err := w.Write(m.Val); err != nil {
		return h, err
	}
	_, err := w.Write(b.tail)
	return h, err
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
