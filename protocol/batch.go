package protocol

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/icws/icws/ic/cbor"
)

// Batched frames and sized polls (docs/PROTOCOL.md §13).
const (
	// BatchFrames is the value of S2's "batch" key with which a client asks for S9 frames.
	BatchFrames = 1
	// MaxBatchVals is the most messages an S9 frame may hold.
	MaxBatchVals = 10000
	// PollBytes is the reply budget an icws gateway passes as ws_get_messages' second argument:
	// the IC's 2 MiB reply limit less 128 KiB for the certificate and the Candid framing.
	PollBytes = 2<<20 - 128<<10
	// MaxSizedBatch is the most messages a canister returns to a sized poll.
	MaxSizedBatch = 10000
	// SizedPollOverhead is what a sized poll counts for each message beyond its val and twice its
	// key (once in the reply's record, once in the witness): the Candid record's client id and
	// length prefixes and the witness's node framing and leaf hash.
	SizedPollOverhead = 48
)

// SizedPollCost is what one message of the given key and val lengths counts against a sized
// poll's budget (docs/PROTOCOL.md §13.3).
func SizedPollCost(keyLen, valLen int) int { return valLen + 2*keyLen + SizedPollOverhead }

// SignFirstMessageBatched is SignFirstMessage with S2's "batch" key set to batch (BatchFrames to
// opt in to S9 frames; 0 writes the seed's S2).
func SignFirstMessageBatched(key ed25519.PrivateKey, m FirstMessage, batch uint64) []byte {
	s1 := m.Marshal()
	return SignedFirstMessage{FirstMessage: s1, Sig: ed25519.Sign(key, s1), Batch: batch}.Marshal()
}

// BatchFrame is S9, the messages of one poll batch for one client, with one certificate and a
// witness of their keys.
//
// Wire form: a5 (no tag) "gateway": text, "nonces": array of uint, "vals": array of bytes,
// "cert": bytes, "tree": bytes, in that order. It always starts with BatchFramePrefix.
type BatchFrame struct {
	// Gateway is the key prefix, the gateway's principal text: the key of Vals[i] is
	// AppendKey(nil, Gateway, Nonces[i]).
	Gateway string
	// Nonces are the messages' key nonces, strictly increasing, as many as Vals.
	Nonces []uint64
	// Vals are the S4 values as certified, 1 to MaxBatchVals of them.
	Vals [][]byte
	// Cert is the IC certificate of the canister's certified data.
	Cert []byte
	// Tree is the tagged witness of the keys (pruned to them, or any witness holding them).
	Tree []byte
}

// BatchFramePrefix is the first bytes of every S9: map(5), "gateway". No S6 or S8 starts so.
const BatchFramePrefix = "\xa5\x67gateway"

// IsBatchFrame reports whether frame is an S9 (by its prefix).
func IsBatchFrame(frame []byte) bool { return bytes.HasPrefix(frame, []byte(BatchFramePrefix)) }

// Key returns the key of message i.
func (f *BatchFrame) Key(i int) string { return string(AppendKey(nil, f.Gateway, f.Nonces[i])) }

// Size is the length of f's encoding.
func (f *BatchFrame) Size() int {
	n := 1 + 8 + cbor.HeadLen(uint64(len(f.Gateway))) + len(f.Gateway) + 7 + cbor.HeadLen(uint64(len(f.Nonces)))
	for _, x := range f.Nonces {
		n += cbor.HeadLen(x)
	}
	n += 5 + cbor.HeadLen(uint64(len(f.Vals)))
	for _, v := range f.Vals {
		n += cbor.HeadLen(uint64(len(v))) + len(v)
	}
	return n + CertTailSize(f.Cert, f.Tree)
}

// Marshal encodes f.
func (f *BatchFrame) Marshal() []byte { return f.AppendCBOR(make([]byte, 0, f.Size())) }

// AppendCBOR appends the encoding of f to dst.
func (f *BatchFrame) AppendCBOR(dst []byte) []byte {
	dst = cbor.AppendHead(dst, cbor.MajorMap, 5)
	dst = cbor.AppendText(dst, "gateway")
	dst = cbor.AppendText(dst, f.Gateway)
	dst = cbor.AppendText(dst, "nonces")
	dst = cbor.AppendHead(dst, cbor.MajorArray, uint64(len(f.Nonces)))
	for _, x := range f.Nonces {
		dst = appendUint(dst, x)
	}
	dst = cbor.AppendText(dst, "vals")
	dst = cbor.AppendHead(dst, cbor.MajorArray, uint64(len(f.Vals)))
	for _, v := range f.Vals {
		dst = cbor.AppendBytes(dst, v)
	}
	return AppendCertTail(dst, f.Cert, f.Tree)
}

