package websocket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

var update = flag.Bool("update", false, "rewrite testdata/stable_v3.golden and the seed corpus of FuzzUnmarshalStable")

// stableScenario builds a state through the canister's methods and returns the clients it made.
type stableScenario struct {
	name  string
	cfg   Config
	build func(f *fixture) []*testClient
}

// tinyState is one client open through the seed gateway, with the seed's "ping" queued: the
// state of testdata/stable_v2.golden (and of stable_v1.golden, its version-1 encoding).
func tinyState(f *fixture) []*testClient {
	c := f.register(1)
	f.mustOpen(f.gwA, c)
	return []*testClient{c}
}

var stableScenarios = []stableScenario{
	{"channels", Config{Channels: ChannelConfig{Retention: 3}}, func(f *fixture) []*testClient {
		a, b, c := f.register(1), f.register(2), f.register(3)
		f.mustOpen(f.gwA, a)
		f.mustOpen(f.gwB, b)
		f.mustOpen(f.gwB, c)
		f.control(f.gwA, a, protocol.ChannelControl{Subscribe: "lobby"})
		f.control(f.gwA, a, protocol.ChannelControl{Subscribe: "news"})
		f.control(f.gwB, b, protocol.ChannelControl{Subscribe: "lobby"})
		f.h.code.Updates["test_publish2"] = f.s.Batch(func(ic cdk.System) {
			for i := range 5 {
				if err := f.s.Publish(ic, "lobby", []byte(fmt.Sprint("m", i))); err != nil {
					ic.Trap(err.Error())
				}
			}
			if err := f.s.Publish(ic, "quiet", nil); err != nil {
				ic.Trap(err.Error())
			}
			ic.Reply([]byte(replyUnit))
		})
		if err := f.h.call(f.user, "test_publish2", nil); err != nil {
			f.t.Fatal(err)
		}
		return []*testClient{a, b, c}
	}},
	{"empty", Config{}, func(*fixture) []*testClient { return nil }},
	{"registered", Config{}, func(f *fixture) []*testClient { return []*testClient{f.register(1), f.register(2)} }},
	{"tiny", Config{}, tinyState},
	{"rich", Config{}, func(f *fixture) []*testClient {
		a, b, c, d, e, g := f.register(1), f.register(2), f.register(3), f.register(4), f.register(5), f.register(6)
		if ok, err := f.openNonce(f.gwA, a, 5); !ok || err != nil {
			f.t.Fatal(ok, err)
		}
		f.mustOpen(f.gwA, b)
		f.mustOpen(f.gwB, c)
		f.mustOpen(f.gwB, d)
		f.mustOpen(f.gwB, g)
		for i := 0; i < 3; i++ {
			f.send(f.gwA, a, fmt.Sprint("a", i))
		}
		f.keepAlive(f.gwA, a, 2) // acknowledges ping and the first echo
		f.send(f.gwA, b, "b0")
		f.send(f.gwA, b, "b1")
		if err := f.h.call(f.user, "test_close", nil, b.id); err != nil { // its messages stay
			f.t.Fatal(err)
		}
		f.send(f.gwB, c, "c0")
		f.mustOpen(f.gwA, c) // moves its queue
		if ok, _ := f.message(f.gwB, d, 7, &protocol.WebsocketMessage{Message: []byte("x")}); ok {
			f.t.Fatal("out-of-order message accepted")
		}
		if err := f.h.call(f.gwB, "ws_close", nil, g.id); err != nil {
			f.t.Fatal(err)
		}
		if err := f.h.advance(11e9); err != nil { // a tick: a's heartbeat
			f.t.Fatal(err)
		}
		f.h.now += 3e9
		return []*testClient{a, c, d, e}
	}},
	{"overflow and expiry", Config{MaxQueuePerGateway: 5, MessageTTL: 20e9, AckInterval: 2}, func(f *fixture) []*testClient {
		var cs []*testClient
		for i := 0; i < 4; i++ {
			c := f.register(byte(10 + i))
			f.mustOpen([]principal.Principal{f.gwA, f.gwB}[i%2], c)
			cs = append(cs, c)
		}
		f.keepAlive(f.gwA, cs[0], 0)
		for i := 0; i < 6; i++ {
			f.send(f.gwA, cs[0], fmt.Sprint(i))
			f.send(f.gwB, cs[1], fmt.Sprint(i))
			if err := f.h.advance(7e9); err != nil {
				f.t.Fatal(err)
			}
		}
		return cs
	}},
}

