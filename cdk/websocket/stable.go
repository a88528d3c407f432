package websocket

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/cdk/certmap"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// Stable format (docs/ARCHITECTURE.md, "Stable state"). Everything is little-endian; a blob is
// a uint32 length and its bytes; a list is a uint32 count and its records.
//
//	"ICWS" uint16(version)
//	nextClientID nonceFloor timerAt                                  uint64 ×3
//	sent received droppedOverflow droppedExpired droppedClosed
//	acknowledged rejected detachExpired                              uint64 ×8 (×7 in version 1)
//	gateways: principal(blob) nextNonce(uint64), by principal bytes, strictly increasing
//	clients: id key(blob) owner(blob) registered gateway(uint32: 0 none, else index+1)
//	         outSeq inSeq acked ackSent openNonce keepalive(uint8 0/1) lastIn lastBeat
//	         detached (not in version 1), by id, strictly increasing
//	messages: gateway(uint32 index) nonce client seq time val(blob), oldest first
//	channels (from version 3): name(blob) next first uint64 ×2, values: time val(blob), from
//	         first on; subscribers: client id uint64, strictly increasing; by name, strictly
//	         increasing (channel.go)
//	shape(blob): the certified map's tree, one byte per message (certmap.AppendShape)
//	root hash [32]byte: the certified map's, checked after the rebuild
//
// Everything else is derived: keys, the certified map's values and hashes, the per-client
// queues, the counts of open clients, of a gateway's messages and bound clients.

// StableVersion is the version of the format MarshalStable writes. UnmarshalStable reads it,
// version 2 (before channels) and version 1 (before detached clients), so a canister upgrades
// from code that wrote either.
const StableVersion = 3

// stableMagic starts every encoding.
const stableMagic = "ICWS"

// ErrBadStable is the error of UnmarshalStable for bytes that are not a valid encoding of this
// version; the wrapped detail says what is wrong.
var ErrBadStable = errors.New("websocket: bad stable state")

// Smallest encoded record sizes, which bound the counts a decoder believes.
const (
	minGatewaySize = 4 + 8
	minClientSize  = 8 + 4 + ed25519.PublicKeySize + 4 + 8 + 4 + 5*8 + 1 + 3*8
	minMessageSize = 4 + 4*8 + 4 + 1 // one shape byte each
	hashSize       = 32
)

