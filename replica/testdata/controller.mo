// controller changes other canisters through the management canister, as a canister that
// controls them does: create_canister, update_settings (controllers), install_code (upgrade)
// and uninstall_code, each with sender_canister_version = its own canister_version when `tell`
// is true and null otherwise, and returns the version it sent. info reads canister_info.
import Prim "mo:⛔";

persistent actor Controller {
  type Change = {
    timestamp_nanos : Nat64;
    canister_version : Nat64;
    origin : {
      #from_user : { user_id : Principal };
      #from_canister : { canister_id : Principal; canister_version : ?Nat64 };
    };
    details : {
      #creation : { controllers : [Principal] };
      #code_uninstall;
      #code_deployment : { mode : { #install; #reinstall; #upgrade }; module_hash : Blob };
      #load_snapshot : { canister_version : Nat64; snapshot_id : Blob; taken_at_timestamp : Nat64 };
      #controllers_change : { controllers : [Principal] };
    };
  };
  type Result = {
    total_num_changes : Nat64;
    recent_changes : [Change];
    module_hash : ?Blob;
    controllers : [Principal];
  };
  transient let ic = actor "aaaaa-aa" : actor {
    create_canister : { settings : ?{ controllers : ?[Principal] }; sender_canister_version : ?Nat64 } -> async { canister_id : Principal };
    update_settings : { canister_id : Principal; settings : { controllers : ?[Principal] }; sender_canister_version : ?Nat64 } -> async ();
    install_code : {
      mode : { #install; #reinstall; #upgrade : ?{ skip_pre_upgrade : ?Bool } };
      canister_id : Principal;
      wasm_module : Blob;
      arg : Blob;
      sender_canister_version : ?Nat64;
    } -> async ();
    uninstall_code : { canister_id : Principal; sender_canister_version : ?Nat64 } -> async ();
    canister_info : { canister_id : Principal; num_requested_changes : ?Nat64 } -> async Result;
  };

  func sent(tell : Bool) : (?Nat64, Nat64) {
    let v = Prim.canisterVersion();
    (if tell ?v else null, v)
  };

  public func create(tell : Bool) : async (Principal, Nat64) {
    let (s, v) = sent(tell);
    let r = await ic.create_canister({ settings = null; sender_canister_version = s });
    (r.canister_id, v)
  };
  public func setControllers(id : Principal, controllers : [Principal], tell : Bool) : async Nat64 {
    let (s, v) = sent(tell);
    await ic.update_settings({ canister_id = id; settings = { controllers = ?controllers }; sender_canister_version = s });
    v
  };
  public func upgrade(id : Principal, wasm : Blob, tell : Bool) : async Nat64 {
    let (s, v) = sent(tell);
    await ic.install_code({ mode = #upgrade null; canister_id = id; wasm_module = wasm; arg = ""; sender_canister_version = s });
    v
  };
  public func uninstall(id : Principal, tell : Bool) : async Nat64 {
    let (s, v) = sent(tell);
    await ic.uninstall_code({ canister_id = id; sender_canister_version = s });
    v
  };
  public func info(id : Principal, n : ?Nat64) : async Result {
    await ic.canister_info({ canister_id = id; num_requested_changes = n })
  };
}
