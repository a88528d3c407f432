package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/protocol"
)

// websocketLabel is the label under which the canister's certified map hangs in its witness.
var websocketLabel = []byte("websocket")

// certInfo is what the client needs of a verified certificate.
type certInfo struct {
	// certifiedData is the canister's certified data, as the certificate states it.
	certifiedData []byte
	// time is the certificate's /time.
	time time.Time
}

// certFunc verifies a certificate for the client's canister: its decoding, BLS signature,
// delegation and canister ranges, but not its freshness, which the verifier checks against its
// own clock and bounds. It returns an error if the certificate has no certified data for the
// canister.
type certFunc func(cert []byte) (certInfo, error)

// cacheSlots is the number of certificates (and of witness trees) a verifier remembers. The
// gateway sends one certificate and one tree with every message of a batch, so one slot serves a
// batch; a few more absorb batches that interleave after a reconnection.
const cacheSlots = 4

// certEntry is one remembered certificate, good or bad.
type certEntry struct {
	cert string // the exact bytes, as a string (the cache key)
	info certInfo
	err  error
}

// treeEntry is one remembered witness tree, decoded, with its root hash.
type treeEntry struct {
	tree   string // the exact bytes
	node   hashtree.Node
	digest [32]byte
	err    error
}

// verifier runs the checks of Recv on frames from the gateway. It is owned by the reader of a
// Conn (one goroutine at a time) and keeps the next expected sequence number.
type verifier struct {
	clientID   uint64
	verifyCert certFunc
	now        func() time.Time
	maxCertAge time.Duration // how old a certificate may be
	maxAge     time.Duration // how old a message's timestamp may be
	maxSkew    time.Duration // how far ahead of now a certificate or timestamp may be

	// next is the sequence number of the next canister message due.
	next uint64

	certs     [cacheSlots]certEntry
	certsNext int
	trees     [cacheSlots]treeEntry
	treesNext int
	// shared, if set, replaces the slots above: verdicts shared with other verifiers.
	shared *SharedCache

	// certVerifications counts calls of verifyCert (for tests and benchmarks).
	certVerifications int
}

// verified is a message that passed every check.
type verified struct {
	key      string
	msg      protocol.WebsocketMessage
	received time.Time
}

// cert returns the verified certificate of the given bytes, from the cache or by verifying it.
// Failures are remembered too, so a gateway repeating a bad certificate costs one verification;
// except failures of time, which may pass later (a certificate from the future) and are checked
// again anyway.
func (v *verifier) cert(b []byte) certEntry {
	if v.shared != nil {
		return v.shared.cert(b, v)
	}
	for i := range v.certs {
		e := &v.certs[i]
		if e.cert == string(b) && (e.err != nil || e.info.certifiedData != nil) {
			return *e
		}
	}
	e, keep := v.verifyCertEntry(b)
	if !keep {
		return e
	}
	v.certs[v.certsNext] = e
	v.certsNext = (v.certsNext + 1) % cacheSlots
	return e
}

// verifyCertEntry verifies certificate b and returns the entry to remember, and whether to
// remember it: failures of time are not (they may pass later, and are checked again anyway).
func (v *verifier) verifyCertEntry(b []byte) (e certEntry, keep bool) {
	v.certVerifications++
	info, err := v.verifyCert(b)
	if err != nil && (errors.Is(err, certificate.ErrStale) || errors.Is(err, certificate.ErrFuture)) {
		return certEntry{err: err}, false
	}
	e = certEntry{cert: string(b), info: info, err: err}
	if err == nil {
		e.info.certifiedData = bytes.Clone(info.certifiedData)
		if e.info.certifiedData == nil {
			e.info.certifiedData = []byte{}
		}
	}
	return e, true
}

// tree returns the decoded witness of the given bytes and its root hash, from the cache or by
// decoding it.
func (v *verifier) tree(b []byte) *treeEntry {
	if v.shared != nil {
		return v.shared.tree(b)
	}
	for i := range v.trees {
		e := &v.trees[i]
		if e.tree == string(b) && (e.err != nil || e.node != nil) {
			return e
		}
	}
	e := &v.trees[v.treesNext]
	v.treesNext = (v.treesNext + 1) % cacheSlots
	*e = decodeTree(b)
	return e
}

// decodeTree decodes witness b (a copy of it: the node aliases the copy, not the frame) and
// hashes it.
func decodeTree(b []byte) treeEntry {
	s := string(b)
	node, err := hashtree.Unmarshal([]byte(s))
	e := treeEntry{tree: s, node: node, err: err}
	if err == nil {
		if e.node == nil {
			e.node = hashtree.Empty{}
		}
		e.digest = hashtree.Digest(node)
	}
	return e
}

// check runs every check on one frame, in the documented order, and returns the message if all
// pass. On success it advances the expected sequence number. It never panics on any input.
func (v *verifier) check(frame []byte) (verified, *VerifyError) {
	cm, err := protocol.DecodeCertMessage(frame)
	if err != nil {
		return verified{}, verifyErrorf(Malformed, "", err, "the frame is not a cert message")
	}
	te, now, verr := v.checkCertTree(cm.Key, cm.Cert, cm.Tree)
	if verr != nil {
		return verified{}, verr
	}
	return v.checkMessage(te, now, cm.Key, cm.Val)
}

