package replica

import (
	"bytes"
	"fmt"

	"github.com/icws/icws/ic/bls"
	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// stateRootDomain is prepended to the root hash to form the message the root key signs.
const stateRootDomain = "\x0Dic-state-root"

// Labels of the state tree.
var (
	labelCanister      = []byte("canister")
	labelCertifiedData = []byte("certified_data")
	labelRequestStatus = []byte("request_status")
	labelSubnet        = []byte("subnet")
	labelTime          = []byte("time")
)

// stateTree is the replica's certified state:
//
//	/canister/<canister id>/certified_data
//	/request_status/<request id>/{status, reply | error_code, reject_code, reject_message}
//	/subnet/<subnet id>/{canister_ranges, node/<node id>/public_key, public_key}
//	/time
//
// Rounds change it with the state lock held for writing and then certify it; readers build
// witnesses from it with the lock held for reading.
type stateTree struct {
	statuses statusTree

	canisters       hashtree.Node // the /canister subtree
	canistersDigest [32]byte

	subnet       hashtree.Node // the /subnet subtree; never changes
	subnetDigest [32]byte

	time      uint64 // ns since 1970
	root      [32]byte
	signature []byte // BLS signature of the root; nil before the first certification
	height    uint64 // number of certifications
}

// newSubnetTree builds the /subnet subtree of a one-node subnet.
func newSubnetTree(subnetID principal.Principal, rootDER []byte, nodeID principal.Principal, nodeDER []byte) (hashtree.Node, error) {
	ranges, err := canisterRangesLeaf()
	if err != nil {
		return nil, err
	}
	var b hashtree.Builder
	sub := subnetID.Bytes()
	for _, e := range []struct {
		path  [][]byte
		value []byte
	}{
		{[][]byte{sub, []byte("canister_ranges")}, ranges},
		{[][]byte{sub, []byte("node"), nodeID.Bytes(), []byte("public_key")}, nodeDER},
		{[][]byte{sub, []byte("public_key")}, rootDER},
	} {
		if err := b.Insert(e.path, e.value); err != nil {
			return nil, err
		}
	}
	return b.Tree(), nil
}

// setCanisters rebuilds the /canister subtree from the canisters' certified subtrees. A
// canister's own subtree is rebuilt only if it changed (certDirty); the digest is computed over
// the others' cached digests, so that a round costs the changed canisters' hashing only.
func (t *stateTree) setCanisters(cs []*canister) {
	var full, digests hashtree.Builder
	for _, c := range cs {
		if c.tree == nil || c.certDirty {
			c.tree = c.certifiedTree()
			c.treeDigest = hashtree.Digest(c.tree)
		}
		c.certDirty = false
		// Paths are distinct canister ids: InsertTree cannot fail.
		_ = full.InsertTree([][]byte{c.id.Bytes()}, c.tree)
		_ = digests.InsertTree([][]byte{c.id.Bytes()}, hashtree.Pruned(c.treeDigest))
	}
	t.canisters = full.Tree()
	t.canistersDigest = hashtree.Digest(digests.Tree())
}

// certifiedTree is the subtree /canister/<id>: certified_data, and for a canister with code its
// controllers, module_hash and metadata/<name> (the icp:public and icp:private custom sections).
func (c *canister) certifiedTree() hashtree.Node {
	var b hashtree.Builder
	data := c.certifiedData
	if data == nil {
		data = []byte{}
	}
	// The labels are distinct: Insert cannot fail.
	_ = b.Insert([][]byte{labelCertifiedData}, data)
	_ = b.Insert([][]byte{labelControllers}, controllersCBOR(c.controllers))
	if c.info != nil {
		_ = b.Insert([][]byte{labelModuleHash}, c.info.Hash[:])
		for name, md := range c.info.Metadata {
			_ = b.Insert([][]byte{labelMetadata, []byte(name)}, md.Data)
		}
	}
	return b.Tree()
}

// controllersCBOR encodes controllers as /canister/<id>/controllers holds them: a self-described
// CBOR array of principal byte strings.
func controllersCBOR(ps []principal.Principal) []byte {
	bs := make([][]byte, len(ps))
	for i, p := range ps {
		bs[i] = p.Bytes()
	}
	b, err := cbor.Marshal(bs)
	if err != nil {
		panic(fmt.Sprintf("replica: encode controllers: %v", err)) // byte strings always encode
	}
	return b
}

// top composes the root from its four subtrees. Both the root digest and every witness are built
// with it, so that they have the same shape.
func top(canisters, statuses, subnet hashtree.Node, time uint64) hashtree.Node {
	return hashtree.Fork{
		Left: hashtree.Fork{
			Left:  hashtree.Labeled{Label: labelCanister, Tree: canisters},
			Right: hashtree.Labeled{Label: labelRequestStatus, Tree: statuses},
		},
		Right: hashtree.Fork{
			Left:  hashtree.Labeled{Label: labelSubnet, Tree: subnet},
			Right: hashtree.Labeled{Label: labelTime, Tree: hashtree.Leaf(leb128.AppendUint(nil, time))},
		},
	}
}

// certify computes the root hash at time now and signs it with key.
func (t *stateTree) certify(key *bls.SecretKey, now uint64) {
	t.time = now
	t.root = hashtree.Digest(top(
		hashtree.Pruned(t.canistersDigest),
		hashtree.Pruned(t.statuses.digest()),
		hashtree.Pruned(t.subnetDigest),
		now))
	msg := make([]byte, 0, len(stateRootDomain)+32)
	msg = append(msg, stateRootDomain...)
	msg = append(msg, t.root[:]...)
	t.signature = key.Sign(msg)
	t.height++
}

// witness returns the tree of the last certification pruned to paths and /time. If the paths
// reach into /request_status, they all name the request statusID (read_state checks that).
func (t *stateTree) witness(paths [][][]byte, statusID *requestid.ID) hashtree.Node {
	// Branches that no path enters are passed pruned, which spares Prune rehashing them.
	var canisters, statuses, subnet hashtree.Node = hashtree.Pruned(t.canistersDigest),
		hashtree.Pruned(t.statuses.digest()), hashtree.Pruned(t.subnetDigest)
	if statusID != nil {
		statuses = t.statuses.witness(*statusID)
	}
	for _, p := range paths {
		switch {
		case len(p) == 0:
		case bytes.Equal(p[0], labelCanister):
			canisters = t.canisters
		case bytes.Equal(p[0], labelSubnet):
			subnet = t.subnet
		}
	}
	full := top(canisters, statuses, subnet, t.time)
	all := make([][][]byte, 0, len(paths)+1)
	all = append(all, paths...)
	all = append(all, [][]byte{labelTime})
	return hashtree.Prune(full, all...)
}

// certificate returns the encoded certificate of the last certification, pruned as witness does.
func (t *stateTree) certificate(paths [][][]byte, statusID *requestid.ID) []byte {
	return encodeCertificate(t.witness(paths, statusID), t.signature)
}

// statusCertificate returns the certificate of one request's status (and /time).
func (t *stateTree) statusCertificate(id requestid.ID) []byte {
	return t.certificate([][][]byte{{labelRequestStatus, id[:]}}, &id)
}

// dataCertificate returns the certificate a canister's queries get: /canister/<id>/certified_data
// and /time.
func (t *stateTree) dataCertificate(id principal.Principal) []byte {
	return t.certificate([][][]byte{{labelCanister, id.Bytes(), labelCertifiedData}}, nil)
}

// encodeCertificate encodes a certificate of tree with the round's signature.
func encodeCertificate(tree hashtree.Node, sig []byte) []byte {
	b, err := (&certificate.Certificate{Tree: tree, Signature: sig}).Marshal()
	if err != nil {
		// Only a signature of the wrong length fails, and certify always makes 48 bytes.
		panic(fmt.Sprintf("replica: encode certificate: %v", err))
	}
	return b
}
