package main

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/internal/testenv"
)

func TestLoadOrCreateIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	id, created, err := loadOrCreateIdentity("", dir)
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	info, err := os.Stat(filepath.Join(dir, identityFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, mode %v", err, info.Mode())
	}
	again, created, err := loadOrCreateIdentity("", dir)
	if err != nil || created || again.Sender() != id.Sender() {
		t.Fatalf("restart: created %v, %v, principal %s vs %s", created, err, again.Sender(), id.Sender())
	}
	// An explicit file is read, never created.
	explicit, _, err := loadOrCreateIdentity(filepath.Join(dir, identityFile), "")
	if err != nil || explicit.Sender() != id.Sender() {
		t.Fatalf("explicit file: %v", err)
	}
	if _, _, err := loadOrCreateIdentity(filepath.Join(dir, "missing.pem"), dir); err == nil {
		t.Error("a missing explicit identity file was accepted")
	}
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, _, err := loadOrCreateIdentity(bad, ""); err == nil {
		t.Error("a malformed identity file was accepted")
	}
	if _, _, err := loadOrCreateIdentity("", ""); err == nil {
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
			id, _, err := loadOrCreateIdentity("", dir)
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
		got, err := readRootKey(write(name, content))
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, content := range map[string][]byte{
		"empty":   nil,
		"odd hex": []byte("abc"),
		"text":    []byte("hello"),
	} {
		if _, err := readRootKey(write(name, content)); err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
	if _, err := readRootKey(filepath.Join(dir, "missing")); err == nil {
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
		if got := isMainnetURL(u); got != want {
			t.Errorf("isMainnetURL(%q) = %v", u, got)
		}
	}
}

// TestTLSConfig loads a certificate and its key, refuses them swapped or missing, and asks for
// TLS 1.2 at least.
func TestTLSConfig(t *testing.T) {
	certFile, keyFile, _ := testenv.SelfSignedCert(t)
	cfg, err := tlsConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("%d certificates, minimum version %#x; want 1 and TLS 1.2", len(cfg.Certificates), cfg.MinVersion)
	}
	for name, files := range map[string][2]string{
		"swapped":      {keyFile, certFile},
		"missing cert": {filepath.Join(t.TempDir(), "none.pem"), keyFile},
	} {
		if _, err := tlsConfig(files[0], files[1]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
