// info calls the management canister's canister_info, which only canisters may call.
persistent actor Info {
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
    canister_info : { canister_id : Principal; num_requested_changes : ?Nat64 } -> async Result;
  };
  public func info(id : Principal, n : ?Nat64) : async Result {
    await ic.canister_info({ canister_id = id; num_requested_changes = n })
  };
}
