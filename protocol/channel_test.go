package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The golden bytes of docs/PROTOCOL.md §12.2.
const (
	goldenC1 = "d9d9f7a4" + "676368616e6e656c" + "656c6f626279" + "63736571" + "00" + "6974696d657374616d70" + "01" + "676d657373616765" + "426869"
	goldenC2 = "d9d9f7a1" + "69737562736372696265" + "656c6f626279"
	goldenC3 = "d9d9f7a3" + "6a7375627363726962656" + "4" + "656c6f626279" + "6468656164" + "00" + "6568656164" + "73" + "a1" + "656c6f626279" + "00"
)

func TestChannelGolden(t *testing.T) {
	if got := ChannelKey("lobby", 0); got != "~lobby~00000000000000000000" {
		t.Fatalf("ChannelKey = %q", got)
	}
	m := ChannelMessage{Channel: "lobby", Seq: 0, Timestamp: 1, Message: []byte("hi")}
	c := ChannelControl{Subscribe: "lobby"}
	s := ChannelStatus{Subscribed: "lobby", Head: 0, Heads: []ChannelHead{{"lobby", 0}}}
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"C1", m.Marshal(), goldenC1},
		{"C2", c.Marshal(), goldenC2},
		{"C3", s.Marshal(), goldenC3},
	} {
		if h := hex.EncodeToString(tc.got); h != tc.want {
			t.Errorf("%s = %s, want %s", tc.name, h, tc.want)
		}
	}
	if got, err := DecodeChannelMessage(unhex(t, goldenC1)); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("DecodeChannelMessage = %+v, %v", got, err)
	}
	if got, err := DecodeChannelControl(unhex(t, goldenC2)); err != nil || got != c {
		t.Errorf("DecodeChannelControl = %+v, %v", got, err)
	}
	if got, err := DecodeChannelStatus(unhex(t, goldenC3)); err != nil || !reflect.DeepEqual(got, s) {
		t.Errorf("DecodeChannelStatus = %+v, %v", got, err)
	}
}

func TestChannelKeyOrder(t *testing.T) {
	// Channel keys sort after every gateway key and one channel's keys are contiguous.
	gw := "h5ag3-aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-bqe_00000000000000000016"
	keys := []string{gw, ChannelKey("a", 0), ChannelKey("a", 9), ChannelKey("a", 10), ChannelKey("ab", 0)}
	if !(keys[0] < keys[1]) || !(keys[0] < keys[4]) {
		t.Fatalf("a channel key sorts before a gateway key")
	}
	if !(keys[1] < keys[2] && keys[2] < keys[3]) {
		t.Fatalf("seq order is not key order: %q", keys[1:4])
	}
	if k := keys[4]; k > keys[1] && k < keys[3] {
		t.Fatalf("channel ab's key %q is inside channel a's range", k)
	}
}

