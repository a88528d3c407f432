package requestid_test

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/icws/icws/ic/requestid"
)

const specID = "1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101"

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{specID, false},
		{"0x" + specID, false},
		{"0X" + specID, false},
		{"1D1091364D6BB8A6C16B203EE75467D59EAD468F523EB058880AE8EC80E2B101", false},
		{"", true},
		{"0x", true},
		{specID[:62], true},
		{specID + "00", true},
		{"zz" + specID[2:], true},
		{"0x0x" + specID[4:], true},
	}
	for _, tc := range tests {
		id, err := requestid.Parse(tc.in)
		if tc.wantErr {
			if !errors.Is(err, requestid.ErrInvalidID) {
				t.Errorf("Parse(%q) err = %v, want ErrInvalidID", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if id.String() != specID {
			t.Errorf("Parse(%q).String() = %s", tc.in, id)
		}
	}
}

func TestIDRoundTrips(t *testing.T) {
	id, err := requestid.Parse(specID)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := id.MarshalText()
	var back requestid.ID
	if err := back.UnmarshalText(text); err != nil || back != id {
		t.Fatalf("text round trip: %v %s", err, back)
	}
	fb, err := requestid.FromBytes(id.Bytes())
	if err != nil || fb != id {
		t.Fatalf("FromBytes round trip: %v %s", err, fb)
	}
	if _, err := requestid.FromBytes(make([]byte, 31)); !errors.Is(err, requestid.ErrInvalidID) {
		t.Fatalf("FromBytes(31 bytes) err = %v", err)
	}
	if err := back.UnmarshalText([]byte("nope")); err == nil {
		t.Fatal("UnmarshalText accepted junk")
	}
}

func TestSignable(t *testing.T) {
	id, _ := requestid.Parse(specID)
	got := id.Signable()
	want := "0a69632d72657175657374" + specID
	if hexs := hex.EncodeToString(got); hexs != want {
		t.Fatalf("Signable = %s, want %s", hexs, want)
	}
}