// MarshalStable encodes the whole state of the server, for a canister's pre_upgrade: its clients
// (keys, owners, gateways, sequence numbers, keep-alive state), gateways, queued messages, the
// certified map's exact tree, counters and the due time of the global timer it set. Call it
// between messages' changes (a pre_upgrade hook is fine); it does not change the server.
//
// A ProtocolOmnia server is saved only while it has no clients and no queued messages (then its
// counters and nonces are kept, so gateways' cursors stay valid); with connections it fails,
// which makes the upgrade fail and leaves the canister as it was: upgrade when no client is
// connected.
func (s *Server) MarshalStable() ([]byte, error) {
	if s.omnia() && (len(s.clients) > 0 || len(s.entries) > 0) {
		return nil, fmt.Errorf("websocket: MarshalStable: a ProtocolOmnia server keeps no connections across upgrades, and it has %d clients and %d queued messages; upgrade when none is connected", len(s.clients), len(s.entries))
	}
	gws := make([]*gateway, 0, len(s.gateways))
	for _, g := range s.gateways {
		gws = append(gws, g)
	}
	slices.SortFunc(gws, func(a, b *gateway) int { return a.id.Compare(b.id) })
	gwIndex := make(map[*gateway]uint32, len(gws))
	for i, g := range gws {
		gwIndex[g] = uint32(i)
	}
	ids := make([]uint64, 0, len(s.clients))
	for id := range s.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(gws) > math.MaxUint32 || len(ids) > math.MaxUint32 || len(s.entries) > math.MaxUint32 {
		return nil, errors.New("websocket: MarshalStable: more than 2^32 records")
	}

	size := len(stableMagic) + 2 + 11*8 + 4 + 4 + 4 + len(s.entries)*minMessageSize + 4 + hashSize
	for _, g := range gws {
		size += minGatewaySize + g.id.Len()
	}
	for _, c := range s.clients {
		size += minClientSize + c.owner.Len()
	}
	for _, e := range s.entries {
		size += len(e.val)
	}
	b := make([]byte, 0, size)
	b = append(b, stableMagic...)
	b = binary.LittleEndian.AppendUint16(b, StableVersion)
	st := &s.st
	b = appendU64s(b, st.nextClientID, st.nonceFloor, st.timerAt)
	c := &st.stats
	b = appendU64s(b, c.Sent, c.Received, c.DroppedOverflow, c.DroppedExpired, c.DroppedClosed, c.Acknowledged, c.Rejected, c.DetachExpired)

	b = binary.LittleEndian.AppendUint32(b, uint32(len(gws)))
	for _, g := range gws {
		b = appendBlob(b, g.id.Bytes())
		b = binary.LittleEndian.AppendUint64(b, g.nextNonce)
	}

	b = binary.LittleEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		c := s.clients[id]
		var gw uint32
		if c.gw != nil {
			i, ok := gwIndex[c.gw]
			if !ok {
				return nil, fmt.Errorf("websocket: MarshalStable: client %d is bound to a gateway the server forgot", id)
			}
			gw = i + 1
		}
		b = binary.LittleEndian.AppendUint64(b, c.id)
		b = appendBlob(b, c.key)
		b = appendBlob(b, c.owner.Bytes())
		b = binary.LittleEndian.AppendUint64(b, c.registered)
		b = binary.LittleEndian.AppendUint32(b, gw)
		b = appendU64s(b, c.outSeq, c.inSeq, c.acked, c.ackSent, c.openNonce)
		b = append(b, boolByte(c.keepalive))
		b = appendU64s(b, c.lastIn, c.lastBeat, c.detached)
	}

	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.entries)))
	var err error
	n := 0
	st.fifo.each(func(e *entry) {
		if err != nil {
			return
		}
		i, ok := gwIndex[e.gw]
		_, nonce, perr := protocol.ParseKey(e.key)
		if !ok || perr != nil || s.entries[e.key] != e {
			err = fmt.Errorf("websocket: MarshalStable: queued message %q is not in its gateway's queue", e.key)
			return
		}
		n++
		b = binary.LittleEndian.AppendUint32(b, i)
		b = appendU64s(b, nonce, e.client, e.seq, e.time)
		b = appendBlob(b, e.val)
	})
	if err != nil {
		return nil, err
	}
	b, size, nvals, err := s.appendChannels(b, size)
	if err != nil {
		return nil, err
	}
	if n != len(s.entries) || n+nvals != s.tree.Len() {
		return nil, fmt.Errorf("websocket: MarshalStable: %d messages in the age list, %d queued, %d in the certified map (call it between messages)", n, len(s.entries), s.tree.Len())
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(n+nvals))
	b = s.tree.AppendShape(b)
	root := s.tree.RootHash()
	b = append(b, root[:]...)
	if len(b) != size {
		return nil, fmt.Errorf("websocket: MarshalStable: %d bytes, %d expected", len(b), size)
	}
	return b, nil
}

// UnmarshalStable replaces the server's state with one MarshalStable encoded, for a canister's
// post_upgrade; the server keeps its Config. It checks everything it reads and fails with an
// error wrapping ErrBadStable, leaving the server as it was, if data is not a valid encoding of
// version 1 or StableVersion: another version, truncated or trailing bytes, counts the data cannot hold, a
// message on a gateway or nonce that cannot be, a certified map whose rebuilt root hash is not
// the saved one. Then call Resume, which the IC's upgrade makes necessary.
//
// Inside a transaction (the host called Begin), Rollback restores the state it replaced.
func (s *Server) UnmarshalStable(data []byte) error {
	d := stableDecoder{b: data}
	if err := d.state(s); err != nil {
		return fmt.Errorf("%w: %w", ErrBadStable, err)
	}
	if s.omnia() && (len(d.clients) > 0 || len(d.entries) > 0) {
		return fmt.Errorf("%w: the saved state has %d clients and %d queued messages, which a ProtocolOmnia server cannot take (it was a seed-protocol server's)", ErrBadStable, len(d.clients), len(d.entries))
	}
	clients, gateways, entries, tree, channels := s.clients, s.gateways, s.entries, s.tree, s.channels
	s.journal(func() {
		s.clients, s.gateways, s.entries, s.tree, s.channels = clients, gateways, entries, tree, channels
	})
	s.clients, s.gateways, s.entries, s.tree, s.channels = d.clients, d.gateways, d.entries, d.tree, d.channels
	s.st = d.st
	return nil
}

