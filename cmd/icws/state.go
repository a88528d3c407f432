// Operator helpers of `icws gateway` and `icws dev`: the gateway's identity and state directory,
// root key files, TLS certificate files. They are the command's, not the gateway library's.

package main

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/identity"
)

// identityFile is the name of the gateway's identity in its state directory.
const identityFile = "identity.pem"

// loadOrCreateIdentity returns the gateway's Ed25519 identity: the one in the PEM file path (dfx
// format) if path is not empty, otherwise the one in stateDir/identity.pem, which is created on
// first use (file mode 0600, directory 0700). Keeping the identity keeps the gateway's principal
// across restarts. created reports whether a new identity was made.
func loadOrCreateIdentity(path, stateDir string) (id *identity.Ed25519, created bool, err error) {
	create := path == ""
	if create {
		if stateDir == "" {
			return nil, false, errors.New("gateway: no identity file and no state directory")
		}
		path = filepath.Join(stateDir, identityFile)
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id, err := identity.ParsePEM(b)
		if err != nil {
			return nil, false, fmt.Errorf("gateway: identity %s: %w", path, err)
		}
		return id, false, nil
	case !create || !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("gateway: identity: %w", err)
	}
	if id, err = identity.GenerateEd25519(); err != nil {
		return nil, false, fmt.Errorf("gateway: identity: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("gateway: state directory: %w", err)
	}
	// Write a temporary file and link it into place, so that two gateways starting at once on
	// one state directory end up with the same identity, never a torn file.
	tmp, err := os.CreateTemp(stateDir, ".identity-*.pem")
	if err != nil {
		return nil, false, fmt.Errorf("gateway: identity: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(id.MarshalPEM()); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("gateway: identity: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("gateway: identity: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return nil, false, fmt.Errorf("gateway: identity: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreateIdentity(path, "") // another process made it first; read that one
		}
		return nil, false, fmt.Errorf("gateway: identity: %w", err)
	}
	return id, true, nil
}

// readRootKey reads an IC root key from a file: the DER bytes (133 for a BLS key) or their hex
// text.
func readRootKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gateway: root key: %w", err)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && isHex(t) {
		k, err := hex.DecodeString(string(t))
		if err != nil {
			return nil, fmt.Errorf("gateway: root key %s: %w", path, err)
		}
		b = k
	}
	if len(b) == 0 || b[0] != 0x30 {
		return nil, fmt.Errorf("gateway: root key %s: not a DER key (in binary or hex)", path)
	}
	return b, nil
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isMainnetURL reports whether u is one of the IC mainnet's API hosts or a subdomain
// (agent.IsMainnetHost), whose root key is built in and must not be fetched.
func isMainnetURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	return agent.IsMainnetHost(p.Hostname())
}

// tlsConfig loads a certificate and its private key from PEM files for serving wss://. It asks
// for TLS 1.2 at least.
func tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("gateway: TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
