package replica

import (
	"context"
	"testing"
	"time"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/principal"
)

// TestStandins checks the stand-in CMC and cycles ledger over HTTP: their mainnet ids, inside
// the certified canister ranges; get_default_subnets; the ledger's balance, fee and
// create_canister (a canister controlled by the caller; a foreign subnet is an Err); and the
// reject of a method they lack.
func TestStandins(t *testing.T) {
	for _, tc := range []struct {
		id   principal.Principal
		text string
	}{{cmcID, "rkp4c-7iaaa-aaaaa-aaaca-cai"}, {cyclesLedgerID, "um5iw-rqaaa-aaaaq-qaaba-cai"}} {
		if tc.id.String() != tc.text {
			t.Errorf("stand-in id %s, want %s", tc.id, tc.text)
		}
	}
	leaf, err := canisterRangesLeaf()
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := certificate.DecodeRanges(leaf)
	if err != nil || len(ranges) != 3 || ranges[0].Start != cmcID || ranges[1].End != cyclesLedgerID {
		t.Fatalf("canister ranges %+v, %v", ranges, err)
	}

	r, err := Start(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := newMgmt(t, ctx, r)

	var subnets []principal.Principal
	if err := m.a.Query(ctx, cmcID, "get_default_subnets", nil, &subnets); err != nil || len(subnets) != 1 || subnets[0] != r.SubnetID() {
		t.Fatalf("get_default_subnets = %v, %v; want [%s]", subnets, err, r.SubnetID())
	}
	var bal, fee candid.Nat
	if err := m.a.Query(ctx, cyclesLedgerID, "icrc1_balance_of", icrcAccount{Owner: m.a.Sender()}, &bal); err != nil {
		t.Fatal(err)
	}
	if err := m.a.Query(ctx, cyclesLedgerID, "icrc1_fee", nil, &fee); err != nil {
		t.Fatal(err)
	}
	if b, _ := bal.Uint64(); b != standinBalance {
		t.Fatalf("icrc1_balance_of = %s", bal)
	}
	if f, _ := fee.Uint64(); f != cyclesLedgerFee {
		t.Fatalf("icrc1_fee = %s", fee)
	}

	var res ledgerCreateResult
	if err := m.a.Call(ctx, cyclesLedgerID, "create_canister", ledgerCreateArgs{Amount: candid.NatOf(1e12)}, &res); err != nil || res.Ok == nil {
		t.Fatalf("create_canister: %+v, %v", res, err)
	}
	if st := m.status(res.Ok.CanisterID); len(st.Settings.Controllers) != 1 || st.Settings.Controllers[0] != m.a.Sender() {
		t.Fatalf("the created canister's controllers are %v, want the caller", st.Settings.Controllers)
	}
	other := principal.SelfAuthenticating([]byte("another subnet"))
	res = ledgerCreateResult{}
	sel := &subnetSelection{Subnet: &subnetChoice{Subnet: other}}
	err = m.a.Call(ctx, cyclesLedgerID, "create_canister", ledgerCreateArgs{Amount: candid.NatOf(1), CreationArgs: &creationArgs{SubnetSelection: sel}}, &res)
	if err != nil || res.Err == nil || res.Err.GenericError == nil {
		t.Fatalf("create_canister on another subnet: %+v, %v; want Err", res, err)
	}
	taken := cyclesLedgerID
	err = m.call("provisional_create_canister_with_cycles", provisionalCreateArgs{SpecifiedID: &taken})
	wantReject(t, "specified_id of the stand-in ledger", err, "already installed", errCanisterIDAlreadyExists)
	wantReject(t, "transfer", m.a.Call(ctx, cmcID, "notify_create_canister", nil), "stand-in", errCanisterMethodNotFound)
}
