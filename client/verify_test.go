package client

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/ic/bls"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// step is one frame fed to the verifier and what must come of it: the sequence number of a
// message that passes (kind 0), or the kind of the check that fails.
type step struct {
	frame []byte
	seq   uint64
	kind  Kind
}

func ok(frame []byte, seq uint64) step  { return step{frame: frame, seq: seq} }
func fail(frame []byte, kind Kind) step { return step{frame: frame, kind: kind} }
func runSteps(t *testing.T, v *verifier, steps []step) {
	t.Helper()
	for i, s := range steps {
		got, err := v.check(s.frame)
		switch {
		case s.kind == 0 && err != nil:
			t.Fatalf("step %d: want message %d, got %v", i, s.seq, err)
		case s.kind == 0 && got.msg.SequenceNum != s.seq:
			t.Fatalf("step %d: got message %d, want %d", i, got.msg.SequenceNum, s.seq)
		case s.kind != 0 && err == nil:
			t.Fatalf("step %d: want %v, got message %d (%q)", i, s.kind, got.msg.SequenceNum, got.msg.Message)
		case s.kind != 0 && err.Kind != s.kind:
			t.Fatalf("step %d: want %v, got %v", i, s.kind, err)
		case s.kind != 0 && (err.Detail == "" && err.Err == nil || !strings.Contains(err.Error(), s.kind.String())):
			t.Fatalf("step %d: error %q does not say what failed", i, err)
		}
	}
}

func TestVerifierChecks(t *testing.T) {
	const me, other = 16, 17
	tests := []struct {
		name  string
		steps func(t *testing.T, f *fixture) []step
	}{
		{"in order", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(me, 0, "a"), f.msg(me, 1, "b"), f.msg(me, 2, "c"))
			b2 := f.batch(t, f.now, f.msg(me, 3, "d"))
			return []step{ok(b[0], 0), ok(b[1], 1), ok(b[2], 2), ok(b2[0], 3)}
		}},
		{"val flipped", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(me, 0, "a"))
			return []step{fail(reframe(t, b[0], func(m *protocol.CertMessage) { flipLast(m.Val) }), Tampered)}
		}},
		{"cert flipped", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(me, 0, "a"))
			return []step{fail(reframe(t, b[0], func(m *protocol.CertMessage) { flipLast(m.Cert) }), BadCertificate)}
		}},
		{"tree flipped", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(me, 0, "a"))
			return []step{fail(reframe(t, b[0], func(m *protocol.CertMessage) { flipLast(m.Tree) }), Tampered)}
		}},
		{"key not in witness", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(me, 0, "a"))
			return []step{fail(reframe(t, b[0], func(m *protocol.CertMessage) { m.Key += "0" }), Tampered)}
		}},
		{"val of another key", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(me, 0, "a"), f.msg(me, 1, "b"))
			m1, _ := protocol.DecodeCertMessage(b[1])
			return []step{fail(reframe(t, b[0], func(m *protocol.CertMessage) { m.Val = m1.Val }), Tampered)}
		}},
		{"certificate and witness of different batches", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(me, 0, "a"))
			b2 := f.batch(t, f.now, f.msg(me, 1, "b"))
			m2, _ := protocol.DecodeCertMessage(b2[0])
			return []step{fail(reframe(t, b[0], func(m *protocol.CertMessage) { m.Cert = m2.Cert }), Tampered)}
		}},
		{"foreign, then ours", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(other, 0, "not yours"), f.msg(me, 0, "a"))
			return []step{fail(b[0], Foreign), ok(b[1], 0)}
		}},
		{"replay", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(me, 0, "a"), f.msg(me, 1, "b"))
			return []step{ok(b[0], 0), fail(b[0], Replay), ok(b[1], 1), fail(b[0], Replay)}
		}},
		{"drop", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(me, 0, "a"), f.msg(me, 1, "b"), f.msg(me, 2, "c"))
			return []step{ok(b[0], 0), fail(b[2], Gap)}
		}},
		{"reorder", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(me, 0, "a"), f.msg(me, 1, "b"))
			return []step{fail(b[1], Gap)}
		}},
		{"message too old", func(t *testing.T, f *fixture) []step {
			m := f.msg(me, 0, "a")
			m.Timestamp -= uint64(2 * time.Minute)
			return []step{fail(f.batch(t, f.now, m)[0], Stale)}
		}},
		{"message from the future", func(t *testing.T, f *fixture) []step {
			m := f.msg(me, 0, "a")
			m.Timestamp += uint64(time.Minute)
			return []step{fail(f.batch(t, f.now, m)[0], Future)}
		}},
		{"certificate too old", func(t *testing.T, f *fixture) []step {
			return []step{fail(f.batch(t, f.now.Add(-6*time.Minute), f.msg(me, 0, "a"))[0], Stale)}
		}},
		{"certificate from the future", func(t *testing.T, f *fixture) []step {
			return []step{fail(f.batch(t, f.now.Add(time.Minute), f.msg(me, 0, "a"))[0], Future)}
		}},
		{"another root key", func(t *testing.T, f *fixture) []step {
			b := f.batch(t, f.now, f.msg(me, 0, "a"))
			sk, err := bls.GenerateKey(make([]byte, 32))
			if err != nil {
				t.Fatal(err)
			}
			f.sk = sk
			forged := f.batch(t, f.now, f.msg(me, 0, "forged"))
			return []step{fail(forged[0], BadCertificate), ok(b[0], 0)}
		}},
		{"certificate of another canister", func(t *testing.T, f *fixture) []step {
			f.canister = principal.CanisterID(8)
			return []step{fail(f.batch(t, f.now, f.msg(me, 0, "a"))[0], BadCertificate)}
		}},
		{"not a frame", func(t *testing.T, f *fixture) []step {
			return []step{fail([]byte{0xa1, 0x61}, Malformed), fail(nil, Malformed)}
		}},
		{"certified val is not a message", func(t *testing.T, f *fixture) []step {
			return []step{fail(f.batchVals(t, f.now, []byte("hello"))[0], Malformed)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			v := f.verifier(t)
			runSteps(t, v, tt.steps(t, f))
		})
	}
}

