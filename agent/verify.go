package agent

import (
	"bytes"
	"fmt"

	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
)

// untrusted wraps a verification failure of what (a certificate) in ErrUntrusted, with a hint at
// the likely cause when there is one.
func (a *Agent) untrusted(t *trust, what string, err error) error {
	hint := ""
	if t.mainnet && a.local {
		hint = " (the agent checks certificates against the IC mainnet root key; for a local replica set Config.FetchRootKey or Config.RootKey)"
	}
	return fmt.Errorf("%w: %s was refused: %w%s", ErrUntrusted, what, err, hint)
}

// checkCanisterRanges checks that canister is in the canister ranges of subnet that tree (of a
// verified certificate) reveals: the sharded /canister_ranges/<subnet>/<shard> layout if present,
// else /subnet/<subnet>/canister_ranges.
func checkCanisterRanges(tree hashtree.Node, subnet, canister principal.Principal) error {
	id := subnet.Bytes()
	var ranges []certificate.Range
	if sub, st := hashtree.LookupSubtree(tree, []byte("canister_ranges"), id); st == hashtree.Found {
		// The shard that may hold canister is the one with the greatest first id not above it.
		cid := canister.Bytes()
		var best hashtree.Labeled
		found := false
		for _, child := range hashtree.Flatten(sub) {
			l, ok := child.(hashtree.Labeled)
			if ok && bytes.Compare(l.Label, cid) <= 0 && (!found || bytes.Compare(l.Label, best.Label) > 0) {
				best, found = l, true
			}
		}
		if !found {
			return fmt.Errorf("canister %s is in no revealed canister range shard of subnet %s", canister, subnet)
		}
		leaf, ok := best.Tree.(hashtree.Leaf)
		if !ok {
			return fmt.Errorf("/canister_ranges/%s/%x is not a value", subnet, best.Label)
		}
		r, err := certificate.DecodeRanges(leaf)
		if err != nil {
			return fmt.Errorf("/canister_ranges/%s/%x: %w", subnet, best.Label, err)
		}
		ranges = r
	} else {
		res := hashtree.Lookup(tree, []byte("subnet"), id, []byte("canister_ranges"))
		if res.Status != hashtree.Found {
			return fmt.Errorf("the certificate does not reveal the canister ranges of subnet %s (%s)", subnet, res.Status)
		}
		r, err := certificate.DecodeRanges(res.Value)
		if err != nil {
			return fmt.Errorf("/subnet/%s/canister_ranges: %w", subnet, err)
		}
		ranges = r
	}
	for _, r := range ranges {
		if r.Contains(canister) {
			return nil
		}
	}
	return fmt.Errorf("canister %s is outside the canister ranges of subnet %s", canister, subnet)
}
