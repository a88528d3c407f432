package omnia

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Every decoder of outside bytes gets a fuzz target. Each checks that the decoder does not
// panic, that errors wrap ErrMalformed, and that what decodes re-encodes to bytes that decode to
// the same value.

func addGoldens(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(unhex(f, goldenCandid[n]))
	}
	f.Add([]byte("DIDL\x00\x00"))
	f.Add([]byte{})
}

func checkMalformed(t *testing.T, err error) {
	t.Helper()
	var ce *CanisterError
	if err != nil && !errors.Is(err, ErrMalformed) && !errors.As(err, &ce) {
		t.Fatalf("error does not wrap ErrMalformed: %v", err)
	}
}

func roundTrip[T any](t *testing.T, b []byte, decode func([]byte) (T, error), encode func(T) ([]byte, error)) {
	v, err := decode(b)
	checkMalformed(t, err)
	if err != nil {
		return
	}
	e, err := encode(v)
	if err != nil {
		t.Fatalf("decoded %x to %+v, which does not encode: %v", b, v, err)
	}
	w, err := decode(e)
	if err != nil || !reflect.DeepEqual(v, w) {
		t.Fatalf("%x: decoded %+v, re-encoded %x, decoded %+v, %v", b, v, e, w, err)
	}
}

func infallible[T any](enc func(T) []byte) func(T) ([]byte, error) {
	return func(v T) ([]byte, error) { return enc(v), nil }
}

func FuzzDecodeOpenArgs(f *testing.F) {
	addGoldens(f, "open", "close")
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeOpenArgs, infallible(EncodeOpenArgs)) })
}

func FuzzDecodeCloseArgs(f *testing.F) {
	addGoldens(f, "close", "open")
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeCloseArgs, infallible(EncodeCloseArgs)) })
}

func FuzzDecodeMessageArgs(f *testing.F) {
	addGoldens(f, "message", "close")
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeMessageArgs, infallible(EncodeMessageArgs)) })
}

func FuzzDecodeGetMessagesArgs(f *testing.F) {
	addGoldens(f, "getMessages")
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, DecodeGetMessagesArgs, infallible(EncodeGetMessagesArgs))
	})
}

func FuzzDecodeServiceMessage(f *testing.F) {
	addGoldens(f, "svcOpen", "svcAck", "svcKeepAlive", "svcCloseWrongSequenceNumber", "svcCloseClosedByApplication")
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeServiceMessage, EncodeServiceMessage) })
}

func FuzzDecodeResult(f *testing.F) {
	addGoldens(f, "resultOk", "resultErr", "messagesErr")
	f.Fuzz(func(t *testing.T, b []byte) {
		err := DecodeResult(b)
		checkMalformed(t, err)
		var ce *CanisterError
		if err == nil || errors.As(err, &ce) {
			if again := DecodeResult(EncodeResult(err)); !reflect.DeepEqual(again, err) {
				t.Fatalf("%x: decoded %v, re-encoded and decoded %v", b, err, again)
			}
		}
	})
}

func FuzzDecodeGetMessagesResult(f *testing.F) {
	addGoldens(f, "messagesOk", "messagesEmpty", "messagesErr")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeGetMessagesResult(b)
		checkMalformed(t, err)
		if err != nil {
			return
		}
		e, err := EncodeGetMessagesResult(m)
		if err != nil {
			t.Fatalf("decoded %x, which does not encode: %v", b, err)
		}
		w, err := DecodeGetMessagesResult(e)
		if err != nil || len(w.Messages) != len(m.Messages) || !bytes.Equal(w.Cert, m.Cert) || !bytes.Equal(w.Tree, m.Tree) || w.IsEndOfQueue != m.IsEndOfQueue {
			t.Fatalf("%x: round trip %+v → %+v, %v", b, m, w, err)
		}
	})
}

func FuzzUnmarshalWebsocketMessage(f *testing.F) {
	f.Add(unhex(f, goldenCBORHex))
	f.Add(unhex(f, goldenAgentCBORHex))
	f.Add([]byte{0xd9, 0xd9, 0xf7, 0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalWebsocketMessage(b)
		checkMalformed(t, err)
		if err != nil {
			return
		}
		w, err := UnmarshalWebsocketMessage(m.MarshalCBOR())
		if err != nil || !reflect.DeepEqual(normalize(m), normalize(w)) {
			t.Fatalf("%x: decoded %+v, re-encoded and decoded %+v, %v", b, m, w, err)
		}
	})
}

// normalize makes an empty Content nil, which CBOR cannot tell apart.
func normalize(m WebsocketMessage) WebsocketMessage {
	if len(m.Content) == 0 {
		m.Content = nil
	}
	return m
}
