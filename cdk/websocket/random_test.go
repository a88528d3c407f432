package websocket

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// TestRandomOperations runs random sequences of every operation, some of them trapping, and
// checks after each one that a trap left the state exactly as it was and that every gateway's
// batches verify against the certified data.
func TestRandomOperations(t *testing.T) {
	for seed := uint64(0); seed < 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			f := newFixture(t, Config{MaxQueuePerGateway: 40})
			f.gwKey = ed25519.NewKeyFromSeed(make([]byte, 32))
			gws := []principal.Principal{f.gwA, f.gwB, gatewayPrincipal(t, 11)}
			var clients []*testClient
			bound := map[uint64]principal.Principal{}
			traps := 0
			for op := 0; op < 300; op++ {
				before := dumpState(f.s)
				var err error
				pick := func() *testClient {
					if len(clients) == 0 {
						return &testClient{id: 1, key: f.gwKey}
					}
					return clients[rng.IntN(len(clients))]
				}
				gw := gws[rng.IntN(len(gws))]
				switch k := rng.IntN(10); k {
				case 0:
					if len(clients) < 12 {
						clients = append(clients, f.register(byte(len(clients)+1)))
					}
				case 1:
					c := pick()
					// The seed form, a fresh open_nonce, or a replayed one.
					nonce := uint64(0)
					switch rng.IntN(3) {
					case 1:
						c.nonce++
						nonce = c.nonce
					case 2:
						nonce = uint64(rng.IntN(int(c.nonce) + 1))
					}
					var ok bool
					if ok, err = f.openNonce(gw, c, nonce); ok {
						bound[c.id] = gw
					}
				case 2, 3, 4:
					c := pick()
					f.trapNext = rng.IntN(4) == 0
					if rng.IntN(5) == 0 {
						seq := c.seq + uint64(rng.IntN(3))
						var ok bool
						if ok, err = f.message(gw, c, seq, &protocol.WebsocketMessage{Message: []byte("r")}); ok {
							c.seq++
						}
					} else if g, ok := bound[c.id]; ok {
						var ok bool
						if ok, err = f.send(g, c, fmt.Sprint(op)); !ok && err == nil {
							t.Fatalf("op %d: in-order message refused", op)
						}
					}
					f.trapNext = false
				case 5:
					err = f.h.call(f.user, "test_send", nil, pick().id, []byte{byte(op)})
				case 6:
					c := pick()
					if rng.IntN(2) == 0 {
						err = f.h.call(gw, "ws_close", nil, c.id)
					} else {
						err = f.h.call(f.user, "test_close", nil, c.id)
					}
					if err == nil {
						delete(bound, c.id)
					}
				case 7:
					err = f.h.advance(uint64(rng.IntN(120)) * 1e9)
				case 8:
					f.h.now += uint64(rng.IntN(10)) * 1e9
				case 9:
					c := pick()
					var ok bool
					if ok, err = f.message(gw, c, c.seq, &protocol.WebsocketMessage{Service: true, Ack: uint64(rng.IntN(5))}); ok {
						c.seq++
					}
				}
				if err != nil {
					traps++
					if after := dumpState(f.s); after != before {
						t.Fatalf("op %d trapped (%v) and changed the state:\nbefore %s\nafter  %s", op, err, before, after)
					}
				}
				f.poll(gws[rng.IntN(len(gws))], uint64(rng.IntN(30)))
				if st := f.s.Stats(); st.Queued != uint64(f.s.tree.Len()) {
					t.Fatalf("op %d: %d queued, %d keys in the certified map", op, st.Queued, f.s.tree.Len())
				}
			}
			if traps == 0 {
				t.Error("no operation trapped")
			}
		})
	}
}
