package protocol

import (
	"fmt"
	"strings"

	"github.com/icws/icws/ic/principal"
)

// NonceDigits is the width of the zero-padded nonce in a message key; it fits every uint64.
const NonceDigits = 20

// KeyFor returns the certified-map key of the message with the given nonce in gateway's queue:
// `<gateway principal text>_<nonce, zero-padded to 20 digits>`. String order of keys equals nonce
// order, and principal text has no '_', so one gateway's keys form a contiguous range.
func KeyFor(gateway principal.Principal, nonce uint64) string {
	return string(AppendKey(nil, gateway.String(), nonce))
}

// AppendKey appends the key of nonce in the queue of the gateway whose principal text is gateway.
func AppendKey(dst []byte, gateway string, nonce uint64) []byte {
	dst = append(dst, gateway...)
	dst = append(dst, '_')
	var d [NonceDigits]byte
	for i := NonceDigits - 1; i >= 0; i-- {
		d[i] = '0' + byte(nonce%10)
		nonce /= 10
	}
	return append(dst, d[:]...)
}

// ParseKey splits a message key into the gateway's principal text and the nonce. The gateway part
// is not checked to be a valid principal (clients compare it with what they expect).
func ParseKey(key string) (gateway string, nonce uint64, err error) {
	i := strings.LastIndexByte(key, '_')
	if i < 0 {
		return "", 0, fmt.Errorf("%w: %q has no '_'", ErrBadKey, key)
	}
	gateway, digits := key[:i], key[i+1:]
	if gateway == "" {
		return "", 0, fmt.Errorf("%w: %q has no gateway part", ErrBadKey, key)
	}
	if len(digits) != NonceDigits {
		return "", 0, fmt.Errorf("%w: %q: nonce has %d digits, want %d", ErrBadKey, key, len(digits), NonceDigits)
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return "", 0, fmt.Errorf("%w: %q: nonce has a non-digit %q", ErrBadKey, key, c)
		}
		d := uint64(c - '0')
		if nonce > (^uint64(0)-d)/10 {
			return "", 0, fmt.Errorf("%w: %q: nonce overflows 64 bits", ErrBadKey, key)
		}
		nonce = nonce*10 + d
	}
	return gateway, nonce, nil
}
