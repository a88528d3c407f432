import Prim "mo:prim";
persistent actor Counter {
  var count : Nat = 0;
  var log : Text = "";
  transient var scratch : Nat = 0;

  public func inc() : async Nat { count += 1; count };
  public query func get() : async Nat { count };
  public query func queryInc() : async Nat { count += 1; count };
  public shared(msg) func whoami() : async Principal { msg.caller };
  public query(msg) func whoamiQuery() : async Principal { msg.caller };
  public func echo(t : Text) : async Text { log := log # t; t };
  public func incThenTrap() : async () { count += 1; Prim.debugPrint("about to trap"); assert false };
  public func spin() : async () { var i = 0; while (true) { i += 1 } };
  public query func spinQuery() : async () { var i = 0; while (true) { i += 1 } };
  public func stableWriteTrap() : async () { ignore Prim.stableMemoryGrow(1); Prim.stableMemoryStoreNat8(0, 42); assert false };
  public func stableWrite() : async () { ignore Prim.stableMemoryGrow(1); Prim.stableMemoryStoreNat8(0, 7) };
  public query func stableByte() : async Nat8 { if (Prim.stableMemorySize() == 0) 0 else Prim.stableMemoryLoadNat8(0) };
  public query func stableSize() : async Nat64 { Prim.stableMemorySize() };
  public func setCert(b : Blob) : async () { Prim.setCertifiedData(b) };
  public query func cert() : async ?Blob { Prim.getCertificate() };
  public func setTimer(ns : Nat64) : async () { ignore Prim.setTimer<system>(ns, false, func() : async () { count += 100 }) };
  public func callOther(p : Text) : async Nat {
    let other : actor { get : () -> async Nat } = actor (p);
    await other.get()
  };
}
