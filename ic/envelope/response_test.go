package envelope_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

func tagged(w *cborBuilder) []byte { return append([]byte{0xd9, 0xd9, 0xf7}, w.b...) }

func TestResponseGoldens(t *testing.T) {
	sig := envelope.NodeSignature{Timestamp: 1, Signature: []byte{0xaa}, Identity: principal.Anonymous()}
	tests := map[string]struct {
		v    any
		want []byte
	}{
		"read_state": {
			envelope.ReadStateResponse{Certificate: []byte{1, 2}},
			tagged((&cborBuilder{}).mapHead(1).text("certificate").bytes([]byte{1, 2})),
		},
		"read_state nil certificate is an empty blob": {
			envelope.ReadStateResponse{},
			tagged((&cborBuilder{}).mapHead(1).text("certificate").bytes(nil)),
		},
		"query replied": {
			envelope.QueryResponse{Status: envelope.StatusReplied, Reply: &envelope.QueryReply{}},
			tagged((&cborBuilder{}).mapHead(2).text("status").text("replied").text("reply").mapHead(1).text("arg").bytes(nil)),
		},
		"query replied with signature": {
			&envelope.QueryResponse{Status: envelope.StatusReplied, Reply: &envelope.QueryReply{Arg: []byte("DIDL\x00\x00")},
				Signatures: []envelope.NodeSignature{sig}},
			tagged((&cborBuilder{}).mapHead(3).text("status").text("replied").
				text("reply").mapHead(1).text("arg").bytes([]byte("DIDL\x00\x00")).
				text("signatures").arrHead(1).mapHead(3).text("timestamp").raw(0x01).
				text("signature").bytes([]byte{0xaa}).text("identity").bytes([]byte{4})),
		},
		"query rejected, empty message, no error code": {
			envelope.QueryResponse{Status: envelope.StatusRejected, RejectCode: envelope.CanisterReject},
			tagged((&cborBuilder{}).mapHead(3).text("status").text("rejected").
				text("reject_code").raw(0x04).text("reject_message").text("")),
		},
		"query rejected with error code": {
			envelope.QueryResponse{Status: envelope.StatusRejected, RejectCode: envelope.CanisterError,
				RejectMessage: "trapped", ErrorCode: "IC0503"},
			tagged((&cborBuilder{}).mapHead(4).text("status").text("rejected").
				text("reject_code").raw(0x05).text("reject_message").text("trapped").text("error_code").text("IC0503")),
		},
		"call v3 replied": {
			envelope.CallResponse{Status: envelope.StatusReplied, Certificate: []byte{9}},
			tagged((&cborBuilder{}).mapHead(2).text("status").text("replied").text("certificate").bytes([]byte{9})),
		},
		"call v3 non_replicated_rejection": {
			envelope.CallResponse{Status: envelope.StatusNonReplicatedRejection, RejectCode: envelope.DestinationInvalid,
				RejectMessage: "no such canister", ErrorCode: "IC0301"},
			tagged((&cborBuilder{}).mapHead(4).text("status").text("non_replicated_rejection").
				text("reject_code").raw(0x03).text("reject_message").text("no such canister").text("error_code").text("IC0301")),
		},
		"v2 reject": {
			envelope.RejectResponse{RejectCode: envelope.DestinationInvalid, RejectMessage: "x", ErrorCode: "IC0301"},
			tagged((&cborBuilder{}).mapHead(3).text("reject_code").raw(0x03).text("reject_message").text("x").text("error_code").text("IC0301")),
		},
		"v2 reject without error code": {
			envelope.RejectResponse{RejectCode: envelope.SysTransient, RejectMessage: "frozen"},
			tagged((&cborBuilder{}).mapHead(2).text("reject_code").raw(0x02).text("reject_message").text("frozen")),
		},
		"status": {
			envelope.Status{RootKey: []byte{1}, ImplVersion: "0.1", ReplicaHealthStatus: envelope.HealthHealthy, CertifiedHeight: 5},
			tagged((&cborBuilder{}).mapHead(4).text("root_key").bytes([]byte{1}).text("impl_version").text("0.1").
				text("replica_health_status").text("healthy").text("certified_height").raw(0x05)),
		},
		"status with a 64-bit height": {
			envelope.Status{CertifiedHeight: 1 << 40},
			tagged((&cborBuilder{}).mapHead(1).text("certified_height").raw(0x1b, 0, 0, 1, 0, 0, 0, 0, 0)),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := cbor.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("encoding\n got %x\nwant %x", got, tc.want)
			}
			checkAgentJSSubset(t, got)
		})
	}
}

