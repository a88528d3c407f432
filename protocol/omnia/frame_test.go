package omnia

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/icws/icws/ic/principal"
)

func unhexT(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testGateway is a 29-byte principal with bytes 01..1d, the length of a self-authenticating one.
func testGateway(t testing.TB) principal.Principal {
	t.Helper()
	b := make([]byte, 29)
	for i := range b {
		b[i] = byte(i + 1)
	}
	p, err := principal.FromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Golden frames, written out by hand from the CBOR rules serde_cbor follows (RFC 8949 shortest
// heads; structs as maps with text keys in declaration order; serde_bytes fields as byte strings).
const (
	goldenHandshake = "d9d9f7 a1 71 676174657761795f7072696e636970616c 58 1d" +
		" 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"
	// {key: "k_00000000000000000001", content: h'c0ffee', cert: h'01', tree: h'0203'}
	goldenFrame = "a4 63 6b6579 76 6b5f3030303030303030303030303030303030303031" +
		" 67 636f6e74656e74 43 c0ffee 64 63657274 41 01 64 74726565 42 0203"
)

func TestHandshakeGolden(t *testing.T) {
	gw := testGateway(t)
	got := Handshake(gw)
	if want := unhexT(t, goldenHandshake); !bytes.Equal(got, want) {
		t.Fatalf("Handshake =\n%x\nwant\n%x", got, want)
	}
	p, err := DecodeHandshake(got)
	if err != nil || !p.Equal(gw) {
		t.Fatalf("DecodeHandshake = %v, %v", p, err)
	}
	// A short principal gets a short head (4a for 10 bytes), as serde_cbor writes it.
	short := principal.CanisterID(7)
	if got := Handshake(short); !bytes.HasPrefix(got, unhexT(t, "d9d9f7 a1 71 676174657761795f7072696e636970616c 4a")) {
		t.Fatalf("Handshake(canister id) = %x", got)
	}
}

func TestDecodeHandshakeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, hex, want string
	}{
		{"empty", "", "cbor"},
		{"not a map", "d9d9f7 41 00", "cbor"},
		{"no key", "a0", "one key"},
		{"extra key", "a2 71 676174657761795f7072696e636970616c 41 01 61 78 00", "one key"},
		{"text principal", "a1 71 676174657761795f7072696e636970616c 61 78", "not a byte string"},
		{"too long", "a1 71 676174657761795f7072696e636970616c 58 1e" + strings.Repeat("00", 30), "principal"},
		// The SDK took a non-minimal map head (b9 0001); so do we.
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeHandshake(unhexT(t, tc.hex))
			if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadFrame mentioning %q", err, tc.want)
			}
		})
	}
	p, err := DecodeHandshake(unhexT(t, "d9d9f7 b9 0001 71 676174657761795f7072696e636970616c 41 07"))
	if err != nil || !bytes.Equal(p.Bytes(), []byte{7}) {
		t.Fatalf("non-minimal map head: %v, %v", p, err)
	}
}

func TestFrameGolden(t *testing.T) {
	f := Frame{Key: "k_00000000000000000001", Content: []byte{0xc0, 0xff, 0xee}, Cert: []byte{1}, Tree: []byte{2, 3}}
	want := unhexT(t, goldenFrame)
	if got := f.Marshal(); !bytes.Equal(got, want) {
		t.Fatalf("Marshal =\n%x\nwant\n%x", got, want)
	}
	if f.Size() != len(want) {
		t.Fatalf("Size = %d, want %d", f.Size(), len(want))
	}
	if n := FrameHeadSize(f.Key, len(f.Content)); n != len(AppendFrameHead(nil, f.Key, len(f.Content))) {
		t.Fatalf("FrameHeadSize = %d", n)
	}
	got, err := DecodeFrame(want)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != f.Key || !bytes.Equal(got.Content, f.Content) || !bytes.Equal(got.Cert, f.Cert) || !bytes.Equal(got.Tree, f.Tree) {
		t.Fatalf("DecodeFrame = %+v", got)
	}
	// Big fields take longer heads: the sizes must follow.
	big := Frame{Key: strings.Repeat("k", 300), Content: make([]byte, 70000), Cert: make([]byte, 300), Tree: make([]byte, 24)}
	if b := big.Marshal(); len(b) != big.Size() {
		t.Fatalf("Size %d, encoding %d bytes", big.Size(), len(b))
	}
}

func TestDecodeFrameRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, hex, want string
	}{
		{"no tree", "a3 63 6b6579 61 6b 67 636f6e74656e74 40 64 63657274 40", "no tree"},
		{"no key", "a3 67 636f6e74656e74 40 64 63657274 40 64 74726565 40", "no key"},
		{"text content", "a4 63 6b6579 61 6b 67 636f6e74656e74 61 78 64 63657274 40 64 74726565 40", "cbor"},
		{"val, the seed's name", "a4 63 6b6579 61 6b 63 76616c 40 64 63657274 40 64 74726565 40", "unknown key"},
		{"duplicate", "a5 63 6b6579 61 6b 67 636f6e74656e74 40 64 63657274 40 64 74726565 40 64 74726565 40", "cbor"},
		{"trailing", goldenFrame + "00", "cbor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeFrame(unhexT(t, tc.hex))
			if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadFrame mentioning %q", err, tc.want)
			}
		})
	}
}