// restored returns a fresh fixture with the same Config whose server was restored from data,
// and runs Resume as post_upgrade would; the host keeps the old one's clock.
func restored(t *testing.T, cfg Config, old *fixture, data []byte) *fixture {
	t.Helper()
	g := newFixture(t, cfg)
	g.h.now = old.h.now
	if err := g.s.UnmarshalStable(data); err != nil {
		t.Fatalf("UnmarshalStable: %v", err)
	}
	ic := &sys{h: g.h}
	g.s.Resume(ic)
	g.h.certified, g.h.timer = ic.cert, ic.timer
	return g
}

// gatewaysOf returns the gateways the fixtures use.
func gatewaysOf(f *fixture) []principal.Principal { return []principal.Principal{f.gwA, f.gwB} }

// sameAnswers checks that f and g are in the same state and answer every query the same.
func sameAnswers(t *testing.T, step string, f, g *fixture) {
	t.Helper()
	if a, b := dumpState(f.s), dumpState(g.s); a != b {
		t.Fatalf("%s: states differ:\nbefore %s\nafter  %s", step, a, b)
	}
	want := f.h.certified
	if len(want) == 0 { // never certified; Resume certifies the empty map
		h := hashtree.LabeledHash([]byte(Label), hashtree.EmptyHash())
		want = h[:]
	}
	if !bytes.Equal(want, g.h.certified) {
		t.Fatalf("%s: certified data %x, restored %x", step, f.h.certified, g.h.certified)
	}
	if f.stats() != g.stats() {
		t.Fatalf("%s: stats %+v, restored %+v", step, f.stats(), g.stats())
	}
	for _, gw := range gatewaysOf(f) {
		for _, nonce := range []uint64{0, FirstNonce + 3} {
			a, b := f.poll(gw, nonce), g.poll(gw, nonce)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("%s: ws_get_messages(%d) from %s:\n%+v\nrestored:\n%+v", step, nonce, gw, a, b)
			}
		}
	}
	for id := uint64(FirstClientID); id < f.s.st.nextClientID+1; id++ {
		var ka, kb []byte
		ea, eb := f.h.query(f.gwA, "ws_get_client_key", &ka, id), g.h.query(g.gwA, "ws_get_client_key", &kb, id)
		if fmt.Sprint(ea) != fmt.Sprint(eb) || !bytes.Equal(ka, kb) {
			t.Fatalf("%s: ws_get_client_key(%d) = %x, %v; restored %x, %v", step, id, ka, ea, kb, eb)
		}
	}
}

// TestStableRoundTrip saves servers in many states and restores each into a fresh server with
// the same Config: the state, the certified data and every query answer the same, the encoding
// of the restored server is the same bytes, and both servers then answer the same updates, timer
// ticks and queries the same way, sequence numbers continuing with no gap.
func TestStableRoundTrip(t *testing.T) {
	for _, sc := range stableScenarios {
		t.Run(sc.name, func(t *testing.T) {
			f := newFixture(t, sc.cfg)
			clients := sc.build(f)
			data, err := f.s.MarshalStable()
			if err != nil {
				t.Fatal(err)
			}
			g := restored(t, sc.cfg, f, data)
			sameAnswers(t, "restored", f, g)
			if again, err := g.s.MarshalStable(); err != nil || !bytes.Equal(again, data) {
				t.Fatalf("the restored server encodes to other bytes (%v)", err)
			}
			if f.h.timer > f.h.now && g.h.timer != f.h.timer {
				t.Errorf("timer %d after Resume, want the saved due time %d", g.h.timer, f.h.timer)
			}
			if *update {
				writeSeed(t, sc.name, data)
			}

			twins := make([]*testClient, len(clients))
			for i, c := range clients {
				twins[i] = new(testClient)
				*twins[i] = *c
			}
			for i, c := range clients {
				if !f.s.IsOpen(c.id) {
					continue
				}
				gw := f.s.clients[c.id].gw.id
				next := f.s.clients[c.id].outSeq
				okF, errF := f.send(gw, c, "after")
				okG, errG := g.send(gw, twins[i], "after")
				if okF != okG || fmt.Sprint(errF) != fmt.Sprint(errG) {
					t.Fatalf("client %d message: %v %v, restored %v %v", c.id, okF, errF, okG, errG)
				}
				_, seqs := g.serviceAcks(gw, c.id)
				if len(seqs) == 0 || !slices.Contains(seqs, next) {
					t.Fatalf("client %d: sequence numbers %v after restore, want %d among them", c.id, seqs, next)
				}
				errF = f.h.call(f.user, "test_send", nil, c.id, []byte("push"))
				errG = g.h.call(g.user, "test_send", nil, c.id, []byte("push"))
				if fmt.Sprint(errF) != fmt.Sprint(errG) {
					t.Fatalf("test_send(%d): %v, restored %v", c.id, errF, errG)
				}
			}
			sameAnswers(t, "after messages", f, g)
			nf, ng := f.register(40), g.register(40)
			if nf.id != ng.id {
				t.Fatalf("new client id %d, restored %d", nf.id, ng.id)
			}
			f.mustOpen(f.gwB, nf)
			g.mustOpen(g.gwB, ng)
			sameAnswers(t, "after a new client", f, g)
			for i := 0; i < 8; i++ {
				ef, eg := f.h.advance(40e9), g.h.advance(40e9)
				if fmt.Sprint(ef) != fmt.Sprint(eg) || f.h.timer != g.h.timer {
					t.Fatalf("tick %d: %v timer %d, restored %v timer %d", i, ef, f.h.timer, eg, g.h.timer)
				}
				sameAnswers(t, fmt.Sprint("tick ", i), f, g)
			}
		})
	}
}

