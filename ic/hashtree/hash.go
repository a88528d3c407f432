package hashtree

import (
	"crypto/sha256"
)

// Domain separators of the node hashes: one length byte followed by the name (spec §Certification,
// "reconstruct").
const (
	domainEmpty   = "\x11ic-hashtree-empty"
	domainFork    = "\x10ic-hashtree-fork"
	domainLabeled = "\x13ic-hashtree-labeled"
	domainLeaf    = "\x10ic-hashtree-leaf"
)

// EmptyHash returns the digest of Empty: SHA-256 of "\x11ic-hashtree-empty".
func EmptyHash() [32]byte {
	return [32]byte{
		0x4e, 0x3e, 0xd3, 0x5c, 0x4e, 0x2d, 0x1e, 0xe8, 0x99, 0x96, 0x48, 0x3f, 0xb6, 0x26, 0x0a, 0x64,
		0xcf, 0xfb, 0x6c, 0x47, 0xdb, 0xab, 0x21, 0x6e, 0x79, 0x30, 0xe8, 0x2f, 0x81, 0x90, 0xd1, 0x20,
	}
}

// LeafHash returns the digest of Leaf(v): SHA-256 of "\x10ic-hashtree-leaf" ‖ v.
func LeafHash(v []byte) [32]byte { return hash3(domainLeaf, v, nil) }

// LabeledHash returns the digest of a Labeled node with label l over a subtree of digest h:
// SHA-256 of "\x13ic-hashtree-labeled" ‖ l ‖ h.
func LabeledHash(l []byte, h [32]byte) [32]byte { return hash3(domainLabeled, l, h[:]) }

// ForkHash returns the digest of a Fork whose children have digests l and r:
// SHA-256 of "\x10ic-hashtree-fork" ‖ l ‖ r.
func ForkHash(l, r [32]byte) [32]byte {
	var buf [len(domainFork) + 64]byte
	copy(buf[:], domainFork)
	copy(buf[len(domainFork):], l[:])
	copy(buf[len(domainFork)+32:], r[:])
	return sha256.Sum256(buf[:])
}

// hash3 returns SHA-256 of prefix ‖ a ‖ b. Short inputs are hashed from a stack buffer, which
// avoids the allocation of a streaming hash.
func hash3(prefix string, a, b []byte) [32]byte {
	n := len(prefix) + len(a) + len(b)
	if n <= 256 {
		var buf [256]byte
		k := copy(buf[:], prefix)
		k += copy(buf[k:], a)
		k += copy(buf[k:], b)
		return sha256.Sum256(buf[:k])
	}
	h := sha256.New()
	h.Write([]byte(prefix))
	h.Write(a)
	h.Write(b)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Digest returns the root hash of a tree ("reconstruct" in the spec). A Pruned node contributes its
// stored hash, so a witness has the same digest as the tree it was pruned from.
func Digest(n Node) [32]byte {
	switch v := n.(type) {
	case Fork:
		return ForkHash(Digest(v.Left), Digest(v.Right))
	case Labeled:
		return LabeledHash(v.Label, Digest(v.Tree))
	case Leaf:
		return LeafHash(v)
	case Pruned:
		return v
	case Empty:
		return EmptyHash()
	default:
		return Digest(normalize(n))
	}
}
