package bench

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/icws/icws/client"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// sharedCacheSize bounds each map of sharedChecks; a full map is emptied. A batch's certificate
// and witness are needed only while its messages arrive, so a few dozen entries suffice.
const sharedCacheSize = 256

// Errors of the shared checks, one per check of docs/PROTOCOL.md §5.
var (
	errMalformed   = errors.New("malformed frame")
	errCertificate = errors.New("certificate does not verify")
	errStale       = errors.New("too old")
	errFuture      = errors.New("from the future")
	errTampered    = errors.New("witness does not match")
	errForeign     = errors.New("message for another client")
	errSequence    = errors.New("unexpected sequence number")
)

// sharedChecks verifies canister messages for many clients (VerifySharedCache): each distinct
// certificate is verified once (BLS, root key, canister ranges) and each distinct witness is
// decoded and hashed once, for all clients; the rest of the checks run for every message. The
// bounds are the icws client's defaults.
type sharedChecks struct {
	verifier *certificate.Verifier
	canister principal.Principal
	path     [][]byte // /canister/<id>/certified_data

	mu    sync.Mutex
	certs map[string]*certVerdict // guarded by mu; by exact bytes
	trees map[string]*treeVerdict // guarded by mu; by exact bytes
}

type certVerdict struct {
	done chan struct{} // closed once the fields are set
	data []byte        // the canister's certified data
	time time.Time
	err  error
}

type treeVerdict struct {
	done   chan struct{}
	node   hashtree.Node
	digest [32]byte
	err    error
}

func newSharedChecks(rootKey []byte, canister principal.Principal) (*sharedChecks, error) {
	v, err := certificate.NewVerifier(certificate.VerifierConfig{
		RootKey:              rootKey,
		MaxAge:               client.DefaultMaxCertificateAge,
		MaxFutureSkew:        client.DefaultMaxClockSkew,
		CertificateCacheSize: -1, // the cache is ours, by exact bytes
	})
	if err != nil {
		return nil, err
	}
	return &sharedChecks{
		verifier: v,
		canister: canister,
		path:     [][]byte{[]byte("canister"), canister.Bytes(), []byte("certified_data")},
		certs:    make(map[string]*certVerdict),
		trees:    make(map[string]*treeVerdict),
	}, nil
}

// cert returns the verdict on a certificate, verifying it if no client has yet.
func (s *sharedChecks) cert(b []byte) *certVerdict {
	s.mu.Lock()
	if v, ok := s.certs[string(b)]; ok {
		s.mu.Unlock()
		<-v.done
		return v
	}
	if len(s.certs) >= sharedCacheSize {
		clear(s.certs)
	}
	v := &certVerdict{done: make(chan struct{})}
	s.certs[string(b)] = v
	s.mu.Unlock()
	defer close(v.done)
	c, err := s.verifier.Verify(b, s.canister)
	if err != nil {
		v.err = err
		return v
	}
	r := c.Lookup(s.path...)
	if r.Status != hashtree.Found {
		v.err = fmt.Errorf("no certified data for canister %s (%v)", s.canister, r.Status)
		return v
	}
	v.data = bytes.Clone(r.Value)
	v.time, v.err = c.Time()
	return v
}

// tree returns the decoded witness and its root hash, decoding it if no client has yet.
func (s *sharedChecks) tree(b []byte) *treeVerdict {
	s.mu.Lock()
	if v, ok := s.trees[string(b)]; ok {
		s.mu.Unlock()
		<-v.done
		return v
	}
	if len(s.trees) >= sharedCacheSize {
		clear(s.trees)
	}
	v := &treeVerdict{done: make(chan struct{})}
	s.trees[string(b)] = v
	s.mu.Unlock()
	defer close(v.done)
	v.node, v.err = hashtree.Unmarshal(bytes.Clone(b))
	if v.err == nil {
		v.digest = hashtree.Digest(v.node)
	}
	return v
}