const (
	goldenPath   = "testdata/stable_v3.golden"
	goldenV1Path = "testdata/stable_v1.golden" // written by the library before StableVersion 2
	goldenV2Path = "testdata/stable_v2.golden" // written by the library before StableVersion 3 (channels)
)

// TestStableGolden pins the encoding of the tiny state byte for byte (go test -update rewrites it).
func TestStableGolden(t *testing.T) {
	f := newFixture(t, Config{})
	tinyState(f)
	data, err := f.s.MarshalStable()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(goldenPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (go test -run TestStableGolden -update writes it)", err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("encoding changed:\n got %x\nwant %x\n(a change of the format needs a new StableVersion)", data, want)
	}
	// Spot checks of the layout the refusal table below relies on.
	le := binary.LittleEndian
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"version", uint64(le.Uint16(data[4:])), StableVersion},
		{"next client id", le.Uint64(data[6:]), 17},
		{"gateways", uint64(le.Uint32(data[94:])), 1},
		{"gateway next nonce", le.Uint64(data[131:]), 17},
		{"clients", uint64(le.Uint32(data[139:])), 1},
		{"client id", le.Uint64(data[143:]), 16},
		{"client gateway", uint64(le.Uint32(data[228:])), 1},
		{"messages", uint64(le.Uint32(data[297:])), 1},
		{"message nonce", le.Uint64(data[305:]), 16},
		{"message val length", uint64(le.Uint32(data[337:])), uint64(len(mustHex(t, goldenVal)))},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if !bytes.Equal(data[341:341+len(goldenVal)/2], mustHex(t, goldenVal)) {
		t.Error("the message is not the seed's val")
	}
}

