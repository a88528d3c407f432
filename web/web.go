// Package web is the icws browser client and demo page, built into dist/ by web/build.mjs (an
// esbuild bundle, committed) and embedded in the binary, so `icws dev` needs nothing but Go.
//
// dist/icws.js is the browser client library as one self-contained ES module (sources in
// web/src: icws.js, verify.js, wire.js, errors.js). dist/index.html, app.js and style.css are
// the demo page: a chat room on the chat canister and the seed's ping-pong on echo. The page
// reads its settings from /config.json, which Handler serves from Config.
package web

import (
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

//go:embed dist
var dist embed.FS

// Config is what the demo page needs to reach the IC and the gateway.
type Config struct {
	// Gateway is the gateway's WebSocket URL, such as "ws://127.0.0.1:8080".
	Gateway string
	// IC is the URL of the IC's HTTP interface, such as "http://127.0.0.1:4943".
	IC string
	// RootKey is the IC's DER root key. When nil, the page fetches it from IC (a local replica
	// only: that trusts the network path).
	RootKey []byte
	// Canisters maps canister names ("echo", "chat") to their textual ids.
	Canisters map[string]string
	// TamperRelay serves, at TamperPath, a relay to Gateway that forges one message per
	// connection, and shows the page's "tamper" switch, which routes the chat through it: the
	// page rejects the forged message and goes back to Gateway. A demo, for icws dev.
	TamperRelay bool
	// Logger receives the tamper relay's notes; nil discards them.
	Logger *slog.Logger
}

// pageConfig is /config.json.
type pageConfig struct {
	Gateway      string            `json:"gateway"`
	IC           string            `json:"ic"`
	RootKey      string            `json:"rootKey,omitempty"`
	FetchRootKey bool              `json:"fetchRootKey"`
	Canisters    map[string]string `json:"canisters"`
	// Tamper is the path of the tampering relay on the page's own host, when there is one.
	Tamper string `json:"tamper,omitempty"`
}

// Assets returns the built files: index.html, app.js, icws.js, style.css.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic("web: the embedded dist directory is missing: " + err.Error()) // cannot happen: go:embed checked it
	}
	return sub
}

// Handler serves the demo page and the library from the embedded assets, and /config.json from
// cfg. Responses carry a Content-Security-Policy that lets the page connect only to its own
// origin, cfg.IC and cfg.Gateway.
func Handler(cfg Config) http.Handler {
	pc := pageConfig{
		Gateway:      cfg.Gateway,
		IC:           cfg.IC,
		FetchRootKey: cfg.RootKey == nil,
		Canisters:    cfg.Canisters,
	}
	if cfg.RootKey != nil {
		pc.RootKey = hex.EncodeToString(cfg.RootKey)
	}
	if pc.Canisters == nil {
		pc.Canisters = map[string]string{}
	}
	if cfg.TamperRelay {
		pc.Tamper = TamperPath
	}
	configJSON, err := json.MarshalIndent(pc, "", "  ")
	if err != nil {
		panic("web: cannot encode the page config: " + err.Error()) // strings and maps of strings always encode
	}
	configJSON = append(configJSON, '\n')
	csp := contentSecurityPolicy(cfg)
	files := http.FileServerFS(Assets())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(configJSON)
	})
	if cfg.TamperRelay {
		log := cfg.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		mux.Handle("GET "+TamperPath, newTamperRelay(cfg.Gateway, log))
	}
	mux.Handle("GET /", files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		mux.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy allows scripts, styles and images from the page's origin only, and
// connections to it, the IC and the gateway.
func contentSecurityPolicy(cfg Config) string {
	connect := []string{"'self'"}
	for _, u := range []string{cfg.IC, cfg.Gateway} {
		if o := origin(u); o != "" {
			connect = append(connect, o)
		}
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src " + strings.Join(connect, " ") + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// origin returns scheme://host[:port] of u, or "" if u is not an absolute URL.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}
