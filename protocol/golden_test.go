package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// Vectors from poc-protocol.md §4.3 and §4.4 (checked there against the seed's JS client
// libraries and Go's crypto/ed25519).
const (
	rfc8032Seed1   = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfc8032Public1 = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	seedCanister   = "bw4dl-smaaa-aaaaa-qaacq-cai"
	seedGateway    = "h5ag3-gxvkr-a3wjw-wfhg4-ysa3d-z56v7-i26nf-2qscz-k2vmc-6yvhj-bqe"

	goldenS1 = "d9d9f7a2" + "6b63616e69737465725f6964" +
		"781b627734646c2d736d6161612d61616161612d71616163712d636169" +
		"69636c69656e745f6964" + "10"
	goldenS1Sig = "867376bcd36cfabd1de3d99b6e36fe65105ec20e3054b4e43bd20ef11418bbe2200f1ffc080d8a00a88755b996e24634388045dc4613bdd75106d794f07e2e0d"
	goldenS2    = "d9d9f7a2" + "72636c69656e745f63616e69737465725f6964" + "5838" + goldenS1 +
		"63736967" + "5840" + goldenS1Sig

	// The icws form of S1 (docs/PROTOCOL.md §2.2): the seed's keys and open_nonce
	// 1684411200123456789 (0x17603b0fe70c4d15), keys sorted. Signature checked against
	// @noble/curves' Ed25519 as well (web/test/verify.test.mjs).
	goldenS1Nonce = "d9d9f7a3" + "6b63616e69737465725f6964" +
		"781b627734646c2d736d6161612d61616161612d71616163712d636169" +
		"69636c69656e745f6964" + "10" +
		"6a6f70656e5f6e6f6e6365" + "1b17603b0fe70c4d15"
	goldenS1NonceSig = "302c876794515a7631121aff77615bc98182b46d52f48bff6c9218b1a52227c4c59e0701e9d3e1f2f37e493f1a10edc9bf45c39cd9f3180cadf96653d727a00f"
	goldenS2Nonce    = "d9d9f7a2" + "72636c69656e745f63616e69737465725f6964" + "584c" + goldenS1Nonce +
		"63736967" + "5840" + goldenS1NonceSig
	goldenOpenNonce = 1684411200123456789

	goldenS3PingPong = "d9d9f7a1" + "6474657874" + "6970696e672d706f6e67"
	goldenS4Client   = "d9d9f7a4" + "69636c69656e745f6964" + "10" +
		"676d657373616765" + "53" + goldenS3PingPong +
		"6c73657175656e63655f6e756d" + "00" +
		"6974696d657374616d70" + "1b0020000000000000"
	goldenS4ClientSig = "2843ad4cf63ffb114ecec725e95f23c820e2fed5bb9e8943b63186174f0293276adfb76bd9a7bb8f003aa5810f593ef92acdc8f1429c55badd9b9187c669f20a"
	goldenS5          = "d9d9f7a2" + "63736967" + "5840" + goldenS4ClientSig + "6376616c" + "584c" + goldenS4Client

	goldenS3Ping     = "d9d9f7a1" + "6474657874" + "6470696e67"
	goldenS4Canister = "d9d9f7a4" + "69636c69656e745f6964" + "10" +
		"6c73657175656e63655f6e756d" + "00" +
		"6974696d657374616d70" + "1b17603b0fe70c4d15" +
		"676d657373616765" + "4e" + goldenS3Ping
	goldenValSHA256 = "f513a1185a031a7c1bf87fd99d4959245db7849f5cf375f6c46a521b54c0b896"
	goldenKey       = seedGateway + "_00000000000000000016"
)

