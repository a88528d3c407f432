package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// Certified channels at the gateway (docs/PROTOCOL.md §12.5): the gateway learns which of its
// clients subscribe to which channel from the certified channel statuses (C3) it routes to them,
// polls every channel with a subscriber here with one ws_get_channel_messages query per canister,
// and writes each channel batch as one S8 frame, encoded once, to every local subscriber.

// channelAPI is the channel poll; agentAPI implements it. A canisterAPI without it (the poller's
// unit tests' fake) serves no channels.
type channelAPI interface {
	getChannelMessages(ctx context.Context, canister principal.Principal, req []protocol.ChannelFrom) (*protocol.ChannelMessages, error)
}

func (x agentAPI) getChannelMessages(ctx context.Context, canister principal.Principal, req []protocol.ChannelFrom) (*protocol.ChannelMessages, error) {
	res := new(protocol.ChannelMessages)
	if err := x.a.Query(ctx, canister, protocol.MethodGetChannelMessages, req, res); err != nil {
		return nil, err
	}
	return res, nil
}

// errNoChannels is the poller's error when the gateway's API cannot poll channels.
var errNoChannels = errors.New("gateway: this gateway's IC interface cannot poll channels")

// hubChannels is the channel state of one hub: the local subscribers of each channel and the
// channel poller, which runs while there is at least one.
type hubChannels struct {
	mu      sync.Mutex
	chans   map[string]*localChannel // guarded by mu
	byConn  map[*conn][]string       // guarded by mu; the channels of each subscribed connection
	running bool                     // guarded by mu
	wake    chan struct{}            // capacity 1
}

// localChannel is one channel's subscribers at this gateway.
type localChannel struct {
	conns  map[*conn]struct{}
	cursor uint64   // the next seq to fetch
	known  bool     // cursor is set (a batch or a join set it)
	joins  []uint64 // heads of the connections that joined since the request was last built
}

// channelStatus updates c's subscriptions from the canister service message val routed to it
// (called by route with h.mu held, after c's frame was queued, so the client reads the C3
// before any channel frame of the subscription).
func (h *hub) channelStatus(c *conn, val []byte) {
	if !protocol.IsServiceMessage(val) {
		return // an application message: only service messages carry channel status
	}
	m, err := protocol.DecodeWebsocketMessage(val)
	if err != nil || !m.Service || len(m.Message) == 0 {
		return
	}
	st, err := protocol.DecodeChannelStatus(m.Message)
	if err != nil {
		h.log.Debug("undecodable channel status", "client", c.clientID, "err", err)
		return
	}
	hc := &h.chans
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.chans == nil {
		hc.chans = make(map[string]*localChannel)
		hc.byConn = make(map[*conn][]string)
		hc.wake = make(chan struct{}, 1)
	}
	if st.Unsubscribed != "" {
		hc.leaveLocked(c, st.Unsubscribed)
	}
	if st.Subscribed != "" {
		hc.joinLocked(c, st.Subscribed, st.Head)
	}
	if st.Heads != nil {
		// The full set: join those not joined yet (a reopen through this gateway), at the head.
		for _, hd := range st.Heads {
			if !slices.Contains(hc.byConn[c], hd.Channel) {
				hc.joinLocked(c, hd.Channel, hd.Head)
			}
		}
		for _, name := range slices.Clone(hc.byConn[c]) {
			if !slices.ContainsFunc(st.Heads, func(x protocol.ChannelHead) bool { return x.Channel == name }) {
				hc.leaveLocked(c, name)
			}
		}
	}
	if len(hc.byConn) > 0 && !hc.running {
		hc.running = true
		h.g.active.Add(1)
		go h.pollChannels()
	}
}

func (hc *hubChannels) joinLocked(c *conn, name string, head uint64) {
	lc := hc.chans[name]
	if lc == nil {
		lc = &localChannel{conns: make(map[*conn]struct{})}
		hc.chans[name] = lc
	}
	if _, ok := lc.conns[c]; !ok {
		lc.conns[c] = struct{}{}
		hc.byConn[c] = append(hc.byConn[c], name)
	}
	lc.joins = append(lc.joins, head)
	select {
	case hc.wake <- struct{}{}:
	default:
	}
}

func (hc *hubChannels) leaveLocked(c *conn, name string) {
	lc := hc.chans[name]
	if lc == nil {
		return
	}
	delete(lc.conns, c)
	if len(lc.conns) == 0 {
		delete(hc.chans, name)
	}
	names := slices.DeleteFunc(hc.byConn[c], func(n string) bool { return n == name })
	if len(names) == 0 {
		delete(hc.byConn, c)
	} else {
		hc.byConn[c] = names
	}
}

// dropChannels ends every subscription of c at this gateway (it left its hub).
func (h *hub) dropChannels(c *conn) {
	hc := &h.chans
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for _, name := range slices.Clone(hc.byConn[c]) {
		hc.leaveLocked(c, name)
	}
}