// check runs every check on one frame for client id, which expects sequence number next, and
// returns the message.
func (s *sharedChecks) check(frame []byte, id, next uint64) (protocol.WebsocketMessage, error) {
	cm, err := protocol.DecodeCertMessage(frame)
	if err != nil {
		return protocol.WebsocketMessage{}, fmt.Errorf("%w: %w", errMalformed, err)
	}
	cv := s.cert(cm.Cert)
	if cv.err != nil {
		return protocol.WebsocketMessage{}, fmt.Errorf("%s: %w: %w", cm.Key, errCertificate, cv.err)
	}
	now := time.Now()
	if age := now.Sub(cv.time); age > client.DefaultMaxCertificateAge {
		return protocol.WebsocketMessage{}, fmt.Errorf("%s: certificate %w (%v)", cm.Key, errStale, age)
	} else if -age > client.DefaultMaxClockSkew {
		return protocol.WebsocketMessage{}, fmt.Errorf("%s: certificate %w (%v ahead)", cm.Key, errFuture, -age)
	}
	tv := s.tree(cm.Tree)
	if tv.err != nil {
		return protocol.WebsocketMessage{}, fmt.Errorf("%s: %w: %w", cm.Key, errTampered, tv.err)
	}
	if !bytes.Equal(cv.data, tv.digest[:]) {
		return protocol.WebsocketMessage{}, fmt.Errorf("%s: %w: root hash is not the certified data", cm.Key, errTampered)
	}
	return s.message(tv.node, now, cm.Key, cm.Val, id, next)
}

// message runs the per-message checks on key and val under a witness node whose digest was
// checked at now.
func (s *sharedChecks) message(node hashtree.Node, now time.Time, key string, val []byte, id, next uint64) (protocol.WebsocketMessage, error) {
	r := hashtree.Lookup(node, []byte("websocket"), []byte(key))
	sum := sha256.Sum256(val)
	if r.Status != hashtree.Found || !bytes.Equal(r.Value, sum[:]) {
		return protocol.WebsocketMessage{}, fmt.Errorf("%s: %w: the witness does not certify SHA-256(val) (%v)", key, errTampered, r.Status)
	}
	m, err := protocol.DecodeWebsocketMessage(val)
	if err != nil {
		return m, fmt.Errorf("%s: %w: %w", key, errMalformed, err)
	}
	if m.ClientID != id {
		return m, fmt.Errorf("%s: %w: client %d, we are %d", key, errForeign, m.ClientID, id)
	}
	if m.SequenceNum != next {
		return m, fmt.Errorf("%s: %w: %d, want %d", key, errSequence, m.SequenceNum, next)
	}
	ts := time.Unix(0, int64(min(m.Timestamp, 1<<63-1)))
	if age := now.Sub(ts); age > client.DefaultMaxMessageAge {
		return m, fmt.Errorf("%s: message %w (%v)", key, errStale, age)
	} else if -age > client.DefaultMaxClockSkew {
		return m, fmt.Errorf("%s: message %w (%v ahead)", key, errFuture, -age)
	}
	return m, nil
}

// checkBatch runs the checks on an S9 frame (docs/PROTOCOL.md §13) for client id, which expects
// sequence number next: the certificate (shared cache) and the witness's digest once, then every
// message as check does. The witness is the client's own (pruned to its keys), so it is decoded
// here, not cached.
func (s *sharedChecks) checkBatch(frame []byte, id, next uint64) ([]protocol.WebsocketMessage, error) {
	f, err := protocol.DecodeBatchFrame(frame)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	key0 := f.Key(0)
	cv := s.cert(f.Cert)
	if cv.err != nil {
		return nil, fmt.Errorf("%s: %w: %w", key0, errCertificate, cv.err)
	}
	now := time.Now()
	if age := now.Sub(cv.time); age > client.DefaultMaxCertificateAge {
		return nil, fmt.Errorf("%s: certificate %w (%v)", key0, errStale, age)
	} else if -age > client.DefaultMaxClockSkew {
		return nil, fmt.Errorf("%s: certificate %w (%v ahead)", key0, errFuture, -age)
	}
	node, err := hashtree.Unmarshal(f.Tree)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", key0, errTampered, err)
	}
	if d := hashtree.Digest(node); !bytes.Equal(cv.data, d[:]) {
		return nil, fmt.Errorf("%s: %w: root hash is not the certified data", key0, errTampered)
	}
	ms := make([]protocol.WebsocketMessage, len(f.Vals))
	for i, val := range f.Vals {
		m, err := s.message(node, now, f.Key(i), val, id, next+uint64(i))
		if err != nil {
			return nil, err
		}
		ms[i] = m
	}
	return ms, nil
}

