package replica

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestCanisterNamesEndpoint(t *testing.T) {
	h := newHarness(t)
	code, body, hdr := h.do("GET", CanisterNamesPath, "", nil)
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %q %s", CanisterNamesPath, code, hdr.Get("Content-Type"), body)
	}
	var names map[string]string
	if err := json.Unmarshal(body, &names); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if len(names) != 1 || names["counter"] != h.cid.String() {
		t.Errorf("names %v, want counter → %s", names, h.cid)
	}
	if hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("no CORS header")
	}
	if code, _, _ := h.do("POST", CanisterNamesPath, "", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %d, want 405", CanisterNamesPath, code)
	}
}
