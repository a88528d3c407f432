package protocol

import (
	"crypto/ed25519"
	"fmt"
	"math/big"
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

// ValidatePublicKey checks that key is a usable Ed25519 public key: 32 bytes, a canonical encoding
// of a point on the curve, and not a point of small order (such keys, e.g. all zeros or the
// identity, admit signatures that verify for many messages). It is meant for registration, not
// for hot paths.
func ValidatePublicKey(key []byte) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadPublicKey, len(key), ed25519.PublicKeySize)
	}
	x, y, err := decodePoint(key)
	if err != nil {
		return err
	}
	// Multiply by the cofactor 8; a small-order point becomes the identity (0, 1).
	for i := 0; i < 3; i++ {
		x, y = edAdd(x, y, x, y)
	}
	if x.Sign() == 0 && y.Cmp(big.NewInt(1)) == 0 {
		return fmt.Errorf("%w: a point of small order", ErrBadPublicKey)
	}
	return nil
}

// Curve25519 field and Edwards constants.
func edParams() (p, d *big.Int) {
	p = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// d = -121665 / 121666 mod p
	d = new(big.Int).ModInverse(big.NewInt(121666), p)
	d.Mul(d, big.NewInt(-121665))
	d.Mod(d, p)
	return p, d
}

func decodePoint(b []byte) (x, y *big.Int, err error) {
	p, d := edParams()
	le := make([]byte, 32)
	for i := range le {
		le[i] = b[31-i]
	}
	sign := le[0] >> 7
	le[0] &= 0x7f
	y = new(big.Int).SetBytes(le)
	if y.Cmp(p) >= 0 {
		return nil, nil, fmt.Errorf("%w: y coordinate is not reduced", ErrBadPublicKey)
	}
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, p)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	u.Mod(u, p)
	v := new(big.Int).Mul(d, y2)
	v.Add(v, big.NewInt(1))
	v.Mod(v, p)
	x2 := new(big.Int).ModInverse(v, p)
	x2.Mul(x2, u)
	x2.Mod(x2, p)
	x = new(big.Int).ModSqrt(x2, p)
	if x == nil {
		return nil, nil, fmt.Errorf("%w: not a point on the curve", ErrBadPublicKey)
	}
	if x.Sign() == 0 && sign == 1 {
		return nil, nil, fmt.Errorf("%w: non-canonical encoding of x = 0", ErrBadPublicKey)
	}
	if uint8(x.Bit(0)) != sign {
		x.Sub(p, x)
	}
	return x, y, nil
}

// edAdd adds two points of the twisted Edwards curve -x²+y² = 1 + d·x²·y² in affine coordinates
// (the formulas are complete on this curve).
func edAdd(x1, y1, x2, y2 *big.Int) (x3, y3 *big.Int) {
	p, d := edParams()
	x1y2 := new(big.Int).Mul(x1, y2)
	y1x2 := new(big.Int).Mul(y1, x2)
	x1x2 := new(big.Int).Mul(x1, x2)
	y1y2 := new(big.Int).Mul(y1, y2)
	t := new(big.Int).Mul(x1x2, y1y2)
	t.Mul(t, d)
	t.Mod(t, p)
	den1 := new(big.Int).Add(big.NewInt(1), t)
	den2 := new(big.Int).Sub(big.NewInt(1), t)
	den1.Mod(den1, p)
	den2.Mod(den2, p)
	x3 = new(big.Int).Add(x1y2, y1x2)
	x3.Mul(x3, new(big.Int).ModInverse(den1, p))
	x3.Mod(x3, p)
	y3 = new(big.Int).Add(y1y2, x1x2)
	y3.Mul(y3, new(big.Int).ModInverse(den2, p))
	y3.Mod(y3, p)
	return x3, y3
}
