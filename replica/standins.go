package replica

import (
	"fmt"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
)

// Stand-ins for the two NNS canisters that icp-cli's `icp deploy` (and `icp canister create`)
// calls before it creates a canister: the cycles minting canister, asked for the subnets to
// create on, and the cycles ledger, whose create_canister creates it. They answer at the
// mainnet ids, which the replica's certified canister ranges include, with the Candid of the
// real interfaces for the methods they implement. Cycles are not charged here: the stand-in
// ledger gives every principal a balance of standinBalance and takes nothing.
var (
	// cmcID is the cycles minting canister, rkp4c-7iaaa-aaaaa-aaaca-cai.
	cmcID = principal.CanisterID(4)
	// cyclesLedgerID is the cycles ledger, um5iw-rqaaa-aaaaq-qaaba-cai.
	cyclesLedgerID = principal.CanisterID(0x2100002)
)

// standinBalance is the cycles balance the stand-in ledger reports for every account.
const standinBalance = 1_000_000_000_000_000_000

// cyclesLedgerFee is the cycles ledger's fee, as on mainnet (100M cycles).
const cyclesLedgerFee = 100_000_000

// isStandin reports whether id is one of the stand-in canisters.
func isStandin(id principal.Principal) bool { return id == cmcID || id == cyclesLedgerID }

// ledger types (the cycles ledger's ledger.did, the parts used).

type subnetSelection struct {
	Subnet *subnetChoice `candid:"Subnet,variant"`
	Filter *subnetFilter `candid:"Filter,variant"`
}

type subnetChoice struct {
	Subnet principal.Principal `candid:"subnet"`
}

type subnetFilter struct {
	SubnetType *string `candid:"subnet_type"`
}

type creationArgs struct {
	SubnetSelection *subnetSelection  `candid:"subnet_selection"`
	Settings        *canisterSettings `candid:"settings"`
}

type ledgerCreateArgs struct {
	FromSubaccount *[]byte       `candid:"from_subaccount"`
	CreatedAtTime  *uint64       `candid:"created_at_time"`
	Amount         candid.Nat    `candid:"amount"`
	CreationArgs   *creationArgs `candid:"creation_args"`
}

type ledgerCreateOk struct {
	BlockID    candid.Nat          `candid:"block_id"`
	CanisterID principal.Principal `candid:"canister_id"`
}

type ledgerGenericError struct {
	Message   string     `candid:"message"`
	ErrorCode candid.Nat `candid:"error_code"`
}

type ledgerCreateError struct {
	GenericError *ledgerGenericError `candid:"GenericError,variant"`
}

type ledgerCreateResult struct {
	Ok  *ledgerCreateOk    `candid:"Ok,variant"`
	Err *ledgerCreateError `candid:"Err,variant"`
}

type icrcAccount struct {
	Owner      principal.Principal `candid:"owner"`
	Subaccount *[]byte             `candid:"subaccount"`
}

// standin runs method of the stand-in canister id for caller; query says it is called as a
// query (which never changes state). The caller holds the state lock, for writing unless query.
func (r *Replica) standin(id, caller principal.Principal, method string, arg []byte, query bool, now uint64) outcome {
	x := &mgmtCall{caller: caller, arg: arg, method: method, now: now}
	var (
		b   []byte
		err error
	)
	switch {
	case id == cmcID && method == "get_default_subnets":
		b, err = candid.Marshal([]principal.Principal{r.subnetID})
	case id == cyclesLedgerID && method == "icrc1_balance_of":
		var a icrcAccount
		if err = x.decode(&a); err == nil {
			b, err = candid.Marshal(candid.NatOf(standinBalance))
		}
	case id == cyclesLedgerID && method == "icrc1_fee":
		b, err = candid.Marshal(candid.NatOf(cyclesLedgerFee))
	case id == cyclesLedgerID && method == "icrc1_decimals":
		b, err = candid.Marshal(uint8(12))
	case id == cyclesLedgerID && method == "create_canister" && !query:
		var a ledgerCreateArgs
		if err = x.decode(&a); err != nil {
			break
		}
		var s *canisterSettings
		if a.CreationArgs != nil {
			s = a.CreationArgs.Settings
			if sel := a.CreationArgs.SubnetSelection; sel != nil && sel.Subnet != nil && sel.Subnet.Subnet != r.subnetID {
				b, err = candid.Marshal(ledgerCreateResult{Err: &ledgerCreateError{GenericError: &ledgerGenericError{
					Message:   fmt.Sprintf("subnet %s is not this replica's subnet %s; select it or none", sel.Subnet.Subnet, r.subnetID),
					ErrorCode: candid.NatOf(1),
				}}})
				break
			}
		}
		c, cerr := r.createCanister(caller, s, nil, nil, now)
		if cerr != nil {
			b, err = candid.Marshal(ledgerCreateResult{Err: &ledgerCreateError{GenericError: &ledgerGenericError{Message: cerr.Error(), ErrorCode: candid.NatOf(2)}}})
			break
		}
		r.ledgerBlocks++
		b, err = candid.Marshal(ledgerCreateResult{Ok: &ledgerCreateOk{BlockID: candid.NatOf(r.ledgerBlocks), CanisterID: c.id}})
	default:
		kind := "update"
		if query {
			kind = "query"
		}
		return outcome{
			rejectCode: envelope.DestinationInvalid,
			errorCode:  errCanisterMethodNotFound,
			rejectMsg: fmt.Sprintf("Error from Canister %s: Canister has no %s method '%s' (it is the icws replica's stand-in of the %s, which implements %s).",
				id, kind, method, standinName(id), standinMethods(id)),
		}
	}
	if err != nil {
		return mgmtOutcome(err)
	}
	return replyOutcome(b)
}

func standinName(id principal.Principal) string {
	if id == cmcID {
		return "cycles minting canister"
	}
	return "cycles ledger"
}

func standinMethods(id principal.Principal) string {
	if id == cmcID {
		return "get_default_subnets"
	}
	return "create_canister, icrc1_balance_of, icrc1_fee and icrc1_decimals"
}