// goldenTree is the §4.4 witness for the one message: d9d9f7 [2, "websocket", [2, key, [3, sha256(val)]]].
func goldenTree() string {
	return "d9d9f7" + "8302" + "49776562736f636b6574" + "8302" + "5854" + hex.EncodeToString([]byte(goldenKey)) +
		"8203" + "5820" + goldenValSHA256
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func rfcKey1(t testing.TB) ed25519.PrivateKey {
	key := ed25519.NewKeyFromSeed(unhex(t, rfc8032Seed1))
	if got := hex.EncodeToString(key.Public().(ed25519.PublicKey)); got != rfc8032Public1 {
		t.Fatalf("RFC 8032 key 1 public = %s", got)
	}
	return key
}

func checkBytes(t *testing.T, name string, got []byte, wantHex string) {
	t.Helper()
	if g := hex.EncodeToString(got); g != wantHex {
		t.Errorf("%s:\n got %s\nwant %s", name, g, wantHex)
	}
}

func TestGoldenClientToGateway(t *testing.T) {
	key := rfcKey1(t)
	s1 := FirstMessage{CanisterID: seedCanister, ClientID: 16}.Marshal()
	if len(s1) != 56 {
		t.Errorf("S1 is %d bytes, want 56", len(s1))
	}
	checkBytes(t, "S1", s1, goldenS1)
	checkBytes(t, "S1 signature", ed25519.Sign(key, s1), goldenS1Sig)
	checkBytes(t, "S2", SignFirstMessage(key, FirstMessage{CanisterID: seedCanister, ClientID: 16}), goldenS2)

	s3 := AppMessage{Text: "ping-pong"}.Marshal()
	checkBytes(t, "S3", s3, goldenS3PingPong)
	s4 := &WebsocketMessage{ClientID: 16, SequenceNum: 0, Timestamp: 1 << 53, Message: s3}
	checkBytes(t, "S4 (client)", s4.MarshalClient(), goldenS4Client)
	checkBytes(t, "S4 signature", ed25519.Sign(key, s4.MarshalClient()), goldenS4ClientSig)
	checkBytes(t, "S5", SignClientMessage(key, s4), goldenS5)
}

func TestGoldenFirstMessageWithNonce(t *testing.T) {
	key := rfcKey1(t)
	m := FirstMessage{CanisterID: seedCanister, ClientID: 16, OpenNonce: goldenOpenNonce}
	s1 := m.Marshal()
	if len(s1) != 76 {
		t.Errorf("S1 is %d bytes, want 76", len(s1))
	}
	checkBytes(t, "S1 with open_nonce", s1, goldenS1Nonce)
	checkBytes(t, "S1 signature", ed25519.Sign(key, s1), goldenS1NonceSig)
	checkBytes(t, "S2", SignFirstMessage(key, m), goldenS2Nonce)

	s2, err := DecodeSignedFirstMessage(unhex(t, goldenS2Nonce))
	if err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "S2 → S1 bytes", s2.FirstMessage, goldenS1Nonce)
	if err := Verify(unhex(t, rfc8032Public1), s2.FirstMessage, s2.Sig); err != nil {
		t.Errorf("S1 signature: %v", err)
	}
	got, err := s2.Decode()
	if err != nil || got != m {
		t.Errorf("S1 = %+v, %v; want %+v", got, err, m)
	}
	// The seed form decodes with no nonce.
	if seed, err := DecodeFirstMessage(unhex(t, goldenS1)); err != nil || seed.OpenNonce != 0 {
		t.Errorf("seed S1 = %+v, %v", seed, err)
	}
}

func TestGoldenDecodeClientToGateway(t *testing.T) {
	pub := unhex(t, rfc8032Public1)
	s2, err := DecodeSignedFirstMessage(unhex(t, goldenS2))
	if err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "S2 → S1 bytes", s2.FirstMessage, goldenS1)
	checkBytes(t, "S2 → sig", s2.Sig, goldenS1Sig)
	if err := Verify(pub, s2.FirstMessage, s2.Sig); err != nil {
		t.Errorf("S1 signature: %v", err)
	}
	fm, err := s2.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if fm != (FirstMessage{CanisterID: seedCanister, ClientID: 16}) {
		t.Errorf("S1 = %+v", fm)
	}

	s5, err := DecodeClientMessage(unhex(t, goldenS5))
	if err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "S5 → S4 bytes", s5.Val, goldenS4Client)
	if err := Verify(pub, s5.Val, s5.Sig); err != nil {
		t.Errorf("S4 signature: %v", err)
	}
	s4, err := s5.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if s4.ClientID != 16 || s4.SequenceNum != 0 || s4.Timestamp != 1<<53 || s4.Service {
		t.Errorf("S4 = %+v", s4)
	}
	app, err := DecodeAppMessage(s4.Message)
	if err != nil || app.Text != "ping-pong" {
		t.Errorf("S3 = %+v, %v", app, err)
	}
}

