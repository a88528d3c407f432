package omniaecho_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/internal/testenv"
	"github.com/icws/icws/protocol/omnia"
)

// TestAgentJSVerifies hands a real batch of the canister (on the replica, native and Wasm) to
// testdata/verify.mjs, which checks every message as ic-websocket-js's isMessageBodyValid does
// with @dfinity/agent (certificate against the root key, reconstruct(tree) against the certified
// data, the tree's websocket/<key> against SHA-256(content)) and decodes it with the agent's
// Cbor. A message whose content was changed must fail.
func TestAgentJSVerifies(t *testing.T) {
	node, _ := testenv.Node(t, "@dfinity/agent", "@dfinity/principal")
	for _, host := range hosts {
		t.Run(host, func(t *testing.T) { testAgentJSVerifies(t, newIC(t, host), node) })
	}
}

func testAgentJSVerifies(t *testing.T, e *ic, node string) {
	alice := e.newClient(e.gwA, 3)
	if err := e.open(alice); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two"} {
		if err := e.send(alice, text); err != nil {
			t.Fatal(err)
		}
	}
	r, err := e.gwA.QueryRaw(e.ctx, e.canister, omnia.MethodGetMessages, omnia.EncodeGetMessagesArgs(omnia.GetMessagesArgs{Nonce: 0}))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := omnia.DecodeGetMessagesResult(r)
	if err != nil || len(cm.Messages) != 3 {
		t.Fatalf("ws_get_messages: %d messages, %v", len(cm.Messages), err)
	}
	type msg struct {
		Key     string `json:"key"`
		Content string `json:"content"`
		Cert    string `json:"cert"`
		Tree    string `json:"tree"`
	}
	in := struct {
		RootKey    string `json:"rootKey"`
		CanisterID string `json:"canisterId"`
		Messages   []msg  `json:"messages"`
	}{RootKey: hex.EncodeToString(e.rep.RootKey()), CanisterID: e.canister.String()}
	for _, m := range cm.Messages {
		in.Messages = append(in.Messages, msg{m.MessageKey, hex.EncodeToString(m.Content), hex.EncodeToString(cm.Cert), hex.EncodeToString(cm.Tree)})
	}
	// The last one again, its content changed by a byte: the check must refuse it.
	tampered := bytes.Clone(cm.Messages[2].Content)
	tampered[len(tampered)-1] ^= 1
	bad := in.Messages[2]
	bad.Content = hex.EncodeToString(tampered)
	in.Messages = append(in.Messages, bad)
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "verify.mjs"))
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node verify.mjs: %v\n%s", err, stderr.String())
	}
	var res []struct {
		Valid            bool   `json:"valid"`
		Error            string `json:"error"`
		SequenceNum      string `json:"sequence_num"`
		IsServiceMessage bool   `json:"is_service_message"`
		Content          string `json:"content"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != 4 {
		t.Fatalf("verify.mjs printed %s (%v)", out, err)
	}
	for i, want := range []string{"1", "2", "3"} {
		r := res[i]
		if !r.Valid || r.SequenceNum != want || r.IsServiceMessage != (i == 0) {
			t.Errorf("message %d: %+v", i, r)
		}
		w, _ := omnia.UnmarshalWebsocketMessage(cm.Messages[i].Content)
		if r.Content != hex.EncodeToString(w.Content) {
			t.Errorf("message %d: agent-js decoded content %s, want %x", i, r.Content, w.Content)
		}
	}
	if res[3].Valid || !strings.Contains(res[3].Error, "sha256(content) != tree value") {
		t.Errorf("the tampered message: %+v", res[3])
	}
}