// AppendBatchFrame appends to dst the S9 frame of n messages, the same bytes as
// BatchFrame.AppendCBOR, taking the parts from functions so that a gateway builds a frame without
// collecting them first: nonce(i) and val(i) for i from 0 to n-1, and the tagged witness, which
// tree appends to the slice it is given (cbor.AppendBytesFunc).
func AppendBatchFrame(dst []byte, gateway string, n int, nonce func(int) uint64, val func(int) []byte, cert []byte, tree func([]byte) []byte) []byte {
	dst = cbor.AppendHead(dst, cbor.MajorMap, 5)
	dst = cbor.AppendText(dst, "gateway")
	dst = cbor.AppendText(dst, gateway)
	dst = cbor.AppendText(dst, "nonces")
	dst = cbor.AppendHead(dst, cbor.MajorArray, uint64(n))
	for i := range n {
		dst = appendUint(dst, nonce(i))
	}
	dst = cbor.AppendText(dst, "vals")
	dst = cbor.AppendHead(dst, cbor.MajorArray, uint64(n))
	for i := range n {
		dst = cbor.AppendBytes(dst, val(i))
	}
	return AppendCertTailFunc(dst, cert, tree)
}

// DecodeBatchFrame decodes S9 (tag optional). Gateway is copied; Vals, Cert and Tree alias b.
// Nonces and Vals must have the same length, 1 to MaxBatchVals, the nonces strictly increasing,
// and the gateway part non-empty and without '_'.
func DecodeBatchFrame(b []byte) (BatchFrame, error) {
	var f BatchFrame
	const what = "batch frame"
	seen, err := decodeMap(what, b, func(r *reader, key []byte) (int, bool, error) {
		var err error
		switch string(key) {
		case "gateway":
			f.Gateway, err = r.text("gateway")
			return 0, true, err
		case "nonces":
			f.Nonces, err = r.nonces()
			return 1, true, err
		case "vals":
			f.Vals, err = r.batchVals()
			return 2, true, err
		case "cert":
			f.Cert, err = r.bytes("cert")
			return 3, true, err
		case "tree":
			f.Tree, err = r.bytes("tree")
			return 4, true, err
		}
		return 0, false, nil
	})
	if err == nil {
		err = missing(what, seen, "gateway", "nonces", "vals", "cert", "tree")
	}
	switch {
	case err != nil:
	case f.Gateway == "" || bytes.IndexByte([]byte(f.Gateway), '_') >= 0:
		err = fmt.Errorf("%s: %w: gateway %q is not a key prefix (empty or with '_')", what, ErrMalformed, f.Gateway)
	case len(f.Nonces) != len(f.Vals):
		err = fmt.Errorf("%s: %w: %d nonces for %d values", what, ErrMalformed, len(f.Nonces), len(f.Vals))
	}
	if err != nil {
		return BatchFrame{}, err
	}
	return f, nil
}

// nonces reads S9's array of 1 to MaxBatchVals strictly increasing uints.
func (r *reader) nonces() ([]uint64, error) {
	n, err := r.arrayHead("nonces", MaxBatchVals)
	if err != nil {
		return nil, err
	}
	xs := make([]uint64, n)
	for i := range xs {
		if xs[i], err = r.uint("nonces"); err != nil {
			return nil, err
		}
		if i > 0 && xs[i] <= xs[i-1] {
			return nil, fmt.Errorf("field \"nonces\": %w", r.errorf("nonce %d follows %d, want strictly increasing", xs[i], xs[i-1]))
		}
	}
	return xs, nil
}

// batchVals reads S9's array of 1 to MaxBatchVals byte strings.
func (r *reader) batchVals() ([][]byte, error) {
	n, err := r.arrayHead("vals", MaxBatchVals)
	if err != nil {
		return nil, err
	}
	vs := make([][]byte, n)
	for i := range vs {
		if vs[i], err = r.bytes("vals"); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

// arrayHead reads the head of an array of 1 to limit items, each at least one byte long.
func (r *reader) arrayHead(field string, limit uint64) (uint64, error) {
	major, n, err := r.headSkipSelfDescribe()
	if err != nil {
		return 0, fmt.Errorf("field %q: %w", field, err)
	}
	if major != cbor.MajorArray {
		return 0, fmt.Errorf("field %q: %w", field, r.errorf("want an array, got %s", majorName(major)))
	}
	if n == 0 || n > limit {
		return 0, fmt.Errorf("field %q: %w", field, r.errorf("%d items, want 1 to %d", n, limit))
	}
	if n > uint64(len(r.b)-r.off) {
		return 0, fmt.Errorf("field %q: %w", field, r.errorf("array of %d items is longer than the input", n))
	}
	return n, nil
}
