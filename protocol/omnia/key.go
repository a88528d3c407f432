package omnia

import (
	"fmt"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// Key returns the certified-tree key of the message with the given outgoing nonce in gateway's
// queue: `<gateway principal text>_<nonce, zero-padded to 20 digits>`, as in the seed protocol.
func Key(gateway principal.Principal, nonce uint64) string { return protocol.KeyFor(gateway, nonce) }

// ParseKey splits a message key into its gateway and nonce; the gateway part must be a valid
// principal text.
func ParseKey(k string) (gateway principal.Principal, nonce uint64, err error) {
	text, nonce, err := protocol.ParseKey(k)
	if err != nil {
		return principal.Principal{}, 0, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	gateway, err = principal.Decode(text)
	if err != nil {
		return principal.Principal{}, 0, fmt.Errorf("%w: %q: gateway part: %w", ErrBadKey, k, err)
	}
	return gateway, nonce, nil
}
