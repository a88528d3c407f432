package protocol

import (
	"crypto/ed25519"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestVerify(t *testing.T) {
	key := rfcKey1(t)
	pub := key.Public().(ed25519.PublicKey)
	msg := []byte("hello")
	sig := ed25519.Sign(key, msg)
	if err := Verify(pub, msg, sig); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), sig...)
	bad[0] ^= 1
	if err := Verify(pub, msg, bad); !errors.Is(err, ErrBadSignature) {
		t.Errorf("flipped bit: %v", err)
	}
	if err := Verify(pub, []byte("hellO"), sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other message: %v", err)
	}
	if err := Verify(pub, msg, sig[:63]); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "63 bytes") {
		t.Errorf("short signature: %v", err)
	}
	if err := Verify(pub[:31], msg, sig); !errors.Is(err, ErrBadPublicKey) {
		t.Errorf("short key: %v", err)
	}
}

func TestValidatePublicKey(t *testing.T) {
	if err := ValidatePublicKey(unhex(t, rfc8032Public1)); err != nil {
		t.Errorf("RFC 8032 key 1: %v", err)
	}
	for i := 0; i < 20; i++ {
		pub, _, _ := ed25519.GenerateKey(nil)
		if err := ValidatePublicKey(pub); err != nil {
			t.Fatalf("generated key %x: %v", pub, err)
		}
	}
	p := "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f" // y = p
	tests := map[string]string{
		"all zeros (order 4)":  "0000000000000000000000000000000000000000000000000000000000000000",
		"identity":             "0100000000000000000000000000000000000000000000000000000000000000",
		"order 2 (y = -1)":     "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"order 8":              "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"y not reduced":        p,
		"not on curve (y = 2)": "0200000000000000000000000000000000000000000000000000000000000000",
		"x = 0 with sign bit":  "0100000000000000000000000000000000000000000000000000000000000080",
		"too short":            "00",
	}
	for name, h := range tests {
		if err := ValidatePublicKey(unhex(t, h)); !errors.Is(err, ErrBadPublicKey) {
			t.Errorf("%s: error = %v, want ErrBadPublicKey", name, err)
		}
	}
}

func TestCloseCodes(t *testing.T) {
	reconnect := map[CloseCode]bool{
		CloseNormal: false, CloseGoingAway: true, CloseMessageTooBig: false, CloseInternalError: true,
		CloseBadFirstMessage: false, CloseOpenRefused: false, CloseUnknownCanister: false,
		CloseTooSlow: true, CloseRateLimited: true, CloseHandshakeTimeout: true,
		CloseTooManyBadMessages: false, CloseCanisterUnavailable: true, CloseSessionEnded: false, CloseOriginNotAllowed: false,
		1006: true, 4050: false, 4100: true,
	}
	for c, want := range reconnect {
		if c.Reconnect() != want {
			t.Errorf("%v.Reconnect() = %v", c, !want)
		}
		if len(c.Reason()) > 123 || c.Reason() == "" {
			t.Errorf("%d: bad reason %q", c, c.Reason())
		}
	}
	// CloseCodes lists each sent code once, in order, each with a reason of its own and a
	// reconnect class in the table above; CloseAbnormal is not sent.
	codes := CloseCodes()
	for i, c := range codes {
		if i > 0 && codes[i-1] >= c {
			t.Errorf("CloseCodes not strictly increasing at %d: %d after %d", i, c, codes[i-1])
		}
		if _, ok := reconnect[c]; !ok {
			t.Errorf("%d is in CloseCodes but not in this test's table", c)
		}
		if c.Reason() == "close code "+strconv.Itoa(int(c)) {
			t.Errorf("%d has no reason of its own", c)
		}
		if c == CloseAbnormal {
			t.Error("CloseCodes lists 1006, which is never sent")
		}
	}
	if n := len(reconnect) - 3; len(codes) != n {
		t.Errorf("CloseCodes has %d codes, the table %d", len(codes), n)
	}
	if got := CloseTooSlow.String(); got != "4003 (too slow: client queue overflow)" {
		t.Errorf("String() = %q", got)
	}
}
