//go:build !wasip1

package omnia

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
)

// signedCall returns a call envelope of method, signed by a fixed Ed25519 identity.
func signedCall(t testing.TB, method string) (*envelope.Envelope, []byte) {
	t.Helper()
	id, err := identity.Ed25519FromSeed(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(id, envelope.Content{
		RequestType:   envelope.RequestTypeCall,
		Sender:        id.Sender(),
		Nonce:         bytes.Repeat([]byte{7}, 16),
		IngressExpiry: 1796423100000000000,
		CanisterID:    principal.CanisterID(1),
		MethodName:    method,
		Arg:           []byte("DIDL\x00\x00"),
	})
	if err != nil {
		t.Fatal(err)
	}
	body, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return env, body
}

func TestClientFrame(t *testing.T) {
	env, body := signedCall(t, "ws_open")
	frame := AppendClientFrame(nil, body)
	// d9d9f7 a1 68 "envelope", then the envelope without its own tag: as agent-js writes it.
	if want := append(unhexT(t, "d9d9f7 a1 68 656e76656c6f7065"), body[3:]...); !bytes.Equal(frame, want) {
		t.Fatalf("AppendClientFrame =\n%x\nwant\n%x", frame, want)
	}
	f, err := DecodeClientFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Body, body) {
		t.Fatalf("Body =\n%x\nwant the envelope as signed\n%x", f.Body, body)
	}
	if f.Request.ID != env.RequestID() || f.Method() != "ws_open" || !f.CanisterID().Equal(principal.CanisterID(1)) ||
		!f.Sender().Equal(env.Content.Sender) || string(f.Arg()) != "DIDL\x00\x00" || f.Request.Content.IngressExpiry != 1796423100000000000 {
		t.Fatalf("decoded %+v", f.Request.Content)
	}
	// An envelope that carries its own tag is relayed as it is, not tagged twice.
	tagged := append(unhexT(t, "a1 68 656e76656c6f7065"), body...)
	if f, err := DecodeClientFrame(tagged); err != nil || !bytes.Equal(f.Body, body) {
		t.Fatalf("inner tag: %v, body %x", err, f.Body)
	}
}

func TestDecodeClientFrameRefuses(t *testing.T) {
	_, body := signedCall(t, "ws_message")
	env := body[3:]
	unsigned, err := cbor.Marshal(map[string]any{"content": map[string]any{
		"request_type": "call", "sender": []byte{4}, "ingress_expiry": uint64(1),
		"canister_id": []byte{0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, "method_name": "ws_open", "arg": []byte{},
	}})
	if err != nil {
		t.Fatal(err)
	}
	query, err := cbor.Marshal(map[string]any{"content": map[string]any{
		"request_type": "query", "sender": []byte{4}, "ingress_expiry": uint64(1),
		"canister_id": []byte{0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, "method_name": "ws_get_messages", "arg": []byte{},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"empty", nil, "cbor"},
		{"garbage", []byte{0xff}, "cbor"},
		{"no envelope", unhexT(t, "a1 63 6b6579 40"), "no \"envelope\" key"},
		{"extra key", append(unhexT(t, "a2 61 78 00 68 656e76656c6f7065"), env...), "2 keys"},
		{"envelope not a map", unhexT(t, "a1 68 656e76656c6f7065 40"), "malformed request"},
		{"unsigned", AppendClientFrame(nil, unsigned), "not signed"},
		{"query", AppendClientFrame(nil, query), "only calls"},
		{"truncated", AppendClientFrame(nil, body)[:100], "cbor"},
		{"seed S2", unhexT(t, "a2 63 6d7367 40 63 736967 40"), "no \"envelope\" key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeClientFrame(tc.frame)
			if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadFrame mentioning %q", err, tc.want)
			}
		})
	}
}

// The first frame of the real ic-websocket-js 0.5.0 (from npm, with @dfinity/agent 2.4.1),
// recorded from a loopback stand-in gateway that sent Handshake(testGateway): its ws_open call,
// signed by the secp256k1 identity of secret key 03…03. It decodes, and the body to relay is the
// client's envelope byte for byte.
func TestClientFrameFromICWebSocketJS(t *testing.T) {
	raw, err := os.ReadFile("testdata/ic-websocket-js-0.5.0-ws_open.hex")
	if err != nil {
		t.Fatal(err)
	}
	frame := unhexT(t, strings.TrimSpace(string(raw)))
	f, err := DecodeClientFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	prefix := unhexT(t, "d9d9f7 a1 68 656e76656c6f7065")
	if !bytes.HasPrefix(frame, prefix) || !bytes.Equal(f.Body, append(unhexT(t, "d9d9f7"), frame[len(prefix):]...)) {
		t.Fatalf("Body is not the client's envelope:\n%x", f.Body)
	}
	c := f.Request.Content
	if f.Method() != "ws_open" || c.RequestType != "call" || len(c.Nonce) != 16 || f.CanisterID().String() != "bkyz2-fmaaa-aaaaa-qaaaq-cai" {
		t.Fatalf("content %+v", c)
	}
	if len(f.Request.SenderPubKey) != 88 || len(f.Request.SenderSig) != 64 || !f.Sender().Equal(principal.SelfAuthenticating(f.Request.SenderPubKey)) {
		t.Fatalf("sender %s, pubkey %d bytes, sig %d bytes", f.Sender(), len(f.Request.SenderPubKey), len(f.Request.SenderSig))
	}
	args, err := DecodeOpenArgs(f.Arg())
	if err != nil || !args.GatewayPrincipal.Equal(testGateway(t)) || args.ClientNonce == 0 {
		t.Fatalf("ws_open args %+v, %v", args, err)
	}
	// The request id is the IC's: the envelope's signature covers it (checked up to the expiry,
	// which has passed since the recording).
	if err := f.Request.Verify(time.Unix(0, int64(c.IngressExpiry)).Add(-time.Minute)); err != nil {
		t.Fatalf("the recorded signature does not verify: %v", err)
	}
}

func FuzzDecodeClientFrame(f *testing.F) {
	_, open := signedCall(f, "ws_open")
	_, msg := signedCall(f, "ws_message")
	addFrameSeeds(f, AppendClientFrame(nil, open), AppendClientFrame(nil, msg), append(unhexT(f, "a1 68 656e76656c6f7065"), open...))
	f.Fuzz(func(t *testing.T, b []byte) {
		cf, err := DecodeClientFrame(b)
		if err != nil {
			return
		}
		// The body must be a request the IC can decode, with the same request id.
		again, err := DecodeClientFrame(AppendClientFrame(nil, cf.Body))
		if err != nil || again.Request.ID != cf.Request.ID || !bytes.Equal(again.Body, cf.Body) {
			t.Fatalf("re-wrapping the body failed: %v", err)
		}
	})
}