// TestUnmarshalStableRefuses: every corruption of the golden encoding fails with ErrBadStable
// and a message saying what is wrong, and leaves the server as it was.
func TestUnmarshalStableRefuses(t *testing.T) {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	val := 341                         // the message's bytes
	channels := val + len(goldenVal)/2 // the channel count (0)
	shape := channels + 4 + 4
	edit := func(off int, v ...byte) []byte {
		b := slices.Clone(golden)
		copy(b[off:], v)
		return b
	}
	u32 := func(off int, v uint32) []byte { return edit(off, binary.LittleEndian.AppendUint32(nil, v)...) }
	u64 := func(off int, v uint64) []byte { return edit(off, binary.LittleEndian.AppendUint64(nil, v)...) }
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, `no "ICWS" header`},
		{"magic", edit(0, 'X'), `no "ICWS" header`},
		{"version", edit(4, 4), "version 4, this library reads versions 1 to 3"},
		{"channel count", u32(channels, 1<<30), "1073741824 channels cannot fit"},
		{"trailing", append(slices.Clone(golden), 0), "1 trailing bytes after the root hash"},
		{"gateway count", u32(94, 1<<30), "1073741824 gateways cannot fit in the"},
		{"principal length", u32(98, 30), "gateway principal is 30 bytes, at most 29 allowed"},
		{"nonce floor", u64(131, 18), "next nonce 18 is above the nonce floor 17"},
		{"client count", u32(139, math32), "4294967295 clients cannot fit"},
		{"client id", u64(143, 17), "client 17 is not below the next client id 17"},
		{"client key", u32(151, 33), "client key is 33 bytes, at most 32 allowed"},
		{"client gateway", u32(228, 2), "client 16: gateway 2 of 1"},
		{"keep-alive flag", edit(272, 2), "keep-alive flag 2, want 0 or 1"},
		{"detached, unbound", func() []byte { b := u32(228, 0); copy(b[289:], u64(289, 5)[289:297]); return b }(), "client 16: detached but bound to no gateway"},
		{"message count", u32(297, 1<<28), "268435456 messages cannot fit"},
		{"message gateway", u32(301, 1), "message 0: gateway 1 of 1"},
		{"message nonce", u64(305, 17), "nonce 17 is not below gateway"},
		{"message client", u64(313, 17), "client 17 is not below the next client id 17"},
		{"message sequence", u64(321, 1), "client 16's message 1 on gateway"},
		{"message length", u32(337, 1<<31), "message is 2147483648 bytes, at most"},
		{"message bytes", edit(val+3, 0), "the certified map's root hash is"},
		{"shape length", u32(shape-4, 2), "certified map shape is 2 bytes, at most 1 allowed"},
		{"shape", edit(shape, 1), "certmap: bad shape: the root is red"},
		{"root hash", edit(len(golden)-1, golden[len(golden)-1]^1), "the certified map's root hash is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			c := f.register(9)
			before := dumpState(f.s)
			err := f.s.UnmarshalStable(tc.data)
			if !errors.Is(err, ErrBadStable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want ErrBadStable saying %q", err, tc.want)
			}
			if after := dumpState(f.s); after != before || f.s.clients[c.id] == nil {
				t.Fatalf("a refused encoding changed the server:\n%s\n%s", before, after)
			}
		})
	}
	for n := 0; n < len(golden); n++ {
		s := New(Config{})
		if err := s.UnmarshalStable(golden[:n]); !errors.Is(err, ErrBadStable) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
}

const math32 = 1<<32 - 1

// TestStableReadsVersion1: the encoding of the tiny state by the library before StableVersion 2
// restores to the same state, which encodes as the current golden.
func TestStableReadsVersion1(t *testing.T) {
	for _, path := range []string{goldenV1Path, goldenV2Path} {
		t.Run(path, func(t *testing.T) { testStableReadsOld(t, path) })
	}
}

func testStableReadsOld(t *testing.T, path string) {
	v1, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{})
	if err := s.UnmarshalStable(v1); err != nil {
		t.Fatalf("version 1 refused: %v", err)
	}
	got, err := s.MarshalStable()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("version 1 restores to a state that encodes as\n %x\nwant\n %x", got, want)
	}
	f := newFixture(t, Config{})
	tinyState(f)
	if a, b := dumpState(f.s), dumpState(s); a != b {
		t.Fatalf("version 1 restores to\n%s\nwant\n%s", b, a)
	}
}

// TestUnmarshalStableRollback: inside a transaction, Rollback undoes a restore and Commit keeps it.
func TestUnmarshalStableRollback(t *testing.T) {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Config{})
	f.register(9)
	before := dumpState(f.s)
	f.s.Begin()
	if err := f.s.UnmarshalStable(golden); err != nil {
		t.Fatal(err)
	}
	f.s.Rollback()
	if after := dumpState(f.s); after != before {
		t.Fatalf("Rollback did not undo the restore:\n%s\n%s", before, after)
	}
	f.s.Begin()
	if err := f.s.UnmarshalStable(golden); err != nil {
		t.Fatal(err)
	}
	f.s.Commit()
	if again, err := f.s.MarshalStable(); err != nil || !bytes.Equal(again, golden) {
		t.Fatalf("after Commit the server encodes to other bytes (%v)", err)
	}
}

