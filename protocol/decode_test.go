package protocol

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/ic/cbor"
)

func TestDecodeAcceptsVariants(t *testing.T) {
	// Untagged, keys reversed, an unknown key with a nested value, and a non-shortest integer.
	b := unhex(t, "a3"+"69636c69656e745f6964"+"1b0000000000000010"+
		"65657874726182a1616101f6"+ // "extra": [{"a": 1}, null]
		"6b63616e69737465725f6964"+"781b627734646c2d736d6161612d61616161612d71616163712d636169")
	m, err := DecodeFirstMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.ClientID != 16 || m.CanisterID != seedCanister {
		t.Errorf("got %+v", m)
	}
	// Two self-describe tags in front are skipped too.
	if _, err := DecodeAppMessage(unhex(t, "d9d9f7"+goldenS3Ping)); err != nil {
		t.Errorf("double tag: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		dec  func([]byte) error
		want error
		text string
	}{
		{"empty", "", decFirst, ErrMalformed, "unexpected end of input"},
		{"not a map", "d9d9f780", decFirst, ErrMalformed, "want a map, got an array"},
		{"missing client_id", "a1" + "6b63616e69737465725f6964" + "6161", decFirst, ErrMissingField, `"client_id"`},
		{"wrong type", "a2" + "6b63616e69737465725f6964" + "01" + "69636c69656e745f6964" + "10", decFirst, ErrMalformed, `field "canister_id"`},
		{"negative client id", "a2" + "6b63616e69737465725f6964" + "6161" + "69636c69656e745f6964" + "20", decFirst, ErrMalformed, "got a negative integer"},
		{"duplicate key", "a3" + "6b63616e69737465725f6964" + "6161" + "69636c69656e745f6964" + "10" + "69636c69656e745f6964" + "10", decFirst, ErrMalformed, `duplicate key "client_id"`},
		{"duplicate unknown key", "a4" + "6b63616e69737465725f6964" + "6161" + "69636c69656e745f6964" + "10" + "617801" + "617801", decFirst, ErrMalformed, `duplicate key "x"`},
		{"open_nonce 0", "a3" + "6b63616e69737465725f6964" + "6161" + "69636c69656e745f6964" + "10" + "6a6f70656e5f6e6f6e6365" + "00", decFirst, ErrMalformed, `field "open_nonce": protocol: malformed message: at byte 38: 0 is not a nonce`},
		{"open_nonce not a uint", "a3" + "6b63616e69737465725f6964" + "6161" + "69636c69656e745f6964" + "10" + "6a6f70656e5f6e6f6e6365" + "4101", decFirst, ErrMalformed, `field "open_nonce": protocol: malformed message: at byte 38: want an unsigned integer, got a byte string`},
		{"duplicate open_nonce", "a4" + "6b63616e69737465725f6964" + "6161" + "69636c69656e745f6964" + "10" + "6a6f70656e5f6e6f6e6365" + "01" + "6a6f70656e5f6e6f6e6365" + "02", decFirst, ErrMalformed, `duplicate key "open_nonce"`},
		{"trailing bytes", "a1" + "6474657874" + "6161" + "00", decApp, ErrMalformed, "1 trailing bytes"},
		{"indefinite map", "bf" + "6474657874" + "6161" + "ff", decApp, ErrMalformed, "indefinite-length"},
		{"other tag", "c2a1" + "6474657874" + "6161", decApp, ErrMalformed, "unexpected tag 2"},
		{"integer key", "a1" + "01" + "6161", decApp, ErrMalformed, "map key is an unsigned integer"},
		{"invalid utf-8", "a1" + "6474657874" + "62c328", decApp, ErrMalformed, "not valid UTF-8"},
		{"long string", "a1" + "6474657874" + "7a7fffffff" + "61", decApp, ErrMalformed, "runs past the end"},
		{"huge map", "bb7fffffffffffffff", decApp, ErrMalformed, "longer than the input"},
		{"reserved ai", "a1" + "6474657874" + "7c", decApp, ErrMalformed, "reserved additional information"},
		{"deep unknown", "a2" + "6474657874" + "6161" + "6178" + strings.Repeat("81", 40) + "00", decApp, ErrMalformed, "nested deeper"},
		{"sig not bytes", "a2" + "63736967" + "6161" + "6376616c" + "40", decClient, ErrMalformed, `field "sig"`},
		{"missing val", "a1" + "63736967" + "40", decClient, ErrMissingField, `"val"`},
		{"S4 missing message", "a3" + "69636c69656e745f6964" + "00" + "6c73657175656e63655f6e756d" + "00" + "6974696d657374616d70" + "00", decWS, ErrMissingField, `"message"`},
		{"S4 close without ack", "a5" + "69636c69656e745f6964" + "00" + "6c73657175656e63655f6e756d" + "00" + "6974696d657374616d70" + "00" + "676d657373616765" + "40" + "65636c6f7365" + "6161", decWS, ErrMalformed, `"close" without "ack"`},
		{"S6 missing tree", "a3" + "636b6579" + "6161" + "6376616c" + "40" + "6463657274" + "40", decCert, ErrMissingField, `"tree"`},
		{"S2 missing sig", "a1" + "72636c69656e745f63616e69737465725f6964" + "40", decSigned, ErrMissingField, `"sig"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.dec(unhex(t, tt.hex))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
		})
	}
}

func decFirst(b []byte) error  { _, err := DecodeFirstMessage(b); return err }
func decSigned(b []byte) error { _, err := DecodeSignedFirstMessage(b); return err }
func decApp(b []byte) error    { _, err := DecodeAppMessage(b); return err }
func decWS(b []byte) error     { _, err := DecodeWebsocketMessage(b); return err }
func decClient(b []byte) error { _, err := DecodeClientMessage(b); return err }
func decCert(b []byte) error   { _, err := DecodeCertMessage(b); return err }

func TestRoundTrips(t *testing.T) {
	for _, m := range []WebsocketMessage{
		{},
		{ClientID: 1<<64 - 1, SequenceNum: 1 << 40, Timestamp: 1 << 63, Message: make([]byte, 70000)},
		{ClientID: 3, Service: true, Ack: 1 << 20},
		{ClientID: 3, Service: true, Ack: 0, Close: "registration expired"},
		{ClientID: 3, Service: true, Ack: 9, AckTime: 1 << 62},
	} {
		for i, b := range [][]byte{m.MarshalCanister(), m.MarshalClient()} {
			wantAckTime := m.AckTime
			if i == 1 {
				wantAckTime = 0 // the canister's key only
			}
			got, err := DecodeWebsocketMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if IsServiceMessage(b) != m.Service {
				t.Errorf("IsServiceMessage(%+v) = %v", m, !m.Service)
			}
			if got.ClientID != m.ClientID || got.SequenceNum != m.SequenceNum || got.Timestamp != m.Timestamp ||
				len(got.Message) != len(m.Message) || got.Service != m.Service || got.Ack != m.Ack || got.Close != m.Close ||
				got.AckTime != wantAckTime {
				t.Errorf("round trip of %+v gave %+v", m, got)
			}
		}
	}
	for _, text := range []string{"", "é ✓ 😀", strings.Repeat("x", 300)} {
		got, err := DecodeAppMessage(AppMessage{Text: text}.Marshal())
		if err != nil || got.Text != text {
			t.Errorf("app message %q: %q, %v", text, got.Text, err)
		}
	}
}

func TestIsServiceMessageRejects(t *testing.T) {
	for _, b := range [][]byte{nil, {0xa0}, {0xa1, 0x63, 'a', 'c', 'k'}, []byte("\x65heads"), {0x80}} {
		if IsServiceMessage(b) {
			t.Errorf("IsServiceMessage(% x) = true, want false (not a service S4)", b)
		}
	}
	ack := (&WebsocketMessage{ClientID: 1, Service: true, Ack: 2}).MarshalCanister()
	if !IsServiceMessage(ack) || IsServiceMessage(ack[:len(ack)-1]) {
		t.Errorf("IsServiceMessage: whole ack %v, truncated %v; want true, false", IsServiceMessage(ack), IsServiceMessage(ack[:len(ack)-1]))
	}
}

func TestFirstMessageRoundTrip(t *testing.T) {
	for _, m := range []FirstMessage{
		{CanisterID: seedCanister, ClientID: 16},
		{CanisterID: seedCanister, ClientID: 16, OpenNonce: 1},
		{CanisterID: "aaaaa-aa", ClientID: 1<<64 - 1, OpenNonce: 1<<64 - 1},
		{CanisterID: "", ClientID: 0, OpenNonce: 23},
	} {
		b := m.Marshal()
		if got, err := DecodeFirstMessage(b); err != nil || got != m {
			t.Errorf("%+v: decoded %+v, %v", m, got, err)
		}
	}
	// Keys in another order, and the nonce in a longer form than needed.
	b := unhex(t, "a3"+"6a6f70656e5f6e6f6e6365"+"1b0000000000000005"+"69636c69656e745f6964"+"10"+"6b63616e69737465725f6964"+"6161")
	if got, err := DecodeFirstMessage(b); err != nil || got != (FirstMessage{CanisterID: "a", ClientID: 16, OpenNonce: 5}) {
		t.Errorf("reordered: %+v, %v", got, err)
	}
}

func TestNextOpenNonce(t *testing.T) {
	at := time.Unix(0, 1_700_000_000_000_000_000)
	tests := []struct {
		name string
		last uint64
		now  time.Time
		want uint64
	}{
		{"first", 0, at, 1_700_000_000_000_000_000},
		{"clock moved on", 1_600_000_000_000_000_000, at, 1_700_000_000_000_000_000},
		{"same instant", 1_700_000_000_000_000_000, at, 1_700_000_000_000_000_001},
		{"clock stepped back", 1_800_000_000_000_000_000, at, 1_800_000_000_000_000_001},
		{"clock before 1970", 0, time.Unix(-5, 0), 1},
		{"clock at the epoch", 7, time.Unix(0, 0), 8},
		{"saturated", 1<<64 - 1, at, 1<<64 - 1},
	}
	for _, tt := range tests {
		if got := NextOpenNonce(tt.last, tt.now); got != tt.want {
			t.Errorf("%s: NextOpenNonce(%d, %v) = %d, want %d", tt.name, tt.last, tt.now, got, tt.want)
		}
	}
	// Strictly increasing over many calls, whatever the clock does.
	last := uint64(0)
	for i := range 1000 {
		n := NextOpenNonce(last, at.Add(time.Duration(i%7-3)))
		if n <= last {
			t.Fatalf("call %d: %d after %d", i, n, last)
		}
		last = n
	}
}

func TestHeadLen(t *testing.T) {
	for _, n := range []uint64{0, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1} {
		if got := len(cbor.AppendHead(nil, cbor.MajorUint, n)); got != cbor.HeadLen(n) {
			t.Errorf("cbor.HeadLen(%d) = %d, encoded %d", n, cbor.HeadLen(n), got)
		}
	}
}