// TestVerifierOneBLSPerBatch checks that a batch costs one certificate verification, and that a
// remembered certificate is still checked for freshness with every message.
func TestVerifierOneBLSPerBatch(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t)
	const n = 50
	msgs := make([]protocol.WebsocketMessage, n)
	for i := range msgs {
		msgs[i] = f.msg(16, uint64(i), "x")
	}
	frames := f.batch(t, f.now, msgs...)
	for i, fr := range frames[:n-1] {
		if _, err := v.check(fr); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if v.certVerifications != 1 {
		t.Fatalf("%d certificate verifications for one batch, want 1", v.certVerifications)
	}
	f.now = f.now.Add(DefaultMaxCertificateAge + time.Second)
	v.maxAge = time.Hour
	_, err := v.check(frames[n-1])
	if err == nil || err.Kind != Stale {
		t.Fatalf("a remembered certificate that went stale: got %v, want stale", err)
	}
}

// TestVerifierEveryByteFlip flips every bit of every byte of val, cert and tree in turn: each
// forgery must be refused, as tampered (val, tree) or as a bad certificate (cert).
func TestVerifierEveryByteFlip(t *testing.T) {
	f := newFixture(t)
	frame := f.batch(t, f.now, f.msg(16, 0, "hello"), f.msg(16, 1, "world"))[0]
	v := f.verifier(t)
	for _, part := range []struct {
		name string
		get  func(*protocol.CertMessage) []byte
		kind Kind
	}{
		{"val", func(m *protocol.CertMessage) []byte { return m.Val }, Tampered},
		{"cert", func(m *protocol.CertMessage) []byte { return m.Cert }, BadCertificate},
		{"tree", func(m *protocol.CertMessage) []byte { return m.Tree }, Tampered},
	} {
		cm, _ := protocol.DecodeCertMessage(frame)
		n := len(part.get(&cm))
		bits := []byte{0x01, 0x80}
		if testing.Short() {
			bits = bits[:1]
		}
		for i := 0; i < n; i++ {
			for _, bit := range bits {
				forged := reframe(t, frame, func(m *protocol.CertMessage) { part.get(m)[i] ^= bit })
				got, err := v.check(forged)
				if err == nil {
					t.Fatalf("%s byte %d ^ %#x: forged message %d accepted", part.name, i, bit, got.msg.SequenceNum)
				}
				if err.Kind != part.kind && !(part.name != "cert" && err.Kind == Malformed) {
					t.Errorf("%s byte %d ^ %#x: got %v, want %v", part.name, i, bit, err, part.kind)
				}
			}
		}
	}
	if _, err := v.check(frame); err != nil {
		t.Fatalf("the genuine frame after all forgeries: %v", err)
	}
}

// FuzzVerifierCheck feeds arbitrary frames to the verifier: it must never panic, and never accept
// anything but the genuine frames.
func FuzzVerifierCheck(f *testing.F) {
	fx := newFixture(f)
	genuine := fx.batch(f, fx.now, fx.msg(16, 0, "a"), fx.msg(16, 1, "b"))
	for _, g := range genuine {
		f.Add(g)
	}
	f.Add([]byte{})
	f.Add([]byte{0xa0})
	v := fx.verifier(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		v.next = 0
		got, err := v.check(frame)
		if err != nil {
			if err.Kind == 0 || err.Error() == "" {
				t.Fatalf("error without a kind or text: %#v", err)
			}
			return
		}
		cm, derr := protocol.DecodeCertMessage(frame)
		if derr != nil {
			t.Fatalf("accepted a frame that does not decode: %v", derr)
		}
		g, _ := protocol.DecodeCertMessage(genuine[got.msg.SequenceNum])
		if cm.Key != g.Key || string(cm.Val) != string(g.Val) {
			t.Fatalf("accepted a forged message %q under key %q", cm.Val, cm.Key)
		}
	})
}

func TestKindFatal(t *testing.T) {
	for k := Malformed; k <= Withheld; k++ {
		want := k != Foreign && k != Replay
		if k.Fatal() != want {
			t.Errorf("%v.Fatal() = %v, want %v", k, k.Fatal(), want)
		}
		if strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("kind %d has no name", int(k))
		}
		if IsFatal(&VerifyError{Kind: k}) != want {
			t.Errorf("IsFatal(%v) = %v, want %v", k, !want, want)
		}
	}
	if IsFatal(nil) {
		t.Error("IsFatal(nil) = true")
	}
	if !IsFatal(errors.New("x")) || !IsFatal(ErrClosed) {
		t.Error("IsFatal of a plain error = false")
	}
}
