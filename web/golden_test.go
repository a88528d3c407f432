package web

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/icws/icws/ic/bls"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

// goldenPath holds the vectors of the Node tests of the browser client (test/verify.test.mjs):
// frames made with the Go IC primitives, and the encodings of package protocol.
const goldenPath = "testdata/golden.json"

type golden struct {
	Canister  string           `json:"canister"`
	Cases     []goldenCase     `json:"cases"`
	Encodings []goldenEncoding `json:"encodings"`
}

type goldenCase struct {
	Name     string       `json:"name"`
	RootKey  string       `json:"rootKey"`
	ClientID string       `json:"clientId"`
	NowMS    int64        `json:"nowMs"`
	Steps    []goldenStep `json:"steps"`
	// CertVerifications is how many certificates the verifier must have verified (not cached).
	CertVerifications int `json:"certVerifications,omitempty"`
}

type goldenStep struct {
	Frame string     `json:"frame"`
	Want  goldenWant `json:"want"`
	// Batch marks an S9 frame (Verifier.checkBatch): Want.Kind is the frame's failure, if the
	// frame fails as a whole; else Wants are its messages' outcomes in order.
	Batch bool         `json:"batch,omitempty"`
	Wants []goldenWant `json:"wants,omitempty"`
}

// goldenWant is a verified message (Kind empty) or the kind of the failed check.
type goldenWant struct {
	Kind    string `json:"kind,omitempty"`
	Seq     string `json:"seq,omitempty"`
	Text    string `json:"text,omitempty"`
	Service bool   `json:"service,omitempty"`
	Close   string `json:"close,omitempty"`
}

type goldenEncoding struct {
	Name string `json:"name"`
	// Seed is the client's Ed25519 seed (hex), for the signed forms.
	Seed      string `json:"seed,omitempty"`
	Canister  string `json:"canister,omitempty"`
	ClientID  string `json:"clientId"`
	Seq       string `json:"seq,omitempty"`
	Timestamp string `json:"timestamp,omitempty"`
	Text      string `json:"text,omitempty"`
	Service   bool   `json:"service,omitempty"`
	Ack       string `json:"ack,omitempty"`
	// Batch is S2's "batch" (docs/PROTOCOL.md §13.1), 0 for none.
	Batch uint64 `json:"batch,omitempty"`
	Want  string `json:"want"`
}

// world plays the IC and a canister: a certified map of messages and certificates over it.
type world struct {
	t         testing.TB
	sk        *bls.SecretKey
	canister  principal.Principal
	gateway   principal.Principal
	nonce     uint64
	now       time.Time
	certified map[string][]byte
	// delegation, when set, makes certificates signed by subnet under it.
	delegation *certificate.Delegation
	subnet     *bls.SecretKey
}

func newWorld(t testing.TB, seed byte) *world {
	t.Helper()
	return &world{
		t:         t,
		sk:        blsKey(t, seed),
		canister:  principal.CanisterID(7),
		gateway:   principal.SelfAuthenticating([]byte("a test gateway's DER public key")),
		nonce:     16,
		now:       time.Unix(1_700_000_000, 0),
		certified: map[string][]byte{},
	}
}

