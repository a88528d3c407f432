package omnia

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/internal/testenv"
)

// TestIDLAgrees runs testdata/idl.mjs, which encodes the golden values with @dfinity/candid and
// the types ic-websocket-js declares, and decodes the canister's CBOR with @dfinity/agent's Cbor
// as ic-websocket-js does: every Candid encoding must equal this package's byte for byte, and the
// decoded CBOR the golden message.
func TestIDLAgrees(t *testing.T) {
	node, _ := testenv.Node(t, "@dfinity/candid", "@dfinity/agent", "@dfinity/principal")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "idl.mjs"),
		goldenClientHex, goldenGatewayHex, "18348328367289883422", goldenCBORHex, goldenCBORHex)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node idl.mjs: %v\n%s", err, stderr.String())
	}
	var js map[string]json.RawMessage
	if err := json.Unmarshal(out, &js); err != nil {
		t.Fatalf("idl.mjs output: %v\n%s", err, out)
	}
	text := func(name string) string {
		var s string
		if err := json.Unmarshal(js[name], &s); err != nil {
			t.Fatalf("idl.mjs %s: %v", name, err)
		}
		return s
	}
	if got := text("app"); got != goldenAppHex {
		t.Errorf("app message: JS %s, golden %s", got, goldenAppHex)
	}
	for _, c := range goldenValues(t) {
		b, err := c.encode()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := text(c.name); got != hex.EncodeToString(b) {
			t.Errorf("%s:\n  JS %s\n  Go %x", c.name, got, b)
		}
	}
	var decoded struct {
		Keys             []string `json:"keys"`
		ClientPrincipal  string   `json:"client_principal"`
		ClientNonce      string   `json:"client_nonce"`
		SequenceNum      string   `json:"sequence_num"`
		Timestamp        string   `json:"timestamp"`
		IsServiceMessage bool     `json:"is_service_message"`
		Content          string   `json:"content"`
	}
	if err := json.Unmarshal(js["cborDecoded"], &decoded); err != nil {
		t.Fatal(err)
	}
	want := []string{"client_key", "sequence_num", "timestamp", "is_service_message", "content"}
	if !reflect.DeepEqual(decoded.Keys, want) || decoded.ClientPrincipal != goldenClientText ||
		decoded.ClientNonce != "18348328367289883422" || decoded.SequenceNum != "1" ||
		decoded.Timestamp != "1796423100000000000" || decoded.IsServiceMessage || decoded.Content != goldenAppHex {
		t.Errorf("agent-js decoded the CBOR as %+v", decoded)
	}
	if got := text("cborAgent"); got != goldenAgentCBORHex {
		t.Errorf("agent-js CBOR:\n got %s\nwant %s", got, goldenAgentCBORHex)
	}
}