// channelMessage is one checked message of a channel frame: its seq, payload and timestamp.
type channelMessage struct {
	seq       uint64
	payload   []byte // aliases the frame
	timestamp uint64
}

// checkChannel runs the checks of docs/PROTOCOL.md §12.6 on an S8 frame of channel name, as the
// Go client's checkChannel does: the certificate and the witness (the same bytes for every
// subscriber, so both verdicts come from the shared cache), then every value's SHA-256 under
// its key, its channel, seq and time. Which seqs are due is the caller's check.
func (s *sharedChecks) checkChannel(frame []byte, name string, dst []channelMessage) ([]channelMessage, error) {
	f, err := protocol.DecodeChannelFrame(frame)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	key0 := protocol.ChannelKey(f.Channel, f.First)
	if f.Channel != name {
		return nil, fmt.Errorf("%s: %w: a frame of channel %q, not subscribed to", key0, errForeign, f.Channel)
	}
	cv := s.cert(f.Cert)
	if cv.err != nil {
		return nil, fmt.Errorf("%s: %w: %w", key0, errCertificate, cv.err)
	}
	now := time.Now()
	if age := now.Sub(cv.time); age > client.DefaultMaxCertificateAge {
		return nil, fmt.Errorf("%s: certificate %w (%v)", key0, errStale, age)
	} else if -age > client.DefaultMaxClockSkew {
		return nil, fmt.Errorf("%s: certificate %w (%v ahead)", key0, errFuture, -age)
	}
	tv := s.tree(f.Tree)
	if tv.err != nil {
		return nil, fmt.Errorf("%s: %w: %w", key0, errTampered, tv.err)
	}
	if !bytes.Equal(cv.data, tv.digest[:]) {
		return nil, fmt.Errorf("%s: %w: root hash is not the certified data", key0, errTampered)
	}
	kb := make([]byte, 0, len(f.Channel)+2+protocol.NonceDigits)
	for i, val := range f.Vals {
		seq := f.First + uint64(i)
		kb = protocol.AppendChannelKey(kb[:0], f.Channel, seq)
		r := hashtree.Lookup(tv.node, []byte("websocket"), kb)
		sum := sha256.Sum256(val)
		if r.Status != hashtree.Found || !bytes.Equal(r.Value, sum[:]) {
			return nil, fmt.Errorf("%s: %w: the witness does not certify SHA-256(val) (%v)", kb, errTampered, r.Status)
		}
		m, err := protocol.DecodeChannelMessage(val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", kb, errMalformed, err)
		}
		if m.Channel != f.Channel || m.Seq != seq {
			return nil, fmt.Errorf("%s: %w: the certified value is channel %q seq %d", kb, errTampered, m.Channel, m.Seq)
		}
		ts := time.Unix(0, int64(min(m.Timestamp, 1<<63-1)))
		if age := now.Sub(ts); age > client.DefaultMaxMessageAge {
			return nil, fmt.Errorf("%s: message %w (%v)", kb, errStale, age)
		} else if -age > client.DefaultMaxClockSkew {
			return nil, fmt.Errorf("%s: message %w (%v ahead)", kb, errFuture, -age)
		}
		dst = append(dst, channelMessage{seq: seq, payload: m.Message, timestamp: m.Timestamp})
	}
	return dst, nil
}