// checkCertTree runs the frame-wide checks, 1 and 2 below, on a certificate and a witness, and
// returns the decoded witness and the time of the checks. key names the frame in errors.
func (v *verifier) checkCertTree(key string, cert, tree []byte) (*treeEntry, time.Time, *VerifyError) {
	// 1. The certificate verifies (BLS, delegation, canister ranges) and is fresh.
	ce := v.cert(cert)
	switch {
	case errors.Is(ce.err, certificate.ErrStale):
		return nil, time.Time{}, verifyErrorf(Stale, key, ce.err, "the certificate is too old")
	case errors.Is(ce.err, certificate.ErrFuture):
		return nil, time.Time{}, verifyErrorf(Future, key, ce.err, "the certificate is from the future")
	case ce.err != nil:
		return nil, time.Time{}, verifyErrorf(BadCertificate, key, ce.err, "the certificate does not verify")
	}
	now := v.now()
	if age := now.Sub(ce.info.time); age > v.maxCertAge {
		return nil, time.Time{}, verifyErrorf(Stale, key, nil, "the certificate is %v old (time %s), more than the %v allowed",
			age.Round(time.Millisecond), ce.info.time.UTC().Format(time.RFC3339Nano), v.maxCertAge)
	} else if -age > v.maxSkew {
		return nil, time.Time{}, verifyErrorf(Future, key, nil, "the certificate's time %s is %v ahead of the local clock (at most %v allowed)",
			ce.info.time.UTC().Format(time.RFC3339Nano), (-age).Round(time.Millisecond), v.maxSkew)
	}

	// 2. The canister's certified data is the witness's root hash.
	te := v.tree(tree)
	if te.err != nil {
		return nil, time.Time{}, verifyErrorf(Tampered, key, te.err, "the witness tree does not decode")
	}
	if !bytes.Equal(ce.info.certifiedData, te.digest[:]) {
		return nil, time.Time{}, verifyErrorf(Tampered, key, nil, "the witness root %s is not the canister's certified data %s",
			hex.EncodeToString(te.digest[:]), hex.EncodeToString(ce.info.certifiedData))
	}

	return te, now, nil
}

// checkMessage runs checks 3 to 7 on one message, key and val, under a witness that passed
// checkCertTree at now. On success it advances the expected sequence number.
func (v *verifier) checkMessage(te *treeEntry, now time.Time, key string, val []byte) (verified, *VerifyError) {
	// 3. The witness holds ["websocket", key] = SHA-256(val).
	r := hashtree.Lookup(te.node, websocketLabel, []byte(key))
	if r.Status != hashtree.Found {
		return verified{}, verifyErrorf(Tampered, key, nil, "the witness does not hold [\"websocket\", key] (lookup: %v)", r.Status)
	}
	sum := sha256.Sum256(val)
	if !bytes.Equal(r.Value, sum[:]) {
		return verified{}, verifyErrorf(Tampered, key, nil, "SHA-256 of val is %s, the witness certifies %s",
			hex.EncodeToString(sum[:]), hex.EncodeToString(r.Value))
	}

	// 4. val decodes. It is certified, so a failure here is the canister's fault, not the gateway's.
	m, err := protocol.DecodeWebsocketMessage(val)
	if err != nil {
		return verified{}, verifyErrorf(Malformed, key, err, "the certified message does not decode")
	}

	// 5. It is ours.
	if m.ClientID != v.clientID {
		e := verifyErrorf(Foreign, key, nil, "the message is for client %d, we are client %d", m.ClientID, v.clientID)
		e.Seq = m.SequenceNum
		return verified{}, e
	}

	// 6. It is the next one.
	switch {
	case m.SequenceNum < v.next:
		e := verifyErrorf(Replay, key, nil, "sequence number %d was already delivered (next is %d)", m.SequenceNum, v.next)
		e.Seq = m.SequenceNum
		return verified{}, e
	case m.SequenceNum > v.next:
		e := verifyErrorf(Gap, key, nil, "sequence number %d, want %d: %d message(s) missing", m.SequenceNum, v.next, m.SequenceNum-v.next)
		e.Seq = m.SequenceNum
		return verified{}, e
	}

	// 7. Its timestamp is neither in the future nor too old.
	ts := time.Unix(0, int64(m.Timestamp))
	if m.Timestamp > 1<<63-1 {
		ts = time.Unix(0, 1<<63-1)
	}
	if age := now.Sub(ts); age > v.maxAge {
		e := verifyErrorf(Stale, key, nil, "the message was queued %v ago (at %s), more than the %v allowed",
			age.Round(time.Millisecond), ts.UTC().Format(time.RFC3339Nano), v.maxAge)
		e.Seq = m.SequenceNum
		return verified{}, e
	} else if -age > v.maxSkew {
		e := verifyErrorf(Future, key, nil, "the message's timestamp %s is %v ahead of the local clock (at most %v allowed)",
			ts.UTC().Format(time.RFC3339Nano), (-age).Round(time.Millisecond), v.maxSkew)
		e.Seq = m.SequenceNum
		return verified{}, e
	}

	v.next++
	return verified{key: key, msg: m, received: now}, nil
}

// String describes the verifier's position, for logs.
func (v *verifier) String() string {
	return fmt.Sprintf("client %d, next sequence number %d", v.clientID, v.next)
}
