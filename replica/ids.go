package replica

import (
	"fmt"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/principal"
)

// The canister range of the replica's subnet: 2^20 ids in the upper half of the id space, where
// dfx's local replica puts the canisters it creates. Registered canisters get consecutive ids
// from rangeFirst, which skips the first id of the range as dfx does (dfx gives it to the cycles
// wallet), so that the first canister is bkyz2-fmaaa-aaaaa-qaaaq-cai as in a fresh dfx project.
const (
	rangeStart uint64 = 0x8000000000100000
	rangeEnd   uint64 = 0x80000000001fffff
	rangeFirst        = rangeStart + 1
)

// MaxCanisters is the most canisters one replica hosts.
const MaxCanisters = int(rangeEnd - rangeFirst + 1)

// CanisterRange returns the first and the last canister id of the replica's subnet (a closed
// range, certified at /subnet/<subnet id>/canister_ranges).
func CanisterRange() (first, last principal.Principal) {
	return principal.CanisterID(rangeStart), principal.CanisterID(rangeEnd)
}

// canisterIDAt returns the id of the i-th registered canister (from 0).
func canisterIDAt(i int) principal.Principal {
	return principal.CanisterID(rangeFirst + uint64(i))
}

// inRange reports whether p is a canister id in the subnet's range.
func inRange(p principal.Principal) bool {
	i, ok := p.CanisterIndex()
	return ok && i >= rangeStart && i <= rangeEnd
}

// canisterRangesLeaf is the value of /subnet/<id>/canister_ranges: tag 55799 and an array of
// [first, last] pairs of principal bytes.
// Besides the replica's range, it holds the single ids of the stand-in CMC and cycles ledger
// (standins.go), in ascending order as the IC lists ranges.
func canisterRangesLeaf() ([]byte, error) {
	first, last := CanisterRange()
	b, err := cbor.Marshal([][][]byte{
		{cmcID.Bytes(), cmcID.Bytes()},
		{cyclesLedgerID.Bytes(), cyclesLedgerID.Bytes()},
		{first.Bytes(), last.Bytes()},
	})
	if err != nil {
		return nil, fmt.Errorf("replica: encode canister ranges: %w", err)
	}
	return b, nil
}