// channelPoll is one poll's plan: the request and, per channel, the connections its batch goes to.
type channelPoll struct {
	req   []protocol.ChannelFrom
	conns map[string][]*conn
}

// plan builds the next request: every channel with subscribers, from min(cursor, joins), at most
// MaxChannelsPerQuery (the rest, in name order, at the next poll). It returns false when no
// channel has subscribers: the poller stops.
func (hc *hubChannels) plan(turn int) (channelPoll, bool) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if len(hc.chans) == 0 {
		hc.running = false
		return channelPoll{}, false
	}
	names := make([]string, 0, len(hc.chans))
	for name := range hc.chans {
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) > protocol.MaxChannelsPerQuery {
		start := (turn * protocol.MaxChannelsPerQuery) % len(names)
		names = append(names[start:], names[:start]...)[:protocol.MaxChannelsPerQuery]
	}
	p := channelPoll{req: make([]protocol.ChannelFrom, 0, len(names)), conns: make(map[string][]*conn, len(names))}
	for _, name := range names {
		lc := hc.chans[name]
		from, have := lc.cursor, lc.known
		for _, j := range lc.joins {
			if !have || j < from {
				from, have = j, true
			}
		}
		lc.joins = lc.joins[:0]
		cs := make([]*conn, 0, len(lc.conns))
		for c := range lc.conns {
			cs = append(cs, c)
		}
		p.req = append(p.req, protocol.ChannelFrom{Channel: name, From: from})
		p.conns[name] = cs
	}
	return p, true
}

// advance moves channel name's cursor past a batch that ended at next.
func (hc *hubChannels) advance(name string, next uint64) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if lc := hc.chans[name]; lc != nil {
		if !lc.known || next > lc.cursor {
			lc.cursor = next
		}
		lc.known = true
	}
}

// pollChannels is the channel poller of h: one ws_get_channel_messages per PollInterval for every
// channel with a subscriber here (at once again while a batch was cut short), until none has.
func (h *hub) pollChannels() {
	g := h.g
	defer g.active.Done()
	hc := &h.chans
	capi, ok := g.api.(channelAPI)
	bo := backoff{min: g.cfg.PollInterval, max: 5 * time.Second}
	for turn := 0; ; turn++ {
		if g.hardCtx.Err() != nil {
			hc.mu.Lock()
			hc.running = false
			hc.mu.Unlock()
			return
		}
		p, more := hc.plan(turn)
		if !more {
			return
		}
		start := g.cfg.Clock()
		var err error
		again := false
		if !ok {
			err = errNoChannels
		} else {
			again, err = h.pollChannelsOnce(capi, p)
		}
		wait := g.cfg.PollInterval - g.cfg.Clock().Sub(start)
		if err != nil {
			wait = bo.next()
			h.log.Warn("channel poll failed; retrying", "err", err, "retry_in", wait)
		} else {
			bo.reset()
		}
		if again {
			continue
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-hc.wake:
			case <-g.hardCtx.Done():
			}
			t.Stop()
		}
	}
}

// pollChannelsOnce makes one query of plan p and fans each channel batch out as one S8 frame,
// the same bytes for every subscriber. again says a batch stopped short of its channel's head.
func (h *hub) pollChannelsOnce(capi channelAPI, p channelPoll) (again bool, err error) {
	g := h.g
	ctx, cancel := context.WithTimeout(g.hardCtx, g.cfg.PollTimeout)
	defer cancel()
	res, err := capi.getChannelMessages(ctx, h.canister, p.req)
	if err != nil {
		return false, fmt.Errorf("%s: %w", protocol.MethodGetChannelMessages, err)
	}
	for _, b := range res.Channels {
		cs, asked := p.conns[b.Channel]
		if !asked {
			return false, fmt.Errorf("%s: the answer has channel %q, which was not asked for", protocol.MethodGetChannelMessages, b.Channel)
		}
		if len(b.Vals) == 0 {
			h.chans.advance(b.Channel, b.First)
			continue
		}
		if len(b.Vals) > protocol.MaxChannelVals {
			return false, fmt.Errorf("%s: channel %q has %d values, at most %d", protocol.MethodGetChannelMessages, b.Channel, len(b.Vals), protocol.MaxChannelVals)
		}
		frame := (&protocol.ChannelFrame{Channel: b.Channel, First: b.First, Vals: b.Vals, Cert: res.Cert, Tree: b.Tree}).Marshal()
		f := outFrame{b: &batch{raw: frame}}
		for _, c := range cs {
			c.enqueue(f)
		}
		g.m.messagesPolled.add(uint64(len(b.Vals)))
		next := b.First + uint64(len(b.Vals))
		h.chans.advance(b.Channel, next)
		if b.Head > next {
			again = true
		}
	}
	return again, nil
}
