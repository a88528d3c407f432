package web

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestHandler(t *testing.T) {
	rootKey := []byte{0x30, 0x81, 0x82, 0xff}
	h := Handler(Config{
		Gateway:   "ws://127.0.0.1:8080",
		IC:        "http://127.0.0.1:4943/",
		RootKey:   rootKey,
		Canisters: map[string]string{"echo": "bkyz2-fmaaa-aaaaa-qaaaq-cai", "chat": "bd3sg-teaaa-aaaaa-qaaba-cai"},
	})
	tests := []struct {
		path, method string
		status       int
		ctype, body  string
	}{
		{"/", "GET", 200, "text/html; charset=utf-8", `<script type="module" src="app.js">`},
		{"/index.html", "GET", 301, "", ""},
		{"/app.js", "GET", 200, "text/javascript; charset=utf-8", `from"./icws.js"`},
		{"/icws.js", "GET", 200, "text/javascript; charset=utf-8", "IcWebSocket"},
		{"/style.css", "GET", 200, "text/css; charset=utf-8", ".messages"},
		{"/config.json", "GET", 200, "application/json", `"rootKey": "308182ff"`},
		{"/nope", "GET", 404, "", ""},
		{"/config.json", "POST", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := get(t, h, tt.method, tt.path)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tt.status, body)
			}
			if tt.ctype != "" && res.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tt.ctype)
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body does not contain %q:\n%.300s", tt.body, body)
			}
			csp := res.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "connect-src 'self' http://127.0.0.1:4943 ws://127.0.0.1:8080;") || !strings.Contains(csp, "script-src 'self';") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
		})
	}

	var pc struct {
		Gateway      string            `json:"gateway"`
		IC           string            `json:"ic"`
		RootKey      string            `json:"rootKey"`
		FetchRootKey bool              `json:"fetchRootKey"`
		Canisters    map[string]string `json:"canisters"`
	}
	if err := json.NewDecoder(get(t, h, "GET", "/config.json").Body).Decode(&pc); err != nil {
		t.Fatal(err)
	}
	if pc.Gateway != "ws://127.0.0.1:8080" || pc.IC != "http://127.0.0.1:4943/" || pc.FetchRootKey ||
		pc.Canisters["chat"] != "bd3sg-teaaa-aaaaa-qaaba-cai" || pc.Canisters["echo"] != "bkyz2-fmaaa-aaaaa-qaaaq-cai" {
		t.Errorf("config.json = %+v", pc)
	}
}

func TestHandlerWithoutRootKey(t *testing.T) {
	res := get(t, Handler(Config{Gateway: "wss://gw.example", IC: "not a url"}), "GET", "/config.json")
	var pc map[string]any
	if err := json.NewDecoder(res.Body).Decode(&pc); err != nil {
		t.Fatal(err)
	}
	if pc["fetchRootKey"] != true || pc["rootKey"] != nil || pc["canisters"] == nil {
		t.Errorf("config.json = %v, want fetchRootKey true, no rootKey, canisters {}", pc)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' wss://gw.example;") {
		t.Errorf("Content-Security-Policy %q: want the gateway's origin only (the IC URL is not a URL)", csp)
	}
}

func TestAssets(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "icws.js", "style.css"} {
		b, err := fs.ReadFile(Assets(), name)
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %d bytes, %v", name, len(b), err)
		}
	}
}
