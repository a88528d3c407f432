package client_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/icws/icws/client"
	"github.com/icws/icws/protocol"
)

// TestBatchFramesForged: a client with the default Config, which opts in to S9 frames
// (docs/PROTOCOL.md §13), behind a gateway that drops, reorders or replays one message inside an
// S9 frame — a proxy in front of a real gateway and replica on loopback — catches it as it would
// in S6 frames: a dropped message is a gap, swapped values are tampered, a replayed message is
// dropped as a duplicate and every message is delivered once, in order.
func TestBatchFramesForged(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		edit func(f protocol.BatchFrame, raw []byte) [][]byte
		want client.Kind // 0: every message arrives once, in order
	}{
		{"untouched", func(f protocol.BatchFrame, raw []byte) [][]byte { return [][]byte{raw} }, 0},
		{"dropped", func(f protocol.BatchFrame, raw []byte) [][]byte {
			// b, the message after a (a heartbeat may come first in the same batch).
			i := slices.IndexFunc(f.Vals, func(v []byte) bool {
				m, err := protocol.DecodeWebsocketMessage(v)
				if err != nil || m.Service {
					return false
				}
				am, err := protocol.DecodeAppMessage(m.Message)
				return err == nil && am.Text == "b"
			})
			if i < 0 {
				return [][]byte{raw}
			}
			f.Nonces = append(f.Nonces[:i:i], f.Nonces[i+1:]...)
			f.Vals = append(f.Vals[:i:i], f.Vals[i+1:]...)
			return [][]byte{f.Marshal()}
		}, client.Gap},
		{"reordered", func(f protocol.BatchFrame, raw []byte) [][]byte {
			f.Vals[0], f.Vals[1] = f.Vals[1], f.Vals[0]
			return [][]byte{f.Marshal()}
		}, client.Tampered},
		{"renumbered", func(f protocol.BatchFrame, raw []byte) [][]byte {
			for i := range f.Nonces {
				f.Nonces[i]++
			}
			return [][]byte{f.Marshal()}
		}, client.Tampered},
		{"replayed", func(f protocol.BatchFrame, raw []byte) [][]byte {
			// The frame, then its second message alone, then the whole frame again.
			one := f
			one.Nonces, one.Vals = f.Nonces[1:2], f.Vals[1:2]
			return [][]byte{raw, one.Marshal(), raw}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			var batched atomic.Int64 // S9 frames of 3 or more messages seen
			var mu sync.Mutex
			p := newProxy(t, e.gateway(t), func(pf *proxyFrame) [][]byte {
				if !protocol.IsBatchFrame(pf.data) {
					return [][]byte{pf.data}
				}
				f, err := protocol.DecodeBatchFrame(pf.data)
				if err != nil || len(f.Vals) < 3 {
					return [][]byte{pf.data}
				}
				batched.Add(1)
				mu.Lock()
				defer mu.Unlock()
				return tc.edit(f, pf.data)
			})
			p.whole.Store(true)
			cfg := e.config(e.chanEcho, p.url) // S9 frames are the default
			c := dial(t, ctx, cfg)
			if err := c.Send(ctx, text("many a,b,c")); err != nil {
				t.Fatal(err)
			}
			var got []string
			for len(got) < 3 {
				m, err := c.Recv(ctx)
				var ve *client.VerifyError
				switch {
				case err == nil:
					got = append(got, textOf(t, m.Payload))
					continue
				case tc.want == 0 && errors.As(err, &ve) && ve.Kind == client.Replay:
					continue // the duplicates, reported and dropped
				case tc.want != 0:
					if !errors.As(err, &ve) || ve.Kind != tc.want || !client.IsFatal(err) {
						t.Fatalf("want a fatal %v, got %v (delivered %q)", tc.want, err, got)
					}
					if tc.want == client.Gap && !slices.Equal(got, []string{"a"}) {
						t.Fatalf("before the gap: %q, want [a]", got)
					}
				default:
					t.Fatalf("after %q: %v", got, err)
				}
				break
			}
			if batched.Load() == 0 {
				t.Fatal("no S9 frame of 3 messages went through the proxy")
			}
			if tc.want != 0 {
				return
			}
			if !slices.Equal(got, []string{"a", "b", "c"}) {
				t.Fatalf("delivered %q, want [a b c]", got)
			}
			first := p.firstFrames()[0]
			if s2, err := protocol.DecodeSignedFirstMessage(first); err != nil || s2.Batch != protocol.BatchFrames {
				t.Fatalf("the client's S2 has batch %d, %v", s2.Batch, err)
			}
			// The connection goes on.
			if err := c.Send(ctx, text("many d,e,f")); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"d", "e", "f"} {
				m, err := c.Recv(ctx)
				for err != nil && errors.As(err, new(*client.VerifyError)) && !client.IsFatal(err) {
					m, err = c.Recv(ctx)
				}
				if err != nil || !bytes.Equal(m.Payload, text(want)) {
					t.Fatalf("want %q, got %x, %v", want, m.Payload, err)
				}
			}
		})
	}
}
