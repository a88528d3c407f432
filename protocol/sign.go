package protocol

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"filippo.io/edwards25519"
)

// SignFirstMessage encodes m (S1), signs its exact bytes with the client's key and returns the
// first WebSocket frame (S2).
func SignFirstMessage(key ed25519.PrivateKey, m FirstMessage) []byte {
	s1 := m.Marshal()
	return SignedFirstMessage{FirstMessage: s1, Sig: ed25519.Sign(key, s1)}.Marshal()
}

// SignClientMessage encodes m in the client encoding (S4), signs its exact bytes with the client's
// key and returns the WebSocket frame (S5) that the gateway passes to ws_message.
func SignClientMessage(key ed25519.PrivateKey, m *WebsocketMessage) []byte {
	val := m.MarshalClient()
	return ClientMessage{Sig: ed25519.Sign(key, val), Val: val}.Marshal()
}

// Verify checks an Ed25519 signature by publicKey (32 raw bytes) over the exact bytes msg.
func Verify(publicKey, msg, sig []byte) error {
	if len(publicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes, want %d", ErrBadPublicKey, len(publicKey), ed25519.PublicKeySize)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrBadSignature, len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(publicKey, msg, sig) {
		return fmt.Errorf("%w: Ed25519 verification failed", ErrBadSignature)
	}
	return nil
}

// ValidatePublicKey checks that key is a usable Ed25519 public key: 32 bytes, the canonical
// encoding of a point on the curve, and not a point of small order (such keys, e.g. all zeros or
// the identity, admit signatures that verify for many messages). It is meant for registration,
// not for hot paths.
func ValidatePublicKey(key []byte) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadPublicKey, len(key), ed25519.PublicKeySize)
	}
	p, err := new(edwards25519.Point).SetBytes(key)
	if err != nil {
		return fmt.Errorf("%w: not a point on the curve", ErrBadPublicKey)
	}
	if !bytes.Equal(p.Bytes(), key) {
		return fmt.Errorf("%w: not the canonical encoding of its point", ErrBadPublicKey)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return fmt.Errorf("%w: a point of small order", ErrBadPublicKey)
	}
	return nil
}
