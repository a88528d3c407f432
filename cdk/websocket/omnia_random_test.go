package websocket

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol/omnia"
)

// TestOmniaRandomOperations runs random sequences of every ProtocolOmnia operation, some of them
// trapping, and checks after each one that a trap left the state exactly as it was, that every
// gateway's batches verify against the certified data, and that the principal index agrees with
// the clients.
func TestOmniaRandomOperations(t *testing.T) {
	for seed := uint64(0); seed < 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			f := newOmniaFixture(t, Config{MaxQueuePerGateway: 40, MaxClients: 5})
			gws := []principal.Principal{f.gwA, f.gwB, gatewayPrincipal(t, 11)}
			var people []principal.Principal
			for i := range 7 {
				people = append(people, clientPrincipal(t, byte(i)))
			}
			traps, refusals := 0, 0
			for op := 0; op < 400; op++ {
				before := dumpOmnia(f.s)
				p := people[rng.IntN(len(people))]
				gw := gws[rng.IntN(len(gws))]
				c := f.s.byPrincipal[p]
				key := omnia.ClientKey{Principal: p, Nonce: uint64(rng.IntN(3))}
				seq := uint64(1)
				if c != nil {
					key.Nonce, seq = c.nonce, c.inSeq
				}
				if rng.IntN(6) == 0 { // a wrong key or sequence number
					if rng.IntN(2) == 0 {
						key.Nonce++
					} else {
						seq += uint64(1 + rng.IntN(2))
					}
				}
				var err error
				switch k := rng.IntN(10); k {
				case 0, 1:
					f.trapOpen = rng.IntN(4) == 0
					err = f.open(p, uint64(rng.IntN(3)), gw)
					f.trapOpen = false
				case 2, 3, 4:
					f.trapNext = rng.IntN(4) == 0
					err = f.message(p, key, seq, false, []byte(fmt.Sprint(op)))
					f.trapNext = false
				case 5:
					last := uint64(0)
					if c != nil {
						last = c.outSeq - uint64(rng.IntN(int(c.outSeq)))
					}
					if rng.IntN(5) == 0 {
						b, _ := omnia.EncodeServiceMessage(omnia.ServiceMessage{Ack: &omnia.AckMessage{}})
						err = f.message(p, key, seq, true, b)
					} else {
						err = f.keepAlive(key, seq, last)
					}
				case 6:
					err = f.close(gw, key)
				case 7:
					if c != nil {
						err = f.h.call(p, "test_close", nil, c.id)
					}
				case 8:
					err = f.h.advance(uint64(rng.IntN(120)) * 1e9)
				case 9:
					f.h.now += uint64(rng.IntN(10)) * 1e9
				}
				switch {
				case err == nil:
				case strings.HasPrefix(err.Error(), "trap: "):
					traps++
					if after := dumpOmnia(f.s); after != before {
						t.Fatalf("op %d trapped (%v) and changed the state:\nbefore %s\nafter  %s", op, err, before, after)
					}
				default:
					refusals++ // an Err result: ic-websocket-cdk's refusals change nothing but counters
				}
				f.poll(gws[rng.IntN(len(gws))], uint64(rng.IntN(30)))
				if st := f.s.Stats(); st.Queued != uint64(f.s.tree.Len()) {
					t.Fatalf("op %d: %d queued, %d keys in the certified map", op, st.Queued, f.s.tree.Len())
				}
				if len(f.s.byPrincipal) != len(f.s.clients) {
					t.Fatalf("op %d: %d principals for %d clients", op, len(f.s.byPrincipal), len(f.s.clients))
				}
				for p, c := range f.s.byPrincipal {
					if f.s.clients[c.id] != c || !c.owner.Equal(p) || c.gw == nil {
						t.Fatalf("op %d: principal %s maps to client %d, which is not its open connection", op, p, c.id)
					}
				}
			}
			if traps == 0 || refusals == 0 {
				t.Errorf("%d traps, %d refusals: the run did not exercise both", traps, refusals)
			}
		})
	}
}

// dumpOmnia is dumpState with ProtocolOmnia's own fields.
func dumpOmnia(s *Server) string {
	var b strings.Builder
	b.WriteString(dumpState(s))
	var ps []string
	for p, c := range s.byPrincipal {
		ps = append(ps, fmt.Sprintf("\nprincipal %s -> %d nonce=%d waitSince=%d", p, c.id, c.nonce, c.waitSince))
	}
	slices.Sort(ps)
	b.WriteString(strings.Join(ps, ""))
	var es []string
	for k, e := range s.entries {
		es = append(es, fmt.Sprintf("\nentry %s ckey=%s seq=%d", k, e.ckey, e.seq))
	}
	slices.Sort(es)
	b.WriteString(strings.Join(es, ""))
	return b.String()
}
