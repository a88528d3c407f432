package replica

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/icws/icws/ic/bls"
)

// Files of the state directory.
const (
	rootKeyFile    = "root.key"     // BLS root secret key, 32 bytes as hex, mode 0600
	nodeKeyFile    = "node.key"     // Ed25519 node key seed, 32 bytes as hex, mode 0600
	rootKeyDERFile = "root_key.der" // the public root key, DER, for clients
)

// keys are the replica's long-lived keys.
type keys struct {
	root *bls.SecretKey
	node ed25519.PrivateKey
}

// loadKeys reads the keys from dir, creating the ones that do not exist yet. With dir empty it
// returns fresh keys.
func loadKeys(dir string) (keys, error) {
	if dir == "" {
		root, err := bls.GenerateKey(nil)
		if err != nil {
			return keys{}, err
		}
		_, node, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return keys{}, fmt.Errorf("replica: generate node key: %w", err)
		}
		return keys{root: root, node: node}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return keys{}, fmt.Errorf("replica: state dir: %w", err)
	}
	rootSecret, err := loadOrCreateSecret(filepath.Join(dir, rootKeyFile), func() ([]byte, error) {
		k, err := bls.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		return k.Bytes(), nil
	})
	if err != nil {
		return keys{}, err
	}
	root, err := bls.SecretKeyFromBytes(rootSecret)
	if err != nil {
		return keys{}, fmt.Errorf("replica: %s: %w", filepath.Join(dir, rootKeyFile), err)
	}
	seed, err := loadOrCreateSecret(filepath.Join(dir, nodeKeyFile), func() ([]byte, error) {
		s := make([]byte, ed25519.SeedSize)
		_, err := rand.Read(s)
		return s, err
	})
	if err != nil {
		return keys{}, err
	}
	if len(seed) != ed25519.SeedSize {
		return keys{}, fmt.Errorf("replica: %s: node key seed has %d bytes, want %d", filepath.Join(dir, nodeKeyFile), len(seed), ed25519.SeedSize)
	}
	if err := writeFileAtomic(filepath.Join(dir, rootKeyDERFile), root.PublicKeyDER(), 0o644); err != nil {
		return keys{}, err
	}
	return keys{root: root, node: ed25519.NewKeyFromSeed(seed)}, nil
}

// loadOrCreateSecret reads a hex secret from path, or makes one with create and stores it there
// with mode 0600.
func loadOrCreateSecret(path string, create func() ([]byte, error)) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("replica: %s is not hex: %w", path, err)
		}
		return secret, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("replica: read key: %w", err)
	}
	secret, err := create()
	if err != nil {
		return nil, fmt.Errorf("replica: generate key for %s: %w", path, err)
	}
	if err := writeFileAtomic(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return secret, nil
}

// writeFileAtomic writes data to path through a temporary file and a rename.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("replica: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("replica: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("replica: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("replica: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("replica: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replica: write %s: %w", path, err)
	}
	return nil
}
