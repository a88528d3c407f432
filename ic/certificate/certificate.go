// Package certificate parses, verifies and signs Internet Computer certificates: a hash tree, a BLS
// signature of its root hash by the subnet (or root) key, and optionally a delegation from the root
// subnet that vouches for the subnet key and says which canisters the subnet hosts.
//
// Verification (Verifier.Verify) follows verify_cert of the interface spec and the official
// agents: it reconstructs the root hash, checks the delegation (signed by the root key, not nested,
// revealing the subnet key and canister ranges that contain the canister, in either the
// /subnet/<id>/canister_ranges or the sharded /canister_ranges/<id>/<shard> layout), requires the
// exact DER prefix of BLS keys, verifies the BLS signature of "\x0Dic-state-root" ‖ root hash, and
// checks the freshness of /time. A Verifier caches verified delegations and certificates (bounded,
// keyed by SHA-256 of their bytes), so that repeated certificates cost no BLS verification.
//
// Sign and SignDelegated produce certificates, for a local replica; NewDelegation builds the
// delegation certificate of a subnet signed by a root key.
package certificate

import (
	"encoding/hex"
	"fmt"
	"math"
	"time"

	"github.com/icws/icws/ic/bls"
	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/leb128"
)

// SignatureSize is the length of a certificate signature (a compressed BLS12-381 G1 point).
const SignatureSize = bls.SignatureSize

// stateRootSeparator is the domain separator of the signed message: "\x0Dic-state-root".
const stateRootSeparator = "\x0dic-state-root"

// mainnetRootKeyHex is the DER-encoded IC mainnet root key (agent-js IC_ROOT_KEY, agent-rs
// IC_ROOT_KEY).
const mainnetRootKeyHex = "308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100" +
	"814c0e6ec71fab583b08bd81373c255c3c371b2e84863c98a4f1e08b74235d14fb5d9c0cd546d9685f913a0c0b2cc5341583bf4b" +
	"4392e467db96d65b9bb4cb717112f8472e0d5a4d14505ffd7484b01291091c5f87b98883463f98091a0baaae"

// MainnetRootKey returns the DER-encoded (133-byte) root key of the IC mainnet. Each call returns a
// new slice.
func MainnetRootKey() []byte {
	b, err := hex.DecodeString(mainnetRootKeyHex)
	if err != nil {
		panic(err) // constant
	}
	return b
}

// Certificate is a decoded certificate. Its fields alias no caller memory.
type Certificate struct {
	Tree       hashtree.Node
	Signature  []byte      // 48 bytes
	Delegation *Delegation // nil for certificates signed by the root key
}

// Delegation is the delegation of a certificate: the subnet that signed it and a certificate of the
// root subnet (still encoded) that reveals the subnet's key and canister ranges.
type Delegation struct {
	SubnetID    []byte
	Certificate []byte
}

// Lookup looks up a path in the certificate's tree (see hashtree.Lookup).
func (c *Certificate) Lookup(path ...[]byte) hashtree.Result {
	return hashtree.Lookup(c.Tree, path...)
}

// RootHash returns the digest of the certificate's tree.
func (c *Certificate) RootHash() [32]byte { return hashtree.Digest(c.Tree) }

// SignedMessage returns the message the certificate's signature covers: "\x0Dic-state-root" ‖
// root hash.
func (c *Certificate) SignedMessage() []byte { return signedMessage(hashtree.Digest(c.Tree)) }

func signedMessage(root [32]byte) []byte {
	msg := make([]byte, 0, len(stateRootSeparator)+32)
	msg = append(msg, stateRootSeparator...)
	return append(msg, root[:]...)
}

// Time returns the certificate's /time: nanoseconds since the Unix epoch as an unsigned LEB128
// number. Every IC certificate has one.
func (c *Certificate) Time() (time.Time, error) {
	return treeTime(c.Tree)
}

func treeTime(tree hashtree.Node) (time.Time, error) {
	r := hashtree.Lookup(tree, []byte("time"))
	if r.Status != hashtree.Found {
		return time.Time{}, fmt.Errorf("%w: /time is %v", ErrMalformed, r.Status)
	}
	ns, n, err := leb128.Uint(r.Value)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: /time: %w", ErrMalformed, err)
	}
	if n != len(r.Value) {
		return time.Time{}, fmt.Errorf("%w: /time has %d bytes after the number", ErrMalformed, len(r.Value)-n)
	}
	if ns > math.MaxInt64 {
		return time.Time{}, fmt.Errorf("%w: /time %d is beyond the year 2262", ErrMalformed, ns)
	}
	return time.Unix(0, int64(ns)), nil
}

// EncodeTime returns the value of /time for t: its nanoseconds since the Unix epoch as unsigned
// LEB128. Times before 1970 encode as 0.
func EncodeTime(t time.Time) []byte {
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	return leb128.AppendUint(nil, uint64(ns))
}

// Marshal returns the encoding of the certificate, with the self-describe tag: the map
// {tree, signature, delegation?} in that key order.
func (c *Certificate) Marshal() ([]byte, error) {
	if len(c.Signature) != SignatureSize {
		return nil, fmt.Errorf("certificate: signature has %d bytes, want %d", len(c.Signature), SignatureSize)
	}
	out := make([]byte, 0, 128+len(c.Signature))
	out = append(out, 0xd9, 0xd9, 0xf7)
	if c.Delegation == nil {
		out = append(out, 0xa2)
	} else {
		out = append(out, 0xa3)
	}
	out = cbor.AppendText(out, "tree")
	out = hashtree.AppendCBOR(out, c.Tree)
	out = cbor.AppendText(out, "signature")
	out = cbor.AppendBytes(out, c.Signature)
	if d := c.Delegation; d != nil {
		out = cbor.AppendText(out, "delegation")
		out = append(out, 0xa2)
		out = cbor.AppendText(out, "subnet_id")
		out = cbor.AppendBytes(out, d.SubnetID)
		out = cbor.AppendText(out, "certificate")
		out = cbor.AppendBytes(out, d.Certificate)
	}
	return out, nil
}

// Sign signs tree with key and returns the encoded certificate (with the self-describe tag, no
// delegation): what a replica on the root subnet returns, and what a verifier with key's public key
// as root key accepts.
func Sign(key *bls.SecretKey, tree hashtree.Node) ([]byte, error) {
	return SignDelegated(key, tree, nil)
}

// SignDelegated signs tree with the subnet key and attaches the delegation d (which may be nil),
// as a replica on a non-root subnet does.
func SignDelegated(key *bls.SecretKey, tree hashtree.Node, d *Delegation) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("certificate: Sign: nil key")
	}
	c := Certificate{Tree: tree, Delegation: d}
	c.Signature = key.Sign(c.SignedMessage())
	return c.Marshal()
}
