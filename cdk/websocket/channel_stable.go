package websocket

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/icws/icws/protocol"
)

// minChannelSize is the smallest encoded channel record (stable.go's format, version 3).
const minChannelSize = 4 + 1 + 2*8 + 4 + 4

// appendChannels appends the channels section of the stable format to b and adds its length to
// size; nvals is the number of channel messages (certified-map keys) it holds.
func (s *Server) appendChannels(b []byte, size int) (_ []byte, _ int, nvals int, _ error) {
	names := make([]string, 0, len(s.channels))
	for name := range s.channels {
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) > math.MaxUint32 {
		return nil, 0, 0, fmt.Errorf("websocket: MarshalStable: %d channels", len(names))
	}
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(names)))
	for _, name := range names {
		ch := s.channels[name]
		b = appendBlob(b, []byte(name))
		b = appendU64s(b, ch.next, ch.first)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ch.vals)))
		for i, v := range ch.vals {
			b = binary.LittleEndian.AppendUint64(b, ch.times[i])
			b = appendBlob(b, v)
		}
		nvals += len(ch.vals)
		ids := make([]uint64, 0, len(ch.subs))
		for id := range ch.subs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ids)))
		b = appendU64s(b, ids...)
	}
	return b, size + len(b) - start + nvals, nvals, nil // + one shape byte per message
}

// readChannels reads the channels section (version 3) into d.channels, subscribing d.clients,
// and returns the certified-map keys of the channel messages and their values.
func (d *stableDecoder) readChannels(s *Server) (keys []string, vals [][]byte) {
	n := d.count("channels", minChannelSize)
	d.channels = make(map[string]*channel, n)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		name := string(d.blob("channel name", protocol.MaxChannelName))
		ch := &channel{name: name, subs: make(map[uint64]struct{}), gen: s.gen}
		ch.next, ch.first = d.u64("channel next seq"), d.u64("channel first seq")
		nv := d.count("channel messages", 8+4)
		if d.err != nil {
			return nil, nil
		}
		if err := protocol.ValidateChannel(name); err != nil {
			d.fail("channel %d: %v", i, err)
			return nil, nil
		}
		if i > 0 && name <= prev {
			d.fail("channel %q is not above the one before, %q", name, prev)
			return nil, nil
		}
		if ch.first > ch.next || ch.next-ch.first != uint64(nv) {
			d.fail("channel %q: %d messages from seq %d, but the next seq is %d", name, nv, ch.first, ch.next)
			return nil, nil
		}
		for j := 0; j < nv && d.err == nil; j++ {
			ch.times = append(ch.times, d.u64("channel message time"))
			v := bytes.Clone(d.blob("channel message", len(d.b)))
			ch.vals = append(ch.vals, v)
			keys = append(keys, ch.key(ch.first+uint64(j)))
			vals = append(vals, v)
		}
		ns := d.count("channel subscribers", 8)
		var last uint64
		for j := 0; j < ns && d.err == nil; j++ {
			id := d.u64("channel subscriber")
			c := d.clients[id]
			switch {
			case d.err != nil:
				return nil, nil
			case j > 0 && id <= last:
				d.fail("channel %q: subscriber %d is not above the one before, %d", name, id, last)
				return nil, nil
			case c == nil:
				d.fail("channel %q: subscriber %d is not a client", name, id)
				return nil, nil
			case len(c.channels) >= MaxSubscriptions:
				d.fail("client %d: more than %d subscriptions", id, MaxSubscriptions)
				return nil, nil
			}
			last = id
			ch.subs[id] = struct{}{}
			c.channels = append(c.channels, name) // names come in increasing order: sorted
		}
		d.channels[name] = ch
		prev = name
	}
	return keys, vals
}
