package omniaecho_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/canisters/omniaecho"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/testenv"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/replica"
)

// TestICPCLI calls the Wasm canister with DFINITY's icp-cli 1.5, which reads the Candid
// interface the module publishes and encodes and decodes with Rust's candid crate, the one
// ic-websocket-gateway decodes ws_get_messages with: the interface parses, the arguments a Rust
// party writes decode, and the replies decode as the published types. Its identity plays client
// and gateway at once.
func TestICPCLI(t *testing.T) {
	modules := testenv.NodeModules(t, "@icp-sdk/icp-cli-linux-x64")
	bin := filepath.Join(modules, "@icp-sdk", "icp-cli-linux-x64", "bin", "icp")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the npm package @icp-sdk/icp-cli-linux-x64 has no icp binary (%v): run npm ci at the repository root", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	home := t.TempDir()
	var net []string
	icp := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append(args, net...)...)
		cmd.Dir = home
		cmd.Env = append(os.Environ(), "HOME="+home, "DO_NOT_TRACK=1", "RUST_BACKTRACE=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("icp %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	icp("identity", "new", "dev", "--storage", "plaintext")
	icp("identity", "default", "dev")
	lines := strings.Fields(icp("identity", "principal"))
	me, err := principal.Decode(lines[len(lines)-1])
	if err != nil {
		t.Fatalf("icp identity principal: %v", err)
	}
	rep, err := replica.Start(ctx, replica.Config{WasmCacheDir: wasmtest.CacheDir(), Canisters: []replica.CanisterSpec{
		{Name: "omnia-echo", Wasm: wasmtest.Build(t, omniaEchoPackage).Wasm},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	net = []string{"--network", rep.URL(), "--root-key", hex.EncodeToString(rep.RootKey())}
	id, _ := rep.CanisterID("omnia-echo")
	cid := id.String()

	want := func(out string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(out, p) {
				t.Fatalf("output lacks %q:\n%s", p, out)
			}
		}
	}
	want(icp("canister", "call", cid, "ws_open", fmt.Sprintf(`(record { client_nonce = 7 : nat64; gateway_principal = principal "%s" })`, me)), "variant { Ok }")
	app, err := candid.Marshal(omniaecho.AppMessage{Text: "from rust", Timestamp: 5})
	if err != nil {
		t.Fatal(err)
	}
	var blob strings.Builder
	for _, b := range app {
		fmt.Fprintf(&blob, `\%02x`, b)
	}
	msg := func(seq int) string {
		return fmt.Sprintf(`(record { msg = record { client_key = record { client_principal = principal "%s"; client_nonce = 7 : nat64 }; sequence_num = %d : nat64; timestamp = 0 : nat64; is_service_message = false; content = blob "%s" } }, null)`, me, seq, blob.String())
	}
	want(icp("canister", "call", cid, "ws_message", msg(1)), "variant { Ok }")
	out := icp("canister", "call", cid, "ws_get_messages", "(record { nonce = 0 : nat64 })", "--query")
	want(out, "variant {", "Ok = record {", "is_end_of_queue = true", fmt.Sprintf(`key = "%s_00000000000000000000"`, me),
		fmt.Sprintf(`key = "%s_00000000000000000001"`, me), "client_nonce = 7 : nat64")
	want(icp("canister", "call", cid, "ws_message", msg(5)), "Err = \"Expected incoming sequence number 2 but got 5\"")
	want(icp("canister", "call", cid, "ws_close", fmt.Sprintf(`(record { client_key = record { client_principal = principal "%s"; client_nonce = 7 : nat64 } })`, me)),
		"Err = \"Client with key", "have an open connection") // after the WrongSequenceNumber close
}