func TestGoldenCanisterToClient(t *testing.T) {
	s3 := AppMessage{Text: "ping"}.Marshal()
	if len(s3) != 14 {
		t.Errorf("S3 is %d bytes, want 14", len(s3))
	}
	checkBytes(t, "S3", s3, goldenS3Ping)
	s4 := &WebsocketMessage{ClientID: 16, SequenceNum: 0, Timestamp: 1684411200123456789, Message: s3}
	val := s4.MarshalCanister()
	if len(val) != 71 {
		t.Errorf("val is %d bytes, want 71", len(val))
	}
	checkBytes(t, "val", val, goldenS4Canister)
	sum := sha256.Sum256(val)
	checkBytes(t, "SHA-256(val)", sum[:], goldenValSHA256)

	key := string(AppendKey(nil, seedGateway, 16))
	if key != goldenKey || len(key) != 84 {
		t.Errorf("key = %q (%d chars)", key, len(key))
	}
	tree := unhex(t, goldenTree())
	if len(tree) != 139 {
		t.Fatalf("tree vector is %d bytes", len(tree))
	}
	frame := (&CertMessage{Key: key, Val: val, Cert: nil, Tree: tree}).Marshal()
	want := "a4" + "636b6579" + "7854" + hex.EncodeToString([]byte(goldenKey)) +
		"6376616c" + "5847" + goldenS4Canister +
		"6463657274" + "40" +
		"6474726565" + "588b" + goldenTree()
	checkBytes(t, "S6", frame, want)
	if got := (&CertMessage{Key: key, Val: val, Tree: tree}).Size(); got != len(frame) {
		t.Errorf("Size() = %d, encoded %d", got, len(frame))
	}

	cm, err := DecodeCertMessage(frame)
	if err != nil {
		t.Fatal(err)
	}
	if cm.Key != goldenKey || !bytes.Equal(cm.Val, val) || len(cm.Cert) != 0 || !bytes.Equal(cm.Tree, tree) {
		t.Errorf("decoded S6 = %+v", cm)
	}
	m, err := DecodeWebsocketMessage(cm.Val)
	if err != nil {
		t.Fatal(err)
	}
	if m.ClientID != 16 || m.SequenceNum != 0 || m.Timestamp != 1684411200123456789 || !bytes.Equal(m.Message, s3) {
		t.Errorf("decoded S4 = %+v", m)
	}
}

func TestServiceMessageEncodings(t *testing.T) {
	m := &WebsocketMessage{ClientID: 16, SequenceNum: 3, Timestamp: 5, Service: true, Ack: 7}
	canister := m.MarshalCanister()
	wantCanister := "d9d9f7a5" + "69636c69656e745f6964" + "10" + "6c73657175656e63655f6e756d" + "03" +
		"6974696d657374616d70" + "05" + "676d657373616765" + "40" + "6361636b" + "07"
	checkBytes(t, "canister service S4", canister, wantCanister)
	client := m.MarshalClient()
	wantClient := "d9d9f7a5" + "6361636b" + "07" + "69636c69656e745f6964" + "10" +
		"676d657373616765" + "40" + "6c73657175656e63655f6e756d" + "03" + "6974696d657374616d70" + "05"
	checkBytes(t, "client service S4", client, wantClient)

	m.Close = "idle"
	for name, b := range map[string][]byte{"canister": m.MarshalCanister(), "client": m.MarshalClient()} {
		got, err := DecodeWebsocketMessage(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.Service || got.Ack != 7 || got.Close != "idle" || got.SequenceNum != 3 || len(got.Message) != 0 {
			t.Errorf("%s: decoded %+v", name, got)
		}
	}
	if !strings.HasPrefix(hex.EncodeToString(m.MarshalCanister()), "d9d9f7a6") {
		t.Errorf("close service message is not a 6-entry map")
	}
}

// TestAckTimeEncoding: a canister service message with AckTime has the key ack_time right after
// ack (and before close); the client encoding never has it.
func TestAckTimeEncoding(t *testing.T) {
	m := &WebsocketMessage{ClientID: 16, SequenceNum: 3, Timestamp: 5, Service: true, Ack: 7, AckTime: 4}
	want := "d9d9f7a6" + "69636c69656e745f6964" + "10" + "6c73657175656e63655f6e756d" + "03" +
		"6974696d657374616d70" + "05" + "676d657373616765" + "40" + "6361636b" + "07" + "6861636b5f74696d65" + "04"
	checkBytes(t, "canister service S4 with ack_time", m.MarshalCanister(), want)
	m.Close = "idle"
	wantClose := "d9d9f7a7" + want[8:] + "65636c6f7365" + "6469646c65"
	checkBytes(t, "canister close S4 with ack_time", m.MarshalCanister(), wantClose)
	if c := hex.EncodeToString(m.MarshalClient()); strings.Contains(c, "6861636b5f74696d65") {
		t.Errorf("client encoding %s has ack_time", c)
	}
	got, err := DecodeWebsocketMessage(m.MarshalCanister())
	if err != nil || got.AckTime != 4 || got.Ack != 7 || got.Close != "idle" {
		t.Errorf("decoded %+v, %v", got, err)
	}
	// ack_time belongs to service messages only.
	b, _ := hex.DecodeString("d9d9f7a5" + "69636c69656e745f6964" + "10" + "6c73657175656e63655f6e756d" + "03" +
		"6974696d657374616d70" + "05" + "676d657373616765" + "40" + "6861636b5f74696d65" + "04")
	if _, err := DecodeWebsocketMessage(b); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "ack_time") {
		t.Errorf("ack_time without ack: %v, want ErrMalformed naming ack_time", err)
	}
}