func TestResponseMarshalRejectsBadStatus(t *testing.T) {
	for _, v := range []any{
		envelope.QueryResponse{Status: "done"},
		envelope.QueryResponse{Status: envelope.StatusReplied},
		envelope.CallResponse{Status: "rejected"},
	} {
		if _, err := cbor.Marshal(v); err == nil {
			t.Errorf("%+v encoded", v)
		}
	}
}

func TestDecodeResponses(t *testing.T) {
	q := envelope.QueryResponse{Status: envelope.StatusReplied, Reply: &envelope.QueryReply{Arg: []byte{1}},
		Signatures: []envelope.NodeSignature{{Timestamp: 7, Signature: []byte{2}, Identity: principal.CanisterID(3)}}}
	b, _ := cbor.Marshal(q)
	got, err := envelope.DecodeQueryResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != q.Status || !bytes.Equal(got.Reply.Arg, []byte{1}) || len(got.Signatures) != 1 ||
		got.Signatures[0].Identity != principal.CanisterID(3) || got.Signatures[0].Timestamp != 7 {
		t.Fatalf("round trip = %+v", got)
	}
	rej := envelope.QueryResponse{Status: envelope.StatusRejected, RejectCode: 4, RejectMessage: "no", ErrorCode: "IC0406"}
	b, _ = cbor.Marshal(rej)
	if got, err := envelope.DecodeQueryResponse(b); err != nil || got.RejectCode != envelope.CanisterReject || got.ErrorCode != "IC0406" {
		t.Fatalf("rejected: %+v %v", got, err)
	}
	c := envelope.CallResponse{Status: envelope.StatusReplied, Certificate: []byte{5}}
	b, _ = cbor.Marshal(c)
	if got, err := envelope.DecodeCallResponse(b); err != nil || !bytes.Equal(got.Certificate, []byte{5}) {
		t.Fatalf("call: %+v %v", got, err)
	}
	bad := map[string][]byte{}
	bad["query without reply"], _ = cbor.Marshal(map[string]any{"status": "replied"})
	bad["query status"], _ = cbor.Marshal(map[string]any{"status": "processing"})
	bad["query not cbor"] = []byte{0xff}
	for name, b := range bad {
		if _, err := envelope.DecodeQueryResponse(b); !errors.Is(err, envelope.ErrMalformedResponse) {
			t.Errorf("%s: %v", name, err)
		}
	}
	badCall := map[string][]byte{}
	badCall["no certificate"], _ = cbor.Marshal(map[string]any{"status": "replied"})
	badCall["status"], _ = cbor.Marshal(map[string]any{"status": "accepted"})
	for name, b := range badCall {
		if _, err := envelope.DecodeCallResponse(b); !errors.Is(err, envelope.ErrMalformedResponse) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRejectCodeString(t *testing.T) {
	want := []string{"RejectCode(0)", "SYS_FATAL", "SYS_TRANSIENT", "DESTINATION_INVALID", "CANISTER_REJECT", "CANISTER_ERROR", "SYS_UNKNOWN", "RejectCode(7)"}
	for i, w := range want {
		if got := envelope.RejectCode(i).String(); got != w {
			t.Errorf("RejectCode(%d) = %s, want %s", i, got, w)
		}
	}
}

// manualMapHash computes hash_of_map from explicit (key, value bytes) pairs
// with nothing but SHA-256, independently of package requestid.
func manualMapHash(pairs [][2][]byte) [32]byte {
	var cat [][]byte
	for _, p := range pairs {
		k := sha256.Sum256(p[0])
		v := sha256.Sum256(p[1])
		cat = append(cat, append(k[:], v[:]...))
	}
	slices.SortFunc(cat, bytes.Compare)
	return sha256.Sum256(bytes.Join(cat, nil))
}

func TestQueryResponseSigningMessage(t *testing.T) {
	rid, _ := requestid.Parse("1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101")
	const ts = 624485 // LEB128 e58e26
	leb := unhex(t, "e58e26")

	// replied: reply is hashed as the map {arg}; its hash is a value hash,
	// so the pair carries H(value) where value = hash_of_map({arg}).
	arg := []byte("DIDL\x00\x00")
	inner := manualMapHash([][2][]byte{{[]byte("arg"), arg}})
	// manualMapHash hashes values again; hash the outer map by hand.
	pair := func(k string, vh [32]byte) []byte { kh := sha256.Sum256([]byte(k)); return append(kh[:], vh[:]...) }
	outer := [][]byte{
		pair("status", sha256.Sum256([]byte("replied"))),
		pair("reply", inner),
		pair("timestamp", sha256.Sum256(leb)),
		pair("request_id", sha256.Sum256(rid[:])),
	}
	slices.SortFunc(outer, bytes.Compare)
	want := sha256.Sum256(bytes.Join(outer, nil))
	resp := &envelope.QueryResponse{Status: envelope.StatusReplied, Reply: &envelope.QueryReply{Arg: arg}}
	msg, err := envelope.QueryResponseSigningMessage(resp, rid, ts)
	if err != nil {
		t.Fatal(err)
	}
	wantMsg := append(unhex(t, "0b69632d726573706f6e7365"), want[:]...)
	if !bytes.Equal(msg, wantMsg) {
		t.Fatalf("replied message\n got %x\nwant %x", msg, wantMsg)
	}
	// The spec's nested-map example is the same rule: hash_of_map({reply: {arg}}).
	if got := hex.EncodeToString(func() []byte { h := sha256.Sum256(pair("reply", inner)); return h[:] }()); got != "3d534ec350430fce5b6c1a49a0357efe4ba33390593af96ae111fdd1f1192ec4" {
		t.Fatalf("spec nested map vector = %s", got)
	}

	// rejected, with and without error_code.
	for _, errorCode := range []string{"", "IC0406"} {
		pairs := [][2][]byte{
			{[]byte("status"), []byte("rejected")},
			{[]byte("reject_code"), {0x04}},
			{[]byte("reject_message"), []byte("no")},
			{[]byte("timestamp"), leb},
			{[]byte("request_id"), rid[:]},
		}
		if errorCode != "" {
			pairs = append(pairs, [2][]byte{[]byte("error_code"), []byte(errorCode)})
		}
		want := manualMapHash(pairs)
		resp := &envelope.QueryResponse{Status: envelope.StatusRejected, RejectCode: envelope.CanisterReject, RejectMessage: "no", ErrorCode: errorCode}
		msg, err := envelope.QueryResponseSigningMessage(resp, rid, ts)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(msg[12:], want[:]) {
			t.Fatalf("rejected (error_code %q): got %x want %x", errorCode, msg[12:], want)
		}
	}

	// Replica signs with its node key, the agent verifies with the DER key.
	node, _ := identity.Ed25519FromSeed(bytes.Repeat([]byte{0x42}, 32))
	sig, _ := node.Sign(msg)
	if err := identity.VerifySignature(node.PublicKey(), msg, sig); err != nil {
		t.Fatal(err)
	}
	if _, err := envelope.QueryResponseSigningMessage(&envelope.QueryResponse{Status: "x"}, rid, 1); err == nil {
		t.Fatal("unknown status accepted")
	}
	if _, err := envelope.QueryResponseSigningMessage(&envelope.QueryResponse{Status: envelope.StatusReplied}, rid, 1); err == nil {
		t.Fatal("replied without reply accepted")
	}
}

func TestDecodeStatusFromOlderReplica(t *testing.T) {
	// Older replicas also sent ic_api_version; unknown fields are ignored.
	b, _ := cbor.Marshal(map[string]any{"ic_api_version": "0.18.0", "root_key": []byte{1, 2}, "impl_version": "x",
		"replica_health_status": "healthy", "certified_height": uint64(9)})
	var s envelope.Status
	if err := cbor.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.RootKey, []byte{1, 2}) || s.ReplicaHealthStatus != envelope.HealthHealthy || s.CertifiedHeight != 9 {
		t.Fatalf("status = %+v", s)
	}
}