func TestValidateChannel(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"lobby", true}, {"room:1/a_b-c.d", true}, {strings.Repeat("x", 64), true},
		{"", false}, {strings.Repeat("x", 65), false}, {"a~b", false}, {"a b", false}, {"é", false},
	} {
		err := ValidateChannel(tc.name)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrBadChannel) {
			t.Errorf("ValidateChannel(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestChannelFrameRoundTrip(t *testing.T) {
	f := ChannelFrame{Channel: "lobby", First: 7, Vals: [][]byte{[]byte("a"), {}, []byte("ccc")}, Cert: []byte{1, 2}, Tree: []byte{3}}
	b := f.Marshal()
	if len(b) != f.Size() {
		t.Fatalf("Size %d, encoding %d bytes", f.Size(), len(b))
	}
	if !IsChannelFrame(b) {
		t.Fatalf("IsChannelFrame(%x) is false", b)
	}
	s6 := (&CertMessage{Key: "k", Val: []byte{1}, Cert: []byte{2}, Tree: []byte{3}}).Marshal()
	if IsChannelFrame(s6) {
		t.Fatalf("IsChannelFrame(S6) is true")
	}
	got, err := DecodeChannelFrame(b)
	if err != nil || !reflect.DeepEqual(got, f) {
		t.Fatalf("DecodeChannelFrame = %+v, %v", got, err)
	}
}

func TestChannelDecodeErrors(t *testing.T) {
	empty := ChannelFrame{Channel: "x", Cert: []byte{1}, Tree: []byte{1}, Vals: [][]byte{}}
	bad := ChannelFrame{Channel: "a~", Vals: [][]byte{{1}}, Cert: []byte{1}, Tree: []byte{1}}
	for _, tc := range []struct {
		name   string
		decode func([]byte) error
		in     []byte
		want   error
	}{
		{"frame without vals", frameErr, empty.Marshal(), ErrMalformed},
		{"frame bad name", frameErr, bad.Marshal(), ErrBadChannel},
		{"control empty", controlErr, unhex(t, "d9d9f7a0"), ErrMissingField},
		{"control both", controlErr, unhex(t, "a2"+"69737562736372696265"+"6161"+"6b756e737562736372696265"+"6161"), ErrMalformed},
		{"control from alone", controlErr, unhex(t, "a1"+"6466726f6d"+"01"), ErrMalformed},
		{"status head alone", statusErr, unhex(t, "a1"+"6468656164"+"00"), ErrMalformed},
		{"status duplicate head", statusErr, unhex(t, "a1"+"6568656164"+"73"+"a2"+"6161"+"00"+"6161"+"01"), ErrMalformed},
		{"message missing", messageErr, unhex(t, "a1"+"63736571"+"00"), ErrMissingField},
	} {
		err := tc.decode(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func frameErr(b []byte) error   { _, err := DecodeChannelFrame(b); return err }
func controlErr(b []byte) error { _, err := DecodeChannelControl(b); return err }
func statusErr(b []byte) error  { _, err := DecodeChannelStatus(b); return err }
func messageErr(b []byte) error { _, err := DecodeChannelMessage(b); return err }

func FuzzDecodeChannelFrame(f *testing.F) {
	addSeeds(f, hex.EncodeToString((&ChannelFrame{Channel: "lobby", First: 3, Vals: [][]byte{unhex(f, goldenC1)}, Cert: []byte{1}, Tree: []byte{2}}).Marshal()))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeChannelFrame(b)
		if err != nil {
			return
		}
		got, err := DecodeChannelFrame(m.Marshal())
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("re-encoding of %+v gave %+v, %v", m, got, err)
		}
	})
}

func FuzzDecodeChannelMessage(f *testing.F) {
	addSeeds(f, goldenC1)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeChannelMessage(b)
		if err != nil {
			return
		}
		got, err := DecodeChannelMessage(m.Marshal())
		if err != nil || got.Channel != m.Channel || got.Seq != m.Seq || got.Timestamp != m.Timestamp || !bytes.Equal(got.Message, m.Message) {
			t.Fatalf("re-encoding of %+v gave %+v, %v", m, got, err)
		}
	})
}

func FuzzDecodeChannelControl(f *testing.F) {
	addSeeds(f, goldenC2, hex.EncodeToString((&ChannelControl{Subscribe: "a", From: 5, HasFrom: true}).Marshal()), hex.EncodeToString((&ChannelControl{Unsubscribe: "a"}).Marshal()))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChannelControl(b)
		if err != nil {
			return
		}
		if got, err := DecodeChannelControl(c.Marshal()); err != nil || got != c {
			t.Fatalf("re-encoding of %+v gave %+v, %v", c, got, err)
		}
	})
}

func FuzzDecodeChannelStatus(f *testing.F) {
	addSeeds(f, goldenC3, hex.EncodeToString((&ChannelStatus{Unsubscribed: "a", Reason: "no", Heads: []ChannelHead{}}).Marshal()))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeChannelStatus(b)
		if err != nil {
			return
		}
		if got, err := DecodeChannelStatus(s.Marshal()); err != nil || !reflect.DeepEqual(got, s) {
			t.Fatalf("re-encoding of %+v gave %+v, %v", s, got, err)
		}
	})
}