// Resume finishes a restore in post_upgrade (after UnmarshalStable): it sets the certified data
// to the restored map's root and sets the global timer again, which an upgrade deactivates, at
// the due time the server had set, or one TickInterval from now if that has passed.
func (s *Server) Resume(ic cdk.System) {
	s.setCertifiedData(ic)
	switch now := ic.Time(); {
	case s.st.timerAt > now:
		ic.SetGlobalTimer(s.st.timerAt)
	case s.st.timerAt != 0 || len(s.clients) > 0 || len(s.entries) > 0:
		s.st.timerAt = 0
		s.ensureTimer(ic)
	}
}

func appendU64s(b []byte, vs ...uint64) []byte {
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

func appendBlob(b, v []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// stableDecoder reads an encoding into new state; the first error stops it.
type stableDecoder struct {
	b   []byte
	off int
	err error

	st       state
	clients  map[uint64]*client
	gateways map[principal.Principal]*gateway
	entries  map[string]*entry
	tree     certmap.Map
	channels map[string]*channel
}

func (d *stableDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

// take returns the next n bytes, or nil after recording truncation.
func (d *stableDecoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail("truncated at byte %d: %s needs %d bytes, %d are left", d.off, what, n, len(d.b)-d.off)
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

func (d *stableDecoder) u64(what string) uint64 {
	if v := d.take(8, what); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *stableDecoder) u32(what string) uint32 {
	if v := d.take(4, what); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *stableDecoder) blob(what string, max int) []byte {
	n := d.u32(what + " length")
	if d.err == nil && n > uint32(max) {
		d.fail("%s is %d bytes, at most %d allowed", what, n, max)
	}
	return d.take(int(n), what)
}

// count reads a record count and refuses one the remaining bytes cannot hold.
func (d *stableDecoder) count(what string, minSize int) int {
	n := d.u32(what + " count")
	if left := len(d.b) - d.off; d.err == nil && uint64(n)*uint64(minSize) > uint64(left) {
		d.fail("%d %s cannot fit in the %d bytes left", n, what, left)
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

func (d *stableDecoder) principal(what string) principal.Principal {
	p, err := principal.FromBytes(d.blob(what, principal.MaxLength))
	if err != nil {
		d.fail("%s: %w", what, err)
	}
	return p
}

func (d *stableDecoder) state(s *Server) error {
	if len(d.b) < len(stableMagic)+2 || string(d.b[:len(stableMagic)]) != stableMagic {
		return errors.New(`no "ICWS" header: not a websocket.Server encoding`)
	}
	d.off = len(stableMagic)
	v := binary.LittleEndian.Uint16(d.take(2, "version"))
	if v < 1 || v > StableVersion {
		return fmt.Errorf("version %d, this library reads versions 1 to %d", v, StableVersion)
	}
	v1 := v == 1
	st := &d.st
	st.nextClientID, st.nonceFloor, st.timerAt = d.u64("next client id"), d.u64("nonce floor"), d.u64("timer")
	c := &st.stats
	counters := []*uint64{&c.Sent, &c.Received, &c.DroppedOverflow, &c.DroppedExpired, &c.DroppedClosed, &c.Acknowledged, &c.Rejected, &c.DetachExpired}
	if v1 {
		counters = counters[:7]
	}
	for _, p := range counters {
		*p = d.u64("counters")
	}

	gws := make([]*gateway, d.count("gateways", minGatewaySize))
	d.gateways = make(map[principal.Principal]*gateway, len(gws))
	for i := range gws {
		id := d.principal("gateway principal")
		next := d.u64("gateway next nonce")
		if d.err != nil {
			return d.err
		}
		if i > 0 && gws[i-1].id.Compare(id) >= 0 {
			return fmt.Errorf("gateway %d (%s) is not above the one before", i, id)
		}
		if next > st.nonceFloor {
			return fmt.Errorf("gateway %s: next nonce %d is above the nonce floor %d", id, next, st.nonceFloor)
		}
		text := id.String()
		g := &gateway{id: id, text: text, prefix: text + "_", nextNonce: next, gen: s.gen}
		gws[i] = g
		d.gateways[id] = g
	}

	clientSize := minClientSize
	if v1 {
		clientSize -= 8
	}
	n := d.count("clients", clientSize)
	d.clients = make(map[uint64]*client, n)
	var prev uint64
	for i := 0; i < n; i++ {
		c := &client{gen: s.gen}
		c.id = d.u64("client id")
		c.key = bytes.Clone(d.blob("client key", ed25519.PublicKeySize))
		c.owner = d.principal("client owner")
		c.registered = d.u64("client registration time")
		gw := d.u32("client gateway")
		c.outSeq, c.inSeq, c.acked, c.ackSent, c.openNonce = d.u64("client"), d.u64("client"), d.u64("client"), d.u64("client"), d.u64("client")
		ka := d.take(1, "client keep-alive")
		c.lastIn, c.lastBeat = d.u64("client"), d.u64("client")
		if !v1 {
			c.detached = d.u64("client detached")
		}
		if d.err != nil {
			return d.err
		}
		switch {
		case i > 0 && c.id <= prev:
			return fmt.Errorf("client %d is not above the one before, %d", c.id, prev)
		case c.id >= st.nextClientID:
			return fmt.Errorf("client %d is not below the next client id %d", c.id, st.nextClientID)
		case len(c.key) != ed25519.PublicKeySize:
			return fmt.Errorf("client %d: key of %d bytes, want %d", c.id, len(c.key), ed25519.PublicKeySize)
		case uint64(gw) > uint64(len(gws)):
			return fmt.Errorf("client %d: gateway %d of %d", c.id, gw, len(gws))
		case ka[0] > 1:
			return fmt.Errorf("client %d: keep-alive flag %d, want 0 or 1", c.id, ka[0])
		}
		c.keepalive = ka[0] == 1
		if c.detached != 0 && gw == 0 {
			return fmt.Errorf("client %d: detached but bound to no gateway", c.id)
		}
		if gw > 0 {
			c.gw = gws[gw-1]
			c.gw.bound++
			st.open++
			if c.detached != 0 {
				st.detached++
			}
		}
		prev = c.id
		d.clients[c.id] = c
	}

	n = d.count("messages", minMessageSize)
	d.entries = make(map[string]*entry, n)
	keys := make([]string, n)
	for i := 0; i < n; i++ {
		gw := d.u32("message gateway")
		nonce := d.u64("message nonce")
		e := &entry{live: true, gen: s.gen}
		e.client, e.seq, e.time = d.u64("message client"), d.u64("message sequence number"), d.u64("message time")
		e.val = bytes.Clone(d.blob("message", len(d.b)))
		if d.err != nil {
			return d.err
		}
		if uint64(gw) >= uint64(len(gws)) {
			return fmt.Errorf("message %d: gateway %d of %d", i, gw, len(gws))
		}
		g := gws[gw]
		if nonce >= g.nextNonce {
			return fmt.Errorf("message %d: nonce %d is not below gateway %s's next nonce %d", i, nonce, g.text, g.nextNonce)
		}
		if e.client >= st.nextClientID {
			return fmt.Errorf("message %d: client %d is not below the next client id %d", i, e.client, st.nextClientID)
		}
		c := d.clients[e.client]
		if c != nil && (c.gw != g || e.seq >= c.outSeq) {
			return fmt.Errorf("message %d: client %d's message %d on gateway %s, but the client is elsewhere or has sent fewer", i, c.id, e.seq, g.text)
		}
		e.gw = g
		e.key = string(protocol.AppendKey(make([]byte, 0, len(g.prefix)+protocol.NonceDigits), g.text, nonce))
		if d.entries[e.key] != nil {
			return fmt.Errorf("message %d: key %s twice", i, e.key)
		}
		d.entries[e.key] = e
		keys[i] = e.key
		g.queued++
		st.fifo.push(e)
		if c != nil {
			c.queue.push(e)
		}
	}

	var chKeys []string
	var chVals [][]byte
	if v >= 3 {
		chKeys, chVals = d.readChannels(s)
		if d.err != nil {
			return d.err
		}
	}
	shape := d.blob("certified map shape", n+len(chKeys))
	root := d.take(hashSize, "root hash")
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		return fmt.Errorf("%d trailing bytes after the root hash", len(d.b)-d.off)
	}
	byKey := make(map[string][]byte, len(chKeys))
	for i, k := range chKeys {
		byKey[k] = chVals[i]
	}
	keys = append(keys, chKeys...)
	n = len(keys)
	slices.Sort(keys)
	values := make([][]byte, n)
	sums := make([]byte, n*sha256.Size)
	for i, k := range keys {
		val := byKey[k]
		if e := d.entries[k]; e != nil {
			val = e.val
		}
		sum := sha256.Sum256(val)
		values[i] = sums[i*sha256.Size : (i+1)*sha256.Size : (i+1)*sha256.Size]
		copy(values[i], sum[:])
	}
	tree, err := certmap.FromShape(shape, keys, values)
	if err != nil {
		return err
	}
	if got := tree.RootHash(); !bytes.Equal(got[:], root) {
		return fmt.Errorf("the certified map's root hash is %x, the saved one %x", got, root)
	}
	d.tree = tree
	return nil
}
