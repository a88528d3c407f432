package gateway

import (
	"io"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/protocol/omnia"
)

// batch is one poll's answer, shared by every frame made from it. The certificate and the witness
// cover the whole batch; their encoding (tail) is made once and written to each client straight
// from here, never copied per client. The seed protocol's frames are S6 {key, val, cert, tree},
// Omnia's {key, content, cert, tree}: the same map but for one field name, and the same tail.
type batch struct {
	msgs []protocol.Message
	// to holds, for an Omnia batch, the client principal of each message (with msgs[i].ClientID,
	// the client nonce, the client key); it is nil for the seed protocol.
	to   []principal.Principal
	tail []byte // `"cert": bytes, "tree": bytes`, the end of every frame of the batch
	// raw, if set, is a frame written as it is (Omnia's handshake); the batch then has no msgs.
	raw []byte
	// cert and certTree are the poll's certificate and witness, for S9 frames (batchframe.go);
	// bidx is what S9 writers share, built on first use.
	cert, certTree []byte
	bidx           *batchIndex
}

// newBatch is the batch of a seed or icws poll. A batch of more than prunedS6From messages has no
// tail: its S6 frames carry pruned witnesses and its S9 frames their own (batchframe.go), so the
// whole witness, ~125 bytes per message, is not copied into a tail nobody writes.
func newBatch(res *protocol.CertMessages) *batch {
	b := &batch{msgs: res.Messages, cert: res.Cert, certTree: res.Tree, bidx: new(batchIndex)}
	if !b.prunesS6() {
		b.tail = protocol.AppendCertTail(make([]byte, 0, protocol.CertTailSize(res.Cert, res.Tree)), res.Cert, res.Tree)
	}
	return b
}

// newOmniaBatch is newBatch for an Omnia poll: to[i] is the principal of msgs[i]'s client.
func newOmniaBatch(res *protocol.CertMessages, to []principal.Principal) *batch {
	tail := omnia.AppendFrameTail(make([]byte, 0, omnia.FrameTailSize(res.Cert, res.Tree)), res.Cert, res.Tree)
	return &batch{msgs: res.Messages, to: to, tail: tail}
}

// rawFrame is a batch of one frame written as it is.
func rawFrame(b []byte) outFrame { return outFrame{b: &batch{raw: b}} }

// outFrame is one message waiting in a client's send queue: message i of batch b.
type outFrame struct {
	b *batch
	i int
	// last marks the canister's close notice: the connection is closed once it is written.
	last bool
	// idx, if set, makes this one S9 frame of messages idx of b (batchframe.go), for a client
	// that opted in; i is then the last of them.
	idx []int32
}

// client is the key of message i's client in its hub.
func (b *batch) client(i int) clientKey {
	k := clientKey{id: b.msgs[i].ClientID}
	if b.to != nil {
		k.principal = b.to[i]
	}
	return k
}

// frameSize is the length of the frame of message i of b.
func (b *batch) frameSize(i int) int {
	if b.raw != nil {
		return len(b.raw)
	}
	m := &b.msgs[i]
	if b.to != nil {
		return omnia.FrameHeadSize(m.Key, len(m.Val)) + len(m.Val) + len(b.tail)
	}
	return protocol.CertHeadSize(m.Key, len(m.Val)) + len(m.Val) + len(b.tail)
}

// writeFrame writes the frame of message i of b to w: for the seed protocol the S6 frame
// {key, val, cert, tree}, the same bytes as protocol.CertMessage.Marshal (protocol's
// AppendCertHead, the message, the batch's shared AppendCertTail); for Omnia the same with
// omnia.AppendFrameHead, as omnia.Frame.Marshal. scratch is reused between calls to avoid
// allocation.
func (b *batch) writeFrame(w io.Writer, scratch []byte, i int) ([]byte, error) {
	if b.raw != nil {
		_, err := w.Write(b.raw)
		return scratch, err
	}
	m := &b.msgs[i]
	var h []byte
	if b.to != nil {
		h = omnia.AppendFrameHead(scratch[:0], m.Key, len(m.Val))
	} else {
		h = protocol.AppendCertHead(scratch[:0], m.Key, len(m.Val))
	}
	if _, err := w.Write(h); err != nil {
		return h, err
	}
	if _, err := w.Write(m.Val); err != nil {
		return h, err
	}
	_, err := w.Write(b.tail)
	return h, err
}
