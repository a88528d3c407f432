package client

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/icws/icws/ic/bls"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// fixture plays the IC and a canister: it queues messages in a certified map the way the
// canister library does, and makes the frames a gateway would send for a batch, with real BLS
// certificates signed by its own root key.
type fixture struct {
	sk       *bls.SecretKey
	rootKey  []byte
	canister principal.Principal
	gateway  principal.Principal
	clientID uint64
	nonce    uint64
	now      time.Time
	// certified is the certified map: key → SHA-256(val).
	certified map[string][]byte
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ikm := make([]byte, 32)
	for i := range ikm {
		ikm[i] = byte(i + 1)
	}
	sk, err := bls.GenerateKey(ikm)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		sk:        sk,
		rootKey:   sk.PublicKeyDER(),
		canister:  principal.CanisterID(7),
		gateway:   principal.SelfAuthenticating([]byte("a test gateway's DER public key")),
		clientID:  16,
		now:       time.Unix(1_700_000_000, 0),
		certified: map[string][]byte{},
	}
}

// verifier returns a verifier of f's messages for f.clientID, with clock f.now.
func (f *fixture) verifier(t testing.TB) *verifier {
	t.Helper()
	now := func() time.Time { return f.now }
	cf, err := newCertFunc(f.rootKey, f.canister, now, DefaultMaxCertificateAge, DefaultMaxClockSkew)
	if err != nil {
		t.Fatal(err)
	}
	return &verifier{
		clientID:   f.clientID,
		verifyCert: cf,
		now:        now,
		maxCertAge: DefaultMaxCertificateAge,
		maxAge:     time.Minute,
		maxSkew:    DefaultMaxClockSkew,
	}
}

// msg returns the canister message of seq for client, stamped at f.now.
func (f *fixture) msg(client, seq uint64, text string) protocol.WebsocketMessage {
	return protocol.WebsocketMessage{
		ClientID:    client,
		SequenceNum: seq,
		Timestamp:   uint64(f.now.UnixNano()),
		Message:     protocol.AppMessage{Text: text}.Marshal(),
	}
}

// batch queues the messages and returns their frames, sharing one certificate (with time
// certTime) and one witness, as a gateway sends a poll's batch.
func (f *fixture) batch(t testing.TB, certTime time.Time, msgs ...protocol.WebsocketMessage) [][]byte {
	t.Helper()
	vals := make([][]byte, len(msgs))
	for i := range msgs {
		vals[i] = msgs[i].MarshalCanister()
	}
	return f.batchVals(t, certTime, vals...)
}

// batchVals is batch with the certified values given as bytes.
func (f *fixture) batchVals(t testing.TB, certTime time.Time, vals ...[]byte) [][]byte {
	t.Helper()
	keys := make([]string, len(vals))
	for i := range vals {
		keys[i] = protocol.KeyFor(f.gateway, f.nonce)
		f.nonce++
		sum := sha256.Sum256(vals[i])
		f.certified[keys[i]] = sum[:]
	}
	cert, tree := f.certify(t, certTime, keys)
	frames := make([][]byte, len(vals))
	for i := range vals {
		cm := protocol.CertMessage{Key: keys[i], Val: vals[i], Cert: cert, Tree: tree}
		frames[i] = cm.Marshal()
	}
	return frames
}

// certify returns a certificate of the canister's certified data at certTime and the witness of
// keys.
func (f *fixture) certify(t testing.TB, certTime time.Time, keys []string) (cert, tree []byte) {
	t.Helper()
	var b hashtree.Builder
	for k, h := range f.certified {
		if err := b.Insert([][]byte{[]byte("websocket"), []byte(k)}, h); err != nil {
			t.Fatal(err)
		}
	}
	full := b.Tree()
	paths := make([][][]byte, len(keys))
	for i, k := range keys {
		paths[i] = [][]byte{[]byte("websocket"), []byte(k)}
	}
	witness := hashtree.Prune(full, paths...)
	tree, err := hashtree.Marshal(witness)
	if err != nil {
		t.Fatal(err)
	}
	tree = append([]byte{0xd9, 0xd9, 0xf7}, tree...)
	digest := hashtree.Digest(full)
	var s hashtree.Builder
	if err := s.Insert([][]byte{[]byte("canister"), f.canister.Bytes(), []byte("certified_data")}, digest[:]); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert([][]byte{[]byte("time")}, certificate.EncodeTime(certTime)); err != nil {
		t.Fatal(err)
	}
	cert, err = certificate.Sign(f.sk, s.Tree())
	if err != nil {
		t.Fatal(err)
	}
	return cert, tree
}

// reframe decodes a frame, lets edit change it, and encodes it again.
func reframe(t testing.TB, frame []byte, edit func(*protocol.CertMessage)) []byte {
	t.Helper()
	cm, err := protocol.DecodeCertMessage(frame)
	if err != nil {
		t.Fatal(err)
	}
	cm.Val = append([]byte(nil), cm.Val...)
	cm.Cert = append([]byte(nil), cm.Cert...)
	cm.Tree = append([]byte(nil), cm.Tree...)
	edit(&cm)
	return cm.Marshal()
}

// flipLast flips the low bit of the last byte of b.
func flipLast(b []byte) { b[len(b)-1] ^= 1 }
