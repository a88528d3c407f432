package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRunUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, name := range []string{"dev", "replica", "gateway", "client"} {
		if !strings.Contains(out.String(), "  "+name+" ") {
			t.Errorf("usage lacks %q:\n%s", name, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut.String())
	}
}

// TestDev starts `icws dev` on free ports, loads the demo page and its config, and stops it. It
// hosts the built-ins natively: its subject is dev's wiring; TestBuiltinCanisters builds them.
func TestDev(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runDev(ctx, []string{"--native", "--replica-port", "0", "--gateway-port", "0", "--web-port", "0", "--state-dir", t.TempDir()}, pw)
		pw.Close()
		done <- err
	}()
	urls := map[string]string{}
	canisters := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 {
			urls[f[0]] = f[len(f)-1]
		}
		if len(f) == 3 && f[0] == "canister" {
			canisters[f[1]] = f[2]
		}
		if f[0] == "demo" {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if want := urls["gateway"] + "/omnia"; urls["omnia-gateway"] != want {
		t.Errorf("icws dev printed omnia-gateway %q, want %q", urls["omnia-gateway"], want)
	}
	for _, k := range []string{"replica", "gateway", "demo"} {
		if urls[k] == "" {
			t.Fatalf("icws dev printed no %s URL; got %v", k, urls)
		}
	}
	for _, name := range []string{"echo", "chat", "omnia-echo"} {
		if canisters[name] == "" {
			t.Errorf("icws dev printed no canister %s; got %v", name, canisters)
		}
	}
	resp, err := http.Get(urls["demo"] + "/config.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("config.json: %d %v", resp.StatusCode, err)
	}
	if !strings.Contains(strings.ToLower(string(mustJSON(cfg))), strings.TrimPrefix(urls["gateway"], "ws://")) {
		t.Errorf("config.json %v does not name the gateway %s", cfg, urls["gateway"])
	}
	resp, err = http.Get(urls["replica"] + "/api/v2/status")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("replica status: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("runDev: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("icws dev did not stop within 20s of cancel")
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
