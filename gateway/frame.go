package gateway

import (
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
	tail := protocol.AppendCertTail(make([]byte, 0, protocol.CertTailSize(res.Cert, res.Tree)), res.Cert, res.Tree)
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
	return protocol.CertHeadSize(m.Key, len(m.Val)) + len(m.Val) + len(b.tail)
}

// writeFrame writes the S6 frame {key, val, cert, tree} of message i of b to w: the same bytes as
// protocol.CertMessage.Marshal (protocol's AppendCertHead, the message, the batch's shared
// AppendCertTail).
// scratch is reused between calls to avoid allocation.
func (b *batch) writeFrame(w io.Writer, scratch []byte, i int) ([]byte, error) {
	m := &b.msgs[i]
	h := protocol.AppendCertHead(scratch[:0], m.Key, len(m.Val))
	if _, err := w.Write(h); err != nil {
		return h, err
	}
	if _, err := w.Write(m.Val); err != nil {
		return h, err
	}
	_, err := w.Write(b.tail)
	return h, err
}
