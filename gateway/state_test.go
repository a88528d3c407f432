package gateway

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/identity"
)

func TestLoadOrCreateIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	id, created, err := LoadOrCreateIdentity("", dir)
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	info, err := os.Stat(filepath.Join(dir, IdentityFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, mode %v", err, info.Mode())
	}
	again, created, err := LoadOrCreateIdentity("", dir)
	if err != nil || created || again.Sender() != id.Sender() {
		t.Fatalf("restart: created %v, %v, principal %s vs %s", created, err, again.Sender(), id.Sender())
	}
	// An explicit file is read, never created.
	explicit, _, err := LoadOrCreateIdentity(filepath.Join(dir, IdentityFile), "")
	if err != nil || explicit.Sender() != id.Sender() {
		t.Fatalf("explicit file: %v", err)
	}
	if _, _, err := LoadOrCreateIdentity(filepath.Join(dir, "missing.pem"), dir); err == nil {
		t.Error("a missing explicit identity file was accepted")
	}
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, _, err := LoadOrCreateIdentity(bad, ""); err == nil {
		t.Error("a malformed identity file was accepted")
	}
	if _, _, err := LoadOrCreateIdentity("", ""); err == nil {
		t.Error("no file and no directory was accepted")
	}
}

// TestLoadOrCreateIdentityRace starts several gateways on one fresh state directory at once: they
// must all end up with the same identity.
func TestLoadOrCreateIdentityRace(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	ids := make([]*identity.Ed25519, n)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, _, err := LoadOrCreateIdentity("", dir)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id == nil || id.Sender() != ids[0].Sender() {
			t.Fatal("concurrent first starts made different identities")
		}
	}
}

func TestReadRootKey(t *testing.T) {
	dir := t.TempDir()
	key := certificate.MainnetRootKey()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, content := range map[string][]byte{
		"der":       key,
		"hex":       []byte(hex.EncodeToString(key) + "\n"),
		"upper hex": []byte(" " + strings.ToUpper(hex.EncodeToString(key))),
	} {
		got, err := ReadRootKey(write(name, content))
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, content := range map[string][]byte{
		"empty":   nil,
		"odd hex": []byte("abc"),
		"text":    []byte("hello"),
	} {
		if _, err := ReadRootKey(write(name, content)); err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
	if _, err := ReadRootKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file was accepted")
	}
}

func TestIsMainnetURL(t *testing.T) {
	for u, want := range map[string]bool{
		"https://icp-api.io":       true,
		"https://icp0.io":          true,
		"https://ic0.app/":         true,
		"https://boundary.ic0.app": true,
		"https://ICP-API.IO":       true,
		"http://127.0.0.1:4943":    false,
		"https://icp-api.io.evil":  false,
		"https://noticp0.io":       false,
		"::not a url":              false,
	} {
		if got := IsMainnetURL(u); got != want {
			t.Errorf("IsMainnetURL(%q) = %v", u, got)
		}
	}
}

// TestNewFromConfig builds a gateway from a URL and an identity (no agent), and refuses what
// cannot work.
func TestNewFromConfig(t *testing.T) {
	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{URL: "http://127.0.0.1:4943", Identity: id, FetchRootKey: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if g.Principal() != id.Sender() {
		t.Errorf("principal %s, want %s", g.Principal(), id.Sender())
	}
	if err := g.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"no identity":       {URL: "http://127.0.0.1:4943", FetchRootKey: true},
		"anonymous":         {URL: "http://127.0.0.1:4943", Identity: identity.Anonymous(), FetchRootKey: true},
		"bad URL":           {URL: "ftp://x", Identity: id},
		"negative duration": {URL: "http://127.0.0.1:4943", Identity: id, PollInterval: -1},
		"bad origin":        {URL: "http://127.0.0.1:4943", Identity: id, AllowedOrigins: []string{"localhost"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
