package client

import (
	"github.com/icws/icws/protocol"
)

// Batched frames (docs/PROTOCOL.md §13): unless Config.SingleFrames, the client asks for S9 frames
// at open; each carries several messages with one certificate and one witness. The verifier checks
// the certificate and the witness's digest once per frame, then every message as it checks an S6
// frame's, in order, with the same next sequence number; Recv then delivers them one at a time.

// batchItem is one message of an S9 frame after the checks: verified, or the error to report.
type batchItem struct {
	s   *socket
	vm  verified
	err *VerifyError
}

// checkBatch checks an S9 frame and returns its messages' outcomes in order. A frame that does
// not decode, or whose certificate or witness fails, is one fatal error (err). Otherwise each
// message gets the checks of an S6; after the first fatal failure nothing more is checked, so the
// items end with it.
func (v *verifier) checkBatch(s *socket, frame []byte) ([]batchItem, *VerifyError) {
	f, err := protocol.DecodeBatchFrame(frame)
	if err != nil {
		return nil, verifyErrorf(Malformed, "", err, "the frame is not a batch frame")
	}
	te, now, verr := v.checkCertTree(f.Key(0), f.Cert, f.Tree)
	if verr != nil {
		return nil, verr
	}
	items := make([]batchItem, 0, len(f.Vals))
	for i, val := range f.Vals {
		vm, verr := v.checkMessage(te, now, f.Key(i), val)
		items = append(items, batchItem{s: s, vm: vm, err: verr})
		if verr != nil && verr.Fatal() {
			break
		}
	}
	return items, nil
}

// popBatch returns the next message of the S9 frame being delivered, if any.
func (c *Conn) popBatch() (batchItem, bool) {
	if len(c.batchq) == 0 {
		return batchItem{}, false
	}
	it := c.batchq[0]
	c.batchq[0] = batchItem{}
	c.batchq = c.batchq[1:]
	if len(c.batchq) == 0 {
		c.batchq = nil
	}
	return it, true
}
