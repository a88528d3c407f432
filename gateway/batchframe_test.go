package gateway

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/icws/icws/cdk/certmap"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

const testGatewayText = "h5ag3-gxvkr-a3wjw-wfhg4-ysa3d-z56v7-i26nf-2qscz-k2vmc-6yvhj-bqe"

// fanoutBatch is a poll batch as the canister answers it: n messages, round-robin over clients
// (message i for client i % clients), under a real certified map with other keys around, with the
// canister's range witness. It returns the batch and the certified data.
func fanoutBatch(tb testing.TB, n, clients int) (*batch, [32]byte) {
	tb.Helper()
	var m certmap.Map
	m.Insert("a-before", []byte("x"))
	m.Insert("~channel~00000000000000000000", []byte("y"))
	res := &protocol.CertMessages{Cert: []byte("cert")}
	for i := range n {
		key := protocol.KeyFor(mustPrincipal(tb, testGatewayText), uint64(16+i))
		val := (&protocol.WebsocketMessage{ClientID: uint64(i % clients), SequenceNum: uint64(i / clients), Timestamp: 1, Message: bytes.Repeat([]byte{'p'}, 64)}).MarshalCanister()
		sum := sha256.Sum256(val)
		m.Insert(key, sum[:])
		res.Messages = append(res.Messages, protocol.Message{ClientID: uint64(i % clients), Key: key, Val: val})
	}
	w := hashtree.Labeled{Label: []byte("websocket"), Tree: m.WitnessRange(res.Messages[0].Key, res.Messages[n-1].Key)}
	res.Tree = hashtree.AppendCBOR([]byte("\xd9\xd9\xf7"), w)
	root := m.RootHash()
	return newBatch(res), hashtree.LabeledHash([]byte("websocket"), root)
}

// TestBatchFramePruned: the S9 frame of each client of a batch decodes, its witness has the
// certified data as digest, holds exactly the client's keys with SHA-256 of their values, and is
// smaller than the batch's whole witness.
func TestBatchFramePruned(t *testing.T) {
	for _, tc := range []struct{ n, clients int }{{1, 1}, {2, 1}, {7, 3}, {50, 50}, {2000, 1000}, {999, 1}} {
		t.Run(fmt.Sprintf("%d messages for %d clients", tc.n, tc.clients), func(t *testing.T) {
			b, certified := fanoutBatch(t, tc.n, tc.clients)
			for c := range tc.clients {
				var idx []int32
				for i := c; i < tc.n; i += tc.clients {
					idx = append(idx, int32(i))
				}
				raw, err := b.appendBatchFrame(nil, testGatewayText, idx)
				if err != nil {
					t.Fatal(err)
				}
				f, err := protocol.DecodeBatchFrame(raw)
				if err != nil {
					t.Fatal(err)
				}
				node, err := hashtree.Unmarshal(f.Tree)
				if err != nil {
					t.Fatal(err)
				}
				if d := hashtree.Digest(node); d != certified {
					t.Fatalf("client %d: witness digest %x, certified data %x", c, d, certified)
				}
				if len(f.Vals) != len(idx) {
					t.Fatalf("client %d: %d values, want %d", c, len(f.Vals), len(idx))
				}
				for j, i := range idx {
					if f.Key(j) != b.msgs[i].Key || !bytes.Equal(f.Vals[j], b.msgs[i].Val) {
						t.Fatalf("client %d: message %d is %s, want %s", c, j, f.Key(j), b.msgs[i].Key)
					}
					r := hashtree.Lookup(node, []byte("websocket"), []byte(f.Key(j)))
					sum := sha256.Sum256(f.Vals[j])
					if r.Status != hashtree.Found || !bytes.Equal(r.Value, sum[:]) {
						t.Fatalf("client %d: lookup of %s: %v", c, f.Key(j), r.Status)
					}
				}
				// Another client's key is not revealed.
				if tc.clients > 1 {
					other := b.msgs[(c+1)%tc.clients].Key
					if r := hashtree.Lookup(node, []byte("websocket"), []byte(other)); r.Status == hashtree.Found {
						t.Fatalf("client %d's witness reveals %s", c, other)
					}
				}
				if tc.n > 2 && len(idx) < tc.n && len(f.Tree) >= len(b.certTree) {
					t.Fatalf("client %d: pruned witness %d bytes, the whole one %d", c, len(f.Tree), len(b.certTree))
				}
			}
		})
	}
}

// BenchmarkFanoutFrames compares, for one poll batch of 2 messages for each of 1000 clients, the
// S6 frames with the whole witness (one per message) and the S9 frames with witnesses pruned per
// client (one per client): bytes per delivered message and CPU per delivered message.
func BenchmarkFanoutFrames(b *testing.B) {
	const n, clients = 2000, 1000
	bt, _ := fanoutBatch(b, n, clients)
	b.Run("S6-seed-poll-50", func(b *testing.B) { // before sized polls: batches of 50, one per client
		small, _ := fanoutBatch(b, 50, 50)
		var buf bytes.Buffer
		var scratch []byte
		for b.Loop() {
			buf.Reset()
			for i := range 50 {
				scratch, _ = small.writeFrame(&buf, scratch, i)
			}
		}
		b.ReportMetric(float64(buf.Len())/50, "bytes/msg")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50, "ns/msg")
	})
	b.Run("S6-pruned", func(b *testing.B) { // a seed client's frames from a sized poll
		var buf bytes.Buffer
		var scratch []byte
		for b.Loop() {
			bt.bidx = new(batchIndex)
			buf.Reset()
			for i := range n {
				scratch, _ = bt.writePrunedS6(&buf, scratch, i)
			}
		}
		b.ReportMetric(float64(buf.Len())/n, "bytes/msg")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/msg")
	})
	b.Run("S6-whole-witness", func(b *testing.B) {
		bt := *bt
		bt.tail = protocol.AppendCertTail(nil, bt.cert, bt.certTree) // newBatch makes none for a batch this size
		var buf bytes.Buffer
		var scratch []byte
		for b.Loop() {
			buf.Reset()
			for i := range n {
				scratch, _ = bt.writeFrame(&buf, scratch, i)
			}
		}
		b.ReportMetric(float64(buf.Len())/n, "bytes/msg")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/msg")
	})
	b.Run("S9-pruned", func(b *testing.B) {
		var out []byte
		total := 0
		for b.Loop() {
			bt.bidx = new(batchIndex) // as a fresh batch: the index is built once per batch, counted
			total = 0
			for c := range clients {
				idx := []int32{int32(c), int32(c + clients)}
				out, _ = bt.appendBatchFrame(out[:0], testGatewayText, idx)
				total += len(out)
			}
		}
		b.ReportMetric(float64(total)/n, "bytes/msg")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/msg")
	})
}

func mustPrincipal(tb testing.TB, s string) principal.Principal {
	tb.Helper()
	p, err := principal.Decode(s)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