func blsKey(t testing.TB, seed byte) *bls.SecretKey {
	t.Helper()
	ikm := bytes.Repeat([]byte{seed}, 32)
	sk, err := bls.GenerateKey(ikm)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func (w *world) rootKey() string { return hex.EncodeToString(w.sk.PublicKeyDER()) }

func (w *world) msg(client, seq uint64, text string, at time.Time) []byte {
	m := protocol.WebsocketMessage{ClientID: client, SequenceNum: seq, Timestamp: uint64(at.UnixNano()),
		Message: protocol.AppMessage{Text: text}.Marshal()}
	return m.MarshalCanister()
}

// batch certifies vals at certTime and returns their frames, sharing one certificate and witness.
func (w *world) batch(certTime time.Time, vals ...[]byte) [][]byte {
	keys := make([]string, len(vals))
	for i, v := range vals {
		keys[i] = protocol.KeyFor(w.gateway, w.nonce)
		w.nonce++
		sum := sha256.Sum256(v)
		w.certified[keys[i]] = sum[:]
	}
	cert, tree := w.certify(certTime, keys)
	frames := make([][]byte, len(vals))
	for i := range vals {
		cm := protocol.CertMessage{Key: keys[i], Val: vals[i], Cert: cert, Tree: tree}
		frames[i] = cm.Marshal()
	}
	return frames
}

// s9 certifies vals at certTime and returns them as one S9 frame (docs/PROTOCOL.md §13), its
// witness pruned to their keys.
func (w *world) s9(certTime time.Time, vals ...[]byte) protocol.BatchFrame {
	f := protocol.BatchFrame{Gateway: w.gateway.String(), Vals: vals}
	keys := make([]string, len(vals))
	for i, v := range vals {
		f.Nonces = append(f.Nonces, w.nonce)
		keys[i] = protocol.KeyFor(w.gateway, w.nonce)
		w.nonce++
		sum := sha256.Sum256(v)
		w.certified[keys[i]] = sum[:]
	}
	f.Cert, f.Tree = w.certify(certTime, keys)
	return f
}

// batchStep is the step of S9 frame f, failing as a whole with kind, or with wants.
func batchStep(f protocol.BatchFrame, kind string, wants ...goldenWant) goldenStep {
	return goldenStep{Frame: hex.EncodeToString(f.Marshal()), Want: goldenWant{Kind: kind}, Batch: true, Wants: wants}
}

func (w *world) certify(certTime time.Time, keys []string) (cert, tree []byte) {
	var b hashtree.Builder
	all := make([]string, 0, len(w.certified))
	for k := range w.certified {
		all = append(all, k)
	}
	slices.Sort(all)
	for _, k := range all {
		if err := b.Insert([][]byte{[]byte("websocket"), []byte(k)}, w.certified[k]); err != nil {
			w.t.Fatal(err)
		}
	}
	full := b.Tree()
	paths := make([][][]byte, len(keys))
	for i, k := range keys {
		paths[i] = [][]byte{[]byte("websocket"), []byte(k)}
	}
	enc, err := hashtree.Marshal(hashtree.Prune(full, paths...))
	if err != nil {
		w.t.Fatal(err)
	}
	tree = append([]byte{0xd9, 0xd9, 0xf7}, enc...)
	digest := hashtree.Digest(full)
	var s hashtree.Builder
	if err := s.Insert([][]byte{[]byte("canister"), w.canister.Bytes(), []byte("certified_data")}, digest[:]); err != nil {
		w.t.Fatal(err)
	}
	if err := s.Insert([][]byte{[]byte("time")}, certificate.EncodeTime(certTime)); err != nil {
		w.t.Fatal(err)
	}
	if w.delegation != nil {
		cert, err = certificate.SignDelegated(w.subnet, s.Tree(), w.delegation)
	} else {
		cert, err = certificate.Sign(w.sk, s.Tree())
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return cert, tree
}

// edit decodes a frame, lets f change it, and encodes it again.
func edit(t testing.TB, frame []byte, f func(*protocol.CertMessage)) []byte {
	t.Helper()
	cm, err := protocol.DecodeCertMessage(frame)
	if err != nil {
		t.Fatal(err)
	}
	cm.Val = bytes.Clone(cm.Val)
	cm.Cert = bytes.Clone(cm.Cert)
	cm.Tree = bytes.Clone(cm.Tree)
	f(&cm)
	return cm.Marshal()
}

func ok(seq uint64, text string) goldenWant {
	return goldenWant{Seq: strconv.FormatUint(seq, 10), Text: text}
}
func fail(kind string) goldenWant { return goldenWant{Kind: kind} }

func steps(frames [][]byte, wants ...goldenWant) []goldenStep {
	out := make([]goldenStep, len(frames))
	for i := range frames {
		out[i] = goldenStep{Frame: hex.EncodeToString(frames[i]), Want: wants[i]}
	}
	return out
}

func makeGolden(t testing.TB) golden {
	g := golden{Canister: principal.CanisterID(7).String()}
	add := func(w *world, name string, certs int, s []goldenStep) {
		g.Cases = append(g.Cases, goldenCase{Name: name, RootKey: w.rootKey(), ClientID: "16",
			NowMS: w.now.UnixMilli(), Steps: s, CertVerifications: certs})
	}
	sec := time.Second

	w := newWorld(t, 1)
	fr := w.batch(w.now.Add(-2*sec), w.msg(16, 0, "ping", w.now.Add(-3*sec)), w.msg(16, 1, "ping-pong ping", w.now.Add(-2*sec)),
		w.msg(16, 2, "héllo wörld ✓", w.now.Add(-2*sec)))
	add(w, "a batch of three shares one certificate", 1, steps(fr, ok(0, "ping"), ok(1, "ping-pong ping"), ok(2, "héllo wörld ✓")))

	w = newWorld(t, 1)
	fr = w.batch(w.now, w.msg(16, 0, "launch at 1200", w.now))
	fr[0] = edit(t, fr[0], func(cm *protocol.CertMessage) {
		i := bytes.Index(cm.Val, []byte("1200"))
		cm.Val[i+3] ^= 1
	})
	add(w, "a byte of val flipped", 0, steps(fr, fail("tampered")))

	w = newWorld(t, 1)
	fr = w.batch(w.now, w.msg(16, 0, "a", w.now), w.msg(16, 1, "b", w.now))
	fr[1] = edit(t, fr[1], func(cm *protocol.CertMessage) { cm.Tree[len(cm.Tree)-1] ^= 1 })
	add(w, "the witness changed", 1, steps(fr, ok(0, "a"), fail("tampered")))

	w = newWorld(t, 1)
	fr = w.batch(w.now, w.msg(16, 0, "a", w.now), w.msg(16, 1, "b", w.now))
	other := fr[0]
	fr[0] = edit(t, fr[1], func(cm *protocol.CertMessage) {
		o, _ := protocol.DecodeCertMessage(other)
		cm.Key = o.Key
	})
	add(w, "a message under another key", 1, steps(fr[:1], fail("tampered")))

	w = newWorld(t, 1)
	fr = w.batch(w.now, w.msg(16, 0, "a", w.now))
	fr[0] = edit(t, fr[0], func(cm *protocol.CertMessage) {
		i := bytes.Index(cm.Cert, []byte("signature"))
		cm.Cert[i+12] ^= 0x40
	})
	add(w, "the certificate's signature changed", 1, steps(fr, fail("bad certificate")))

	w = newWorld(t, 1)
	fr = w.batch(w.now, w.msg(16, 0, "a", w.now))
	impostor := newWorld(t, 9)
	add(impostor, "a certificate of another root key", 1, steps(fr, fail("bad certificate")))

	w = newWorld(t, 1)
	w.canister = principal.CanisterID(8)
	fr = w.batch(w.now, w.msg(16, 0, "a", w.now))
	w.canister = principal.CanisterID(7)
	add(w, "a certificate of another canister", 1, steps(fr, fail("bad certificate")))

	w = newWorld(t, 1)
	fr = w.batch(w.now, w.msg(17, 0, "not yours", w.now), w.msg(16, 0, "yours", w.now))
	add(w, "a message for another client is skipped", 1, steps(fr, fail("foreign"), ok(0, "yours")))

	w = newWorld(t, 1)
	a := w.batch(w.now, w.msg(16, 0, "first", w.now))
	b := w.batch(w.now, w.msg(16, 0, "first again", w.now), w.msg(16, 1, "second", w.now))
	add(w, "a replay is skipped", 2, steps(append(a, b...), ok(0, "first"), fail("replay"), ok(1, "second")))

	w = newWorld(t, 1)
	fr = w.batch(w.now, w.msg(16, 0, "first", w.now), w.msg(16, 2, "third", w.now), w.msg(16, 1, "second", w.now))
	add(w, "a gap stops the stream", 1, steps(fr[:2], ok(0, "first"), fail("gap")))

	w = newWorld(t, 1)
	fr = w.batch(w.now, w.msg(16, 0, "held back", w.now.Add(-3*time.Minute)))
	add(w, "a message queued three minutes ago", 1, steps(fr, fail("stale")))

	w = newWorld(t, 1)
	fr = w.batch(w.now.Add(-6*time.Minute), w.msg(16, 0, "a", w.now))
	add(w, "a certificate six minutes old", 0, steps(fr, fail("stale")))

	w = newWorld(t, 1)
	fr = w.batch(w.now.Add(time.Minute), w.msg(16, 0, "a", w.now))
	add(w, "a certificate from the future", 0, steps(fr, fail("future")))

	w = newWorld(t, 1)
	fr = w.batch(w.now, w.msg(16, 0, "a", w.now.Add(time.Minute)))
	add(w, "a message from the future", 1, steps(fr, fail("future")))

	w = newWorld(t, 1)
	add(w, "a frame that is not a cert message", 0, steps([][]byte{{0xa1, 0x63, 'k', 'e', 'y', 0x01}}, fail("malformed")))

	w = newWorld(t, 1)
	fr = w.batch(w.now, []byte("\xd9\xd9\xf7\xa1\x64text\x61x"))
	add(w, "a certified message that does not decode", 1, steps(fr, fail("malformed")))

	w = newWorld(t, 1)
	beat := (&protocol.WebsocketMessage{ClientID: 16, SequenceNum: 1, Timestamp: uint64(w.now.UnixNano()), Service: true, Ack: 3}).MarshalCanister()
	bye := (&protocol.WebsocketMessage{ClientID: 16, SequenceNum: 2, Timestamp: uint64(w.now.UnixNano()), Service: true, Ack: 3, Close: "keep-alive timeout"}).MarshalCanister()
	fr = w.batch(w.now, w.msg(16, 0, "a", w.now), beat, bye)
	add(w, "service messages", 1, steps(fr, ok(0, "a"),
		goldenWant{Seq: "1", Service: true}, goldenWant{Seq: "2", Service: true, Close: "keep-alive timeout"}))

	// Delegated certificates, as on mainnet subnets other than the root one.
	w = newWorld(t, 1)
	w.subnet = blsKey(t, 2)
	w.delegation = delegation(t, w, principal.CanisterID(0), principal.CanisterID(100))
	fr = w.batch(w.now, w.msg(16, 0, "via a subnet", w.now))
	add(w, "a delegated certificate", 1, steps(fr, ok(0, "via a subnet")))

	w = newWorld(t, 1)
	w.subnet = blsKey(t, 2)
	w.delegation = delegation(t, w, principal.CanisterID(50), principal.CanisterID(100))
	fr = w.batch(w.now, w.msg(16, 0, "a", w.now))
	add(w, "a delegation whose ranges miss the canister", 1, steps(fr, fail("bad certificate")))

	// S9 batched frames: the certificate and witness once, each message checked as in an S6.
	w = newWorld(t, 1)
	f9 := w.s9(w.now, w.msg(16, 0, "a", w.now), w.msg(16, 1, "b", w.now), w.msg(16, 2, "c", w.now))
	add(w, "S9: three messages under one certificate", 1, []goldenStep{batchStep(f9, "", ok(0, "a"), ok(1, "b"), ok(2, "c"))})

	w = newWorld(t, 1)
	fr = w.batch(w.now, w.msg(16, 0, "by S6", w.now))
	f9 = w.s9(w.now, w.msg(16, 1, "by S9", w.now), w.msg(16, 2, "and on", w.now))
	add(w, "S9: after an S6, the same sequence", 2, []goldenStep{steps(fr, ok(0, "by S6"))[0], batchStep(f9, "", ok(1, "by S9"), ok(2, "and on"))})

	w = newWorld(t, 1)
	f9 = w.s9(w.now, w.msg(16, 0, "a", w.now), w.msg(16, 1, "b", w.now), w.msg(16, 2, "c", w.now))
	f9.Nonces, f9.Vals = []uint64{f9.Nonces[0], f9.Nonces[2]}, [][]byte{f9.Vals[0], f9.Vals[2]}
	add(w, "S9: a message dropped inside is a gap", 1, []goldenStep{batchStep(f9, "", ok(0, "a"), fail("gap"))})

	w = newWorld(t, 1)
	f9 = w.s9(w.now, w.msg(16, 0, "a", w.now), w.msg(16, 1, "b", w.now))
	f9.Vals = [][]byte{f9.Vals[1], f9.Vals[0]}
	add(w, "S9: two values swapped", 1, []goldenStep{batchStep(f9, "", fail("tampered"))})

	w = newWorld(t, 1)
	f9 = w.s9(w.now, w.msg(16, 0, "a", w.now), w.msg(16, 1, "b", w.now))
	f9.Nonces = []uint64{f9.Nonces[0] + 1, f9.Nonces[1] + 1}
	add(w, "S9: renumbered keys", 1, []goldenStep{batchStep(f9, "", fail("tampered"))})

	w = newWorld(t, 1)
	f9 = w.s9(w.now, w.msg(16, 0, "a", w.now), w.msg(16, 1, "b", w.now))
	g9 := w.s9(w.now, w.msg(16, 1, "b again", w.now), w.msg(17, 0, "not yours", w.now), w.msg(16, 2, "c", w.now))
	add(w, "S9: a replay and a foreign message are skipped", 2, []goldenStep{batchStep(f9, "", ok(0, "a"), ok(1, "b")),
		batchStep(g9, "", fail("replay"), fail("foreign"), ok(2, "c"))})

	w = newWorld(t, 1)
	f9 = w.s9(w.now, w.msg(16, 0, "a", w.now), w.msg(16, 1, "held back", w.now.Add(-3*time.Minute)), w.msg(16, 2, "c", w.now))
	add(w, "S9: a stale message stops the frame", 1, []goldenStep{batchStep(f9, "", ok(0, "a"), fail("stale"))})

	w = newWorld(t, 1)
	f9 = w.s9(w.now, w.msg(16, 0, "a", w.now), w.msg(16, 1, "b", w.now))
	f9.Cert = bytes.Clone(f9.Cert)
	f9.Cert[bytes.Index(f9.Cert, []byte("signature"))+12] ^= 0x40
	add(w, "S9: the certificate's signature changed", 1, []goldenStep{batchStep(f9, "bad certificate")})

	w = newWorld(t, 1)
	f9 = w.s9(w.now, w.msg(16, 0, "a", w.now), w.msg(16, 1, "b", w.now))
	f9.Tree = bytes.Clone(f9.Tree)
	f9.Tree[len(f9.Tree)-1] ^= 1
	add(w, "S9: the witness changed", 1, []goldenStep{batchStep(f9, "tampered")})

	w = newWorld(t, 1)
	f9 = w.s9(w.now, w.msg(16, 0, "a", w.now), w.msg(16, 1, "b", w.now))
	raw := f9.Marshal()
	i := bytes.Index(raw, []byte("nonces")) + 7 // after "nonces" and the array head: the two one-byte nonces
	raw[i], raw[i+1] = raw[i+1], raw[i]
	add(w, "S9: nonces out of order do not decode", 0, []goldenStep{{Frame: hex.EncodeToString(raw), Want: fail("malformed"), Batch: true}})

	// Encodings, with the seed's worked example (poc-protocol.md 4.3) and real u64 timestamps.
	seedHex := "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	seed, _ := hex.DecodeString(seedHex)
	key := ed25519.NewKeyFromSeed(seed)
	g.Encodings = append(g.Encodings,
		goldenEncoding{Name: "S2 first message", Seed: seedHex, Canister: "bw4dl-smaaa-aaaaa-qaacq-cai", ClientID: "16",
			Want: hex.EncodeToString(protocol.SignFirstMessage(key, protocol.FirstMessage{CanisterID: "bw4dl-smaaa-aaaaa-qaacq-cai", ClientID: 16}))},
		goldenEncoding{Name: "S2 first message asking for S9", Seed: seedHex, Canister: "bw4dl-smaaa-aaaaa-qaacq-cai", ClientID: "16", Batch: protocol.BatchFrames,
			Want: hex.EncodeToString(protocol.SignFirstMessageBatched(key, protocol.FirstMessage{CanisterID: "bw4dl-smaaa-aaaaa-qaacq-cai", ClientID: 16}, protocol.BatchFrames))})
	for _, m := range []protocol.WebsocketMessage{
		{ClientID: 16, SequenceNum: 0, Timestamp: 1 << 53, Message: protocol.AppMessage{Text: "ping-pong"}.Marshal()},
		{ClientID: 16, SequenceNum: 7, Timestamp: 1_700_000_000_123_456_789, Message: protocol.AppMessage{Text: "héllo ✓ 🎉"}.Marshal()},
		{ClientID: 1 << 40, SequenceNum: 1<<64 - 1, Timestamp: 1<<64 - 1, Message: protocol.AppMessage{Text: ""}.Marshal()},
		{ClientID: 16, SequenceNum: 3, Timestamp: 1_700_000_000_000_000_000, Service: true, Ack: 5},
	} {
		am, _ := protocol.DecodeAppMessage(m.Message)
		e := goldenEncoding{Name: "S5 message", Seed: seedHex, ClientID: strconv.FormatUint(m.ClientID, 10),
			Seq: strconv.FormatUint(m.SequenceNum, 10), Timestamp: strconv.FormatUint(m.Timestamp, 10),
			Text: am.Text, Service: m.Service, Want: hex.EncodeToString(protocol.SignClientMessage(key, &m))}
		if m.Service {
			e.Name = "S5 keep-alive"
			e.Ack = strconv.FormatUint(m.Ack, 10)
		}
		g.Encodings = append(g.Encodings, e)
	}
	return g
}

func delegation(t testing.TB, w *world, first, last principal.Principal) *certificate.Delegation {
	t.Helper()
	d, err := certificate.NewDelegation(w.sk, certificate.DelegationSpec{
		Subnet:    principal.SelfAuthenticating(w.subnet.PublicKeyDER()),
		PublicKey: w.subnet.PublicKeyDER(),
		Ranges:    []certificate.Range{{Start: first, End: last}},
		Time:      w.now.Add(-time.Hour),
		Layout:    certificate.LayoutSubnet,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestGolden checks that testdata/golden.json is what the Go primitives make today (run with
// -update to rewrite it), so the Node tests verify real certificates, witnesses and encodings.
func TestGolden(t *testing.T) {
	b, err := json.MarshalIndent(makeGolden(t), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile(filepath.FromSlash(goldenPath), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(filepath.FromSlash(goldenPath))
	if err != nil {
		t.Fatalf("%v (run go test ./web -run TestGolden -update)", err)
	}
	if !bytes.Equal(have, b) {
		t.Fatalf("%s is out of date: run go test ./web -run TestGolden -update", goldenPath)
	}
}
