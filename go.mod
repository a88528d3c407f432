module github.com/icws/icws

go 1.26.8

require (
	filippo.io/edwards25519 v1.2.0
	github.com/bytecodealliance/wasmtime-go/v39 v39.0.1
	github.com/consensys/gnark-crypto v0.22.0
	github.com/decred/dcrd/dcrec/secp256k1/v4 v4.4.1
	github.com/fxamacker/cbor/v2 v2.10.0
	github.com/gorilla/websocket v1.5.3
	github.com/samyfodil/wazy v0.8.0
	github.com/supranational/blst v0.3.17
	github.com/tetratelabs/wazero v1.12.0
	golang.org/x/time v0.16.0
)

require (
	github.com/bits-and-blooms/bitset v1.25.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
