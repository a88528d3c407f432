//go:build wasip1

package ic0

import "unsafe"

// The ic0 imports this package uses, with wasm32 signatures (pointers and sizes are i32).

//go:wasmimport ic0 msg_arg_data_size
func msgArgDataSize() uint32

//go:wasmimport ic0 msg_arg_data_copy
func msgArgDataCopy(dst unsafe.Pointer, offset, size uint32)

//go:wasmimport ic0 msg_caller_size
func msgCallerSize() uint32

//go:wasmimport ic0 msg_caller_copy
func msgCallerCopy(dst unsafe.Pointer, offset, size uint32)

//go:wasmimport ic0 msg_reply_data_append
func msgReplyDataAppend(src unsafe.Pointer, size uint32)

//go:wasmimport ic0 msg_reply
func msgReply()

//go:wasmimport ic0 msg_reject
func msgReject(src unsafe.Pointer, size uint32)

//go:wasmimport ic0 canister_self_size
func canisterSelfSize() uint32

//go:wasmimport ic0 canister_self_copy
func canisterSelfCopy(dst unsafe.Pointer, offset, size uint32)

//go:wasmimport ic0 time
func icTime() uint64

//go:wasmimport ic0 certified_data_set
func certifiedDataSet(src unsafe.Pointer, size uint32)

//go:wasmimport ic0 data_certificate_present
func dataCertificatePresent() uint32

//go:wasmimport ic0 data_certificate_size
func dataCertificateSize() uint32

//go:wasmimport ic0 data_certificate_copy
func dataCertificateCopy(dst unsafe.Pointer, offset, size uint32)

//go:wasmimport ic0 debug_print
func debugPrint(src unsafe.Pointer, size uint32)

//go:wasmimport ic0 trap
func trap(src unsafe.Pointer, size uint32)

//go:wasmimport ic0 global_timer_set
func globalTimerSet(ns uint64) uint64

//go:wasmimport ic0 stable64_size
func stable64Size() uint64

//go:wasmimport ic0 stable64_grow
func stable64Grow(pages uint64) uint64

//go:wasmimport ic0 stable64_write
func stable64Write(offset, src, size uint64)

//go:wasmimport ic0 stable64_read
func stable64Read(dst, offset, size uint64)

// ptr is the address of b's first byte, or nil for an empty b (ic0 reads no bytes then).
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// sptr is the address of s's first byte, or nil for an empty s.
func sptr(s string) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}
