package wasm

import "strings"

// IC0Func is one function of the IC's system API (module "ic0").
type IC0Func struct {
	Name string
	// Sig is the signature with "p" for a pointer or size (i32 in wasm32 modules, i64 in
	// wasm64), "i" for i32 and "I" for i64: params, "->", results, for example "ppp->".
	Sig string
	// Wasm32Only marks the legacy 32-bit functions a wasm64 module may not import.
	Wasm32Only bool
}

// Type returns the signature for a wasm32 (mem64 false) or wasm64 module.
func (f IC0Func) Type(mem64 bool) FuncType {
	params, results, _ := strings.Cut(f.Sig, "->")
	conv := func(s string) []ValType {
		out := make([]ValType, len(s))
		for i, c := range s {
			switch {
			case c == 'I' || (c == 'p' && mem64):
				out[i] = I64
			default:
				out[i] = I32
			}
		}
		return out
	}
	return FuncType{Params: conv(params), Results: conv(results)}
}

// IC0 lists every function of module "ic0" that a canister may import, with its signature, as
// the interface spec's "Overview of imports" gives them (I ∈ {i32, i64} by the module's memory).
// It is the one table of the system API: the checker and the replica's host both use it.
var IC0 = []IC0Func{
	{Name: "msg_arg_data_size", Sig: "->p"},
	{Name: "msg_arg_data_copy", Sig: "ppp->"},
	{Name: "msg_caller_size", Sig: "->p"},
	{Name: "msg_caller_copy", Sig: "ppp->"},
	{Name: "msg_reject_code", Sig: "->i"},
	{Name: "msg_reject_msg_size", Sig: "->p"},
	{Name: "msg_reject_msg_copy", Sig: "ppp->"},
	{Name: "msg_deadline", Sig: "->I"},
	{Name: "msg_reply_data_append", Sig: "pp->"},
	{Name: "msg_reply", Sig: "->"},
	{Name: "msg_reject", Sig: "pp->"},
	{Name: "msg_cycles_available128", Sig: "p->"},
	{Name: "msg_cycles_refunded128", Sig: "p->"},
	{Name: "msg_cycles_accept128", Sig: "IIp->"},
	{Name: "cycles_burn128", Sig: "IIp->"},
	{Name: "canister_self_size", Sig: "->p"},
	{Name: "canister_self_copy", Sig: "ppp->"},
	{Name: "canister_cycle_balance128", Sig: "p->"},
	{Name: "canister_liquid_cycle_balance128", Sig: "p->"},
	{Name: "canister_status", Sig: "->i"},
	{Name: "canister_version", Sig: "->I"},
	{Name: "subnet_self_size", Sig: "->p"},
	{Name: "subnet_self_copy", Sig: "ppp->"},
	{Name: "msg_method_name_size", Sig: "->p"},
	{Name: "msg_method_name_copy", Sig: "ppp->"},
	{Name: "accept_message", Sig: "->"},
	{Name: "call_new", Sig: "pppppppp->"},
	{Name: "call_on_cleanup", Sig: "pp->"},
	{Name: "call_data_append", Sig: "pp->"},
	{Name: "call_with_best_effort_response", Sig: "i->"},
	{Name: "call_cycles_add128", Sig: "II->"},
	{Name: "call_perform", Sig: "->i"},
	{Name: "stable64_size", Sig: "->I"},
	{Name: "stable64_grow", Sig: "I->I"},
	{Name: "stable64_write", Sig: "III->"},
	{Name: "stable64_read", Sig: "III->"},
	{Name: "root_key_size", Sig: "->p"},
	{Name: "root_key_copy", Sig: "ppp->"},
	{Name: "certified_data_set", Sig: "pp->"},
	{Name: "data_certificate_present", Sig: "->i"},
	{Name: "data_certificate_size", Sig: "->p"},
	{Name: "data_certificate_copy", Sig: "ppp->"},
	{Name: "time", Sig: "->I"},
	{Name: "global_timer_set", Sig: "I->I"},
	{Name: "performance_counter", Sig: "i->I"},
	{Name: "is_controller", Sig: "pp->i"},
	{Name: "in_replicated_execution", Sig: "->i"},
	{Name: "cost_call", Sig: "IIp->"},
	{Name: "cost_create_canister", Sig: "p->"},
	{Name: "cost_http_request", Sig: "IIp->"},
	{Name: "cost_sign_with_ecdsa", Sig: "ppip->i"},
	{Name: "cost_sign_with_schnorr", Sig: "ppip->i"},
	{Name: "cost_vetkd_derive_key", Sig: "ppip->i"},
	{Name: "mint_cycles128", Sig: "IIp->"},
	{Name: "debug_print", Sig: "pp->"},
	{Name: "trap", Sig: "pp->"},
	// The legacy 32-bit API, still accepted from wasm32 modules.
	{Name: "stable_size", Sig: "->i", Wasm32Only: true},
	{Name: "stable_grow", Sig: "i->i", Wasm32Only: true},
	{Name: "stable_write", Sig: "iii->", Wasm32Only: true},
	{Name: "stable_read", Sig: "iii->", Wasm32Only: true},
	{Name: "canister_cycle_balance", Sig: "->I", Wasm32Only: true},
	{Name: "msg_cycles_available", Sig: "->I", Wasm32Only: true},
	{Name: "msg_cycles_refunded", Sig: "->I", Wasm32Only: true},
	{Name: "msg_cycles_accept", Sig: "I->I", Wasm32Only: true},
	{Name: "call_cycles_add", Sig: "I->", Wasm32Only: true},
}

// LookupIC0 returns the ic0 function with the name, or false.
func LookupIC0(name string) (IC0Func, bool) {
	for _, f := range IC0 {
		if f.Name == name {
			return f, true
		}
	}
	return IC0Func{}, false
}
