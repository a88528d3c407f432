package certificate

import (
	"bytes"
	"fmt"
	"time"

	"github.com/icws/icws/ic/bls"
	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
)

// Range is a closed interval of canister ids, compared bytewise.
type Range struct {
	Start, End principal.Principal
}

// Contains reports whether Start ≤ p ≤ End.
func (r Range) Contains(p principal.Principal) bool {
	return r.Start.Compare(p) <= 0 && p.Compare(r.End) <= 0
}

// EncodeRanges returns the value of a canister_ranges leaf: the self-describe tag and an array of
// [start, end] byte-string pairs.
func EncodeRanges(ranges []Range) []byte {
	out := []byte{0xd9, 0xd9, 0xf7}
	out = cbor.AppendHead(out, cbor.MajorArray, uint64(len(ranges)))
	for _, r := range ranges {
		out = append(out, 0x82)
		out = cbor.AppendBytes(out, r.Start.Bytes())
		out = cbor.AppendBytes(out, r.End.Bytes())
	}
	return out
}

// DecodeRanges decodes the value of a canister_ranges leaf (see EncodeRanges), strictly. Errors wrap
// ErrMalformed.
func DecodeRanges(b []byte) ([]Range, error) {
	r := reader{data: b}
	start := r.off
	major, n, err := r.headSkippingTag()
	if err != nil {
		return nil, err
	}
	if major != cbor.MajorArray {
		r.off = start
		return nil, r.errorf("canister ranges must be an array, found major type %d", major)
	}
	if n > uint64(len(b)) {
		return nil, r.errorf("array of %d ranges runs past the end of input", n)
	}
	ranges := make([]Range, 0, n)
	for range n {
		pstart := r.off
		major, k, err := r.head()
		if err != nil {
			return nil, err
		}
		if major != cbor.MajorArray || k != 2 {
			r.off = pstart
			return nil, r.errorf("a canister range must be an array of 2 principals")
		}
		var ids [2]principal.Principal
		for i := range ids {
			raw, err := r.bytes("canister id")
			if err != nil {
				return nil, err
			}
			if ids[i], err = principal.FromBytes(raw); err != nil {
				return nil, fmt.Errorf("%w: canister range: %w", ErrMalformed, err)
			}
		}
		ranges = append(ranges, Range{Start: ids[0], End: ids[1]})
	}
	if r.off != len(b) {
		return nil, r.errorf("%d trailing bytes after the canister ranges", len(b)-r.off)
	}
	return ranges, nil
}

// Layout selects where NewDelegation puts the canister ranges.
type Layout int

// Layouts of the canister ranges in a delegation certificate.
const (
	// LayoutBoth writes both layouts (the default): what every agent version can read.
	LayoutBoth Layout = iota
	// LayoutSubnet writes only /subnet/<id>/canister_ranges (the layout agent-js 3.x reads).
	LayoutSubnet
	// LayoutSharded writes only /canister_ranges/<id>/<first canister id> (mainnet since 2025).
	LayoutSharded
)

// DelegationSpec describes the delegation certificate made by NewDelegation.
type DelegationSpec struct {
	Subnet    principal.Principal
	PublicKey []byte    // the subnet's DER-encoded BLS public key
	Ranges    []Range   // the canisters the subnet hosts; at least one range
	Time      time.Time // /time of the delegation certificate
	Layout    Layout
}

// NewDelegation returns a delegation for spec.Subnet, its certificate signed by root: a tree with
// /subnet/<id>/public_key, the canister ranges (see Layout) and /time.
func NewDelegation(root *bls.SecretKey, spec DelegationSpec) (*Delegation, error) {
	if _, err := bls.PublicKeyFromDER(spec.PublicKey); err != nil {
		return nil, fmt.Errorf("certificate: NewDelegation: %w", err)
	}
	if len(spec.Ranges) == 0 {
		return nil, fmt.Errorf("certificate: NewDelegation: no canister ranges")
	}
	id := spec.Subnet.Bytes()
	ranges := EncodeRanges(spec.Ranges)
	var b hashtree.Builder
	insert := func(value []byte, path ...string) error {
		p := make([][]byte, len(path))
		for i, l := range path {
			p[i] = []byte(l)
		}
		return b.Insert(p, value)
	}
	errs := []error{
		insert(spec.PublicKey, "subnet", string(id), "public_key"),
		insert(EncodeTime(spec.Time), "time"),
	}
	if spec.Layout != LayoutSharded {
		errs = append(errs, insert(ranges, "subnet", string(id), "canister_ranges"))
	}
	if spec.Layout != LayoutSubnet {
		errs = append(errs, insert(ranges, "canister_ranges", string(id), string(spec.Ranges[0].Start.Bytes())))
	}
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("certificate: NewDelegation: %w", err)
		}
	}
	cert, err := Sign(root, b.Tree())
	if err != nil {
		return nil, err
	}
	return &Delegation{SubnetID: bytes.Clone(id), Certificate: cert}, nil
}