// TestResumeTimer: Resume sets the global timer to the saved due time if it is still ahead, else
// one tick from now, and not at all for a server with nothing to do.
func TestResumeTimer(t *testing.T) {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	saved := binary.LittleEndian.Uint64(golden[22:]) // timerAt
	tick := uint64(DefaultTickInterval)
	for _, tc := range []struct {
		name string
		now  uint64
		data []byte
		want uint64
	}{
		{"ahead", saved - 1, golden, saved},
		{"passed", saved + 5, golden, saved + 5 + tick},
		{"idle", saved + 5, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{})
			if tc.data != nil {
				if err := s.UnmarshalStable(tc.data); err != nil {
					t.Fatal(err)
				}
			}
			h := newHost(t, nil, principal.MustDecode(seedCanister))
			h.now = tc.now
			ic := &sys{h: h}
			s.Resume(ic)
			if ic.timer != tc.want {
				t.Errorf("timer = %d, want %d", ic.timer, tc.want)
			}
			if !ic.certSet || len(ic.cert) != 32 {
				t.Errorf("certified data %x, set %v", ic.cert, ic.certSet)
			}
		})
	}
}

// writeSeed writes data and two truncations of it into the seed corpus of FuzzUnmarshalStable.
func writeSeed(t *testing.T, name string, data []byte) {
	dir := filepath.Join("testdata", "fuzz", "FuzzUnmarshalStable")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name = strings.ReplaceAll(name, " ", "-")
	for suffix, b := range map[string][]byte{"": data, "-half": data[:len(data)/2], "-short": data[:len(data)-1]} {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name+suffix), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzUnmarshalStable checks that no input makes UnmarshalStable panic or fail without
// ErrBadStable, and that every input it accepts encodes back to the same bytes. The seed corpus
// (testdata/fuzz) holds the encodings of TestStableRoundTrip's states and truncations of them.
func FuzzUnmarshalStable(f *testing.F) {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	if v1, err := os.ReadFile(goldenV1Path); err == nil {
		f.Add(v1)
	}
	for _, n := range []int{0, 6, 94, 139, 297, len(golden) - 33} {
		f.Add(golden[:n])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New(Config{})
		if err := s.UnmarshalStable(data); err != nil {
			if !errors.Is(err, ErrBadStable) {
				t.Fatalf("error without ErrBadStable: %v", err)
			}
			return
		}
		again, err := s.MarshalStable()
		if err != nil {
			t.Fatalf("accepted, then MarshalStable: %v", err)
		}
		if len(data) > 5 && data[4] == 1 && data[5] == 0 {
			// Version 1 encodes back as the current version: that one must be a fixed point.
			data = again
			s = New(Config{})
			if err := s.UnmarshalStable(data); err != nil {
				t.Fatalf("version 1 accepted, its re-encoding refused: %v", err)
			}
			if again, err = s.MarshalStable(); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted %x, encodes back to %x", data, again)
		}
	})
}

// stableBenchServer is a server with clients open clients through one gateway and queued
// messages for each, built directly through the runtime API as benchServer is.
func stableBenchServer(b *testing.B, clients, queued int) *Server {
	s := New(Config{MaxQueuePerGateway: 1 << 30})
	h := newHost(b, nil, principal.MustDecode(seedCanister))
	gw, user := gatewayPrincipal(b, 0), gatewayPrincipal(b, 7)
	ic := &sys{h: h, caller: gw}
	g := s.gatewayFor(gw)
	payload := protocol.AppMessage{Text: "a message of a typical size for a chat or a game"}.Marshal()
	for i := 0; i < clients; i++ {
		id := s.st.nextClientID
		s.st.nextClientID++
		key := bytes.Repeat([]byte{byte(i)}, 32)
		c := &client{id: id, key: key, owner: user, registered: h.now, gw: g, lastIn: h.now}
		s.clients[id] = c
		g.bound++
		s.st.open++
	}
	for n := 0; n < queued; n++ {
		for _, id := range s.Clients() {
			h.now++
			if err := s.Send(ic, id, payload); err != nil {
				b.Fatal(err)
			}
		}
	}
	s.tree.RootHash()
	return s
}

// BenchmarkStable is the cost of saving (marshal) and restoring (unmarshal, which rebuilds and
// hashes the certified map) 1,000 open clients with 10 queued messages each; build, the same state
// made by 10,000 Sends, is the baseline. bytes/op here is the size of the encoding.
func BenchmarkStable(b *testing.B) {
	const clients, queued = 1000, 10
	s := stableBenchServer(b, clients, queued)
	data, err := s.MarshalStable()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.MarshalStable(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(data)), "encoded-bytes")
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := New(Config{MaxQueuePerGateway: 1 << 30})
			if err := r.UnmarshalStable(data); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(data)), "encoded-bytes")
	})
	b.Run("build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			stableBenchServer(b, clients, queued)
		}
	})
}
