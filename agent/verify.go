package agent

import "fmt"

// untrusted wraps a verification failure of what (a certificate) in ErrUntrusted, with a hint at
// the likely cause when there is one.
func (a *Agent) untrusted(t *trust, what string, err error) error {
	hint := ""
	if t.mainnet && a.local {
		hint = " (the agent checks certificates against the IC mainnet root key; for a local replica set Config.FetchRootKey or Config.RootKey)"
	}
	return fmt.Errorf("%w: %s was refused: %w%s", ErrUntrusted, what, err, hint)
}
