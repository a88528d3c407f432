package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica"
)

// probeTimeout bounds each HTTP request the CLI makes to resolve a name or explain a failure.
const probeTimeout = 5 * time.Second

// checkURL checks that v, the value of flag, is an absolute URL with one of schemes and a host,
// and no query or fragment. example is shown in the error, such as "http://127.0.0.1:4943".
func checkURL(flag, v, example string, schemes ...string) error {
	want := fmt.Sprintf("want %s://host:port, such as %s", strings.Join(schemes, "://host:port or "), example)
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("%s %q is not a URL (%v): %s", flag, v, err, want)
	}
	if !slices.Contains(schemes, strings.ToLower(u.Scheme)) || u.Host == "" {
		return fmt.Errorf("%s %q is not a URL of %s: %s", flag, v, strings.Join(schemes, " or "), want)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s %q: a URL without a query or fragment: %s", flag, v, want)
	}
	return nil
}

// checkListen checks that v, the value of flag, is a host:port to listen on, such as
// 127.0.0.1:4943 (port 0: any free port).
func checkListen(flag, v, example string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%s %q is not host:port, such as %s", flag, v, example)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%s %q: port %q is not 0 to 65535", flag, v, port)
	} else if n == 0 && host == "" {
		return fmt.Errorf("%s %q: name a host, such as %s", flag, v, example)
	}
	return nil
}

// resolveCanister turns the value of --canister into a canister id: an id as it is, or the name
// of a canister of an icws replica (the names `icws dev` and `icws replica` print), which it
// looks up at icURL's CanisterNamesPath.
func resolveCanister(ctx context.Context, icURL, v string) (principal.Principal, error) {
	id, decodeErr := principal.Decode(v)
	if decodeErr == nil {
		switch {
		case id.Len() == 0:
			return id, fmt.Errorf("--canister %s is the management canister, which serves no WebSocket: pass your canister's id or name (icws dev prints them)", v)
		case id.IsSelfAuthenticating() || id.IsAnonymous():
			return id, fmt.Errorf("--canister %s is a user's principal, not a canister id: pass your canister's id or name (icws dev prints them)", v)
		}
		return id, nil
	}
	if !canisterName.MatchString(v) {
		return id, fmt.Errorf("--canister %q is neither a canister id (%w) nor a canister name", v, decodeErr)
	}
	names, err := canisterNames(ctx, icURL)
	if err != nil {
		return id, fmt.Errorf("--canister %s is not a canister id, and its name could not be looked up: %w", v, err)
	}
	s, ok := names[v]
	if !ok {
		known := make([]string, 0, len(names))
		for n := range names {
			known = append(known, n)
		}
		slices.Sort(known)
		return id, fmt.Errorf("--canister %s: the IC at %s has no canister of that name; it has %s (or pass a canister id)", v, icURL, strings.Join(known, ", "))
	}
	if id, err = principal.Decode(s); err != nil {
		return id, fmt.Errorf("--canister %s: the IC at %s names it %q, which is not a canister id: %w", v, icURL, s, err)
	}
	return id, nil
}

// canisterNames asks the icws replica at icURL for its canister names (CanisterNamesPath).
func canisterNames(ctx context.Context, icURL string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	res, body, err := httpGet(ctx, strings.TrimSuffix(icURL, "/")+replica.CanisterNamesPath)
	if err != nil {
		return nil, fmt.Errorf("the IC at %s does not answer (is icws dev or icws replica running there? check --ic-url): %w", icURL, err)
	}
	if isHTML(res) {
		return nil, fmt.Errorf("--ic-url %s answered an HTML page, not the IC's HTTP interface%s", icURL, demoHint(ctx, icURL))
	}
	var names map[string]string
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &names) != nil {
		if hint := demoHint(ctx, icURL); hint != "" {
			return nil, fmt.Errorf("--ic-url %s is not the IC's HTTP interface%s", icURL, hint)
		}
		return nil, fmt.Errorf("the IC at %s lists no canisters by name (%s; only icws replica and icws dev do): pass the canister's id", icURL, res.Status)
	}
	return names, nil
}

// httpGet gets u and returns the response and up to 64 KiB of its body.
func httpGet(ctx context.Context, u string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return nil, nil, err
	}
	return res, body, nil
}

func isHTML(res *http.Response) bool {
	mt, _, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	return err == nil && mt == "text/html"
}

// demoHint says where the gateway and the IC are, if u (a ws:// or http:// URL) is the demo
// page of icws dev, which serves them in /config.json: ": this is the icws demo page; its
// gateway is at ws://…, its IC at http://…". Otherwise it returns "".
func demoHint(ctx context.Context, u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	scheme := "http"
	if p.Scheme == "wss" || p.Scheme == "https" {
		scheme = "https"
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	res, body, err := httpGet(ctx, scheme+"://"+p.Host+"/config.json")
	if err != nil || res.StatusCode != http.StatusOK {
		return ""
	}
	var cfg struct{ Gateway, IC string }
	if json.Unmarshal(body, &cfg) != nil || cfg.Gateway == "" || cfg.IC == "" {
		return ""
	}
	return fmt.Sprintf(": %s is the icws demo page; its gateway is at %s (--gateway), its IC at %s (--ic-url)", scheme+"://"+p.Host, cfg.Gateway, cfg.IC)
}

// diagnoseURL explains why flag's URL u failed, if it answers an HTML page: a web page, not what
// flag wants (what); with the demo page's own hint when it is the demo page. It returns "" when
// u does not answer HTML.
func diagnoseURL(ctx context.Context, flag, u, what string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	h := *p
	switch h.Scheme {
	case "ws":
		h.Scheme = "http"
	case "wss":
		h.Scheme = "https"
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	res, _, err := httpGet(ctx, h.String())
	if err != nil || !isHTML(res) {
		return ""
	}
	if hint := demoHint(ctx, u); hint != "" {
		return fmt.Sprintf("%s %s answered HTML, not %s%s", flag, u, what, hint)
	}
	return fmt.Sprintf("%s %s answered an HTML page, not %s: check %s", flag, u, what, flag)
}

// withHints appends to err what diagnoseURL says about each of the URLs (flag, URL, what it
// should be), keeping err.
func withHints(ctx context.Context, err error, urls ...[3]string) error {
	var hints []string
	for _, u := range urls {
		if h := diagnoseURL(ctx, u[0], u[1], u[2]); h != "" {
			hints = append(hints, h)
		}
	}
	if len(hints) == 0 {
		return err
	}
	return fmt.Errorf("%w; %s", err, strings.Join(hints, "; "))
}
