// Package ic0 runs a cdk.Canister as an Internet Computer Wasm module.
//
// It is the second host of the cdk API, beside the replica's native one: its System is the IC's
// system API (the "ic0" imports), so the same canister source runs in `icws replica` as a Go value
// and, built with `icws build`, as IC Wasm on any replica, mainnet included. It compiles only
// for GOOS=wasip1 GOARCH=wasm; `icws build` generates the main package that calls Serve and the
// exports that dispatch to it, and its post-linker (package ic/wasm/postlink) gives them their IC
// names and replaces the WASI imports Go's runtime needs by deterministic internal functions.
//
// What the IC cannot do fails loudly: a Go panic in a method traps with its message, a method
// that leaves a goroutine running traps, and the post-linker turns sleeping, file and network
// access into traps that name them. The wall clock cannot trap (Go's garbage collector reads it):
// time.Now tells no real time in a canister; the IC's time is cdk.System.Time.
package ic0
