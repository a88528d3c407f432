package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// hub is one canister's clients at this gateway and the poller that fetches their messages. The
// poller runs while the hub has clients: the first client starts it, and it stops after the last
// one leaves. The cursor outlives it, so a restarted poller goes on where it stopped.
type hub struct {
	// Static after construction.
	g        *Gateway
	wire     wire // the protocol of the canister's clients here
	canister principal.Principal
	log      *slog.Logger
	wake     chan struct{} // capacity 1: poll now (a call likely queued messages) or stop (no clients)

	mu         sync.Mutex
	clients    map[clientKey]*conn         // guarded by mu; open or opening clients, by client key
	closingIDs map[clientKey]chan struct{} // guarded by mu; ws_close in flight, by client key
	running    bool                        // guarded by mu; a poller goroutine runs
	polls      uint64                      // guarded by mu; the polls started, for openHold.after
	holding    []*conn                     // guarded by mu; the opening connections, with a hold (reopen.go)
	cursor     uint64                      // guarded by mu while no poller runs; the poller's own while it runs

	// One poller per canister is an invariant: loops counts the poll loops that run, maxLoops the
	// most that ever ran at once (tests check it never exceeds 1; poll logs an error if it does).
	loops    int // guarded by mu
	maxLoops int // guarded by mu

	// chans is the hub's certified channels (channel.go).
	chans hubChannels

	// afterStop, if set (tests only; nil in production), is called by a poller after it decided
	// to stop and before it returns, to widen the window in which a new client starts the next.
	afterStop func()
}

// hubKey names a hub: a canister's clients of one protocol. A canister speaks one protocol (the
// two define ws_open and ws_get_messages with different types), so in practice one of the two
// exists per canister; keeping them apart means a client of the wrong protocol cannot disturb
// the other's poller.
type hubKey struct {
	wire     wire
	canister principal.Principal
}

// hubFor returns the hub of canister's clients of protocol w, creating it if needed.
func (g *Gateway) hubFor(w wire, canister principal.Principal) *hub {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := hubKey{w, canister}
	h := g.hubs[k]
	if h == nil {
		log := g.log.With("canister", canister.String())
		if _, seed := w.(seedWire); !seed {
			log = log.With("protocol", w.String())
		}
		h = &hub{
			g:        g,
			wire:     w,
			canister: canister,
			log:      log,
			wake:     make(chan struct{}, 1),
			clients:  make(map[clientKey]*conn),
		}
		g.hubs[k] = h
	}
	return h
}

// add registers c under its client id and starts the poller if it is not running. A connection
// of the same client at this gateway is replaced: the canister rebinds the client to the same
// gateway, so the old connection is closed with CloseSessionEnded and must not call ws_close.
// add returns a channel that is closed when an earlier connection's ws_close for this client is
// done (nil if none is in flight): ws_open must wait for it, or the late ws_close would close
// the new session.
func (h *hub) add(c *conn) (closed <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := c.key()
	if old := h.clients[k]; old != nil {
		old.replaced.Store(true)
		old.closeWith(protocol.CloseSessionEnded, "replaced by a newer connection of this client")
	}
	h.clients[k] = c
	if c.hold != nil {
		h.holding = append(h.holding, c)
	}
	if !h.running {
		h.running = true
		h.g.active.Add(1)
		h.g.m.pollers.inc()
		go h.poll(h.cursor)
	}
	return h.closingIDs[k]
}

// leave unregisters c; after the last client the poller stops. If the canister must be told
// (needClose, and c was not replaced), it registers a ws_close in flight for the client and
// returns a function to call when it is done; otherwise nil.
func (h *hub) leave(c *conn, needClose bool) (done func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := c.key()
	h.dropChannels(c)
	if c.hold != nil {
		c.hold = nil
		h.unhold(c)
	}
	if h.clients[k] == c {
		delete(h.clients, k)
		if len(h.clients) == 0 {
			h.poke()
		}
	}
	if !needClose || c.replaced.Load() {
		return nil
	}
	ch := make(chan struct{})
	if h.closingIDs == nil {
		h.closingIDs = make(map[clientKey]chan struct{})
	}
	prev := h.closingIDs[k]
	h.closingIDs[k] = ch
	return func() {
		h.mu.Lock()
		if h.closingIDs[k] == ch {
			if prev != nil {
				h.closingIDs[k] = prev
			} else {
				delete(h.closingIDs, k)
			}
		}
		h.mu.Unlock()
		close(ch)
	}
}

// poke wakes the poller from its wait: to stop if the hub has no clients, otherwise to poll at
// once. A ws_open or ws_message that succeeded pokes it, since the canister has most likely queued
// a reply: a client's round trip then takes two calls, not a call and a poll interval.
func (h *hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// stop decides whether the poller stops and, if it does, clears running in the same critical
// section: it stops when the gateway stops (force) or the hub has no clients, keeping cursor for
// the next poller. A client that joins after stop returns true finds running false and starts a
// new poller; one that joined before finds it true and is served by this one. Deciding and
// clearing under two locks would let a client start a second poller in between. If the poller
// goes on, stop counts the poll it is about to make and returns its number.
func (h *hub) stop(cursor uint64, force bool) (poll uint64, stopped bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !force && len(h.clients) > 0 {
		h.polls++
		return h.polls, false
	}
	h.running = false
	h.cursor = cursor
	h.loops--
	h.g.m.pollers.dec()
	return 0, true
}

// poll fetches the canister's messages for this gateway from cursor on and routes them to the
// clients, until the hub has no clients or the gateway stops. It polls again at once after a batch
// that may have been full (the protocol's fetch says: Omnia's is_end_of_queue, or any non-empty
// batch for the seed), and after PollInterval otherwise. Errors and refused batches are retried
// with backoff; the cursor moves only past messages that were routed.
func (h *hub) poll(cursor uint64) {
	g := h.g
	defer g.active.Done()
	h.mu.Lock()
	h.loops++
	h.maxLoops = max(h.maxLoops, h.loops)
	loops := h.loops
	h.mu.Unlock()
	if loops > 1 {
		h.log.Error("more than one poller for a canister", "pollers", loops)
	}
	h.log.Debug("poller started", "cursor", cursor)
	bo := backoff{min: g.cfg.PollInterval, max: 5 * time.Second}
	var failing int // consecutive failures
	var lastLog time.Time
	fresh := true // no batch taken since the poller started
	maxBatch := 0 // the largest batch seen, for caughtUp
	for {
		poll, stopped := h.stop(cursor, g.hardCtx.Err() != nil)
		if stopped {
			if h.afterStop != nil {
				h.afterStop()
			}
			h.log.Debug("poller stopped", "cursor", cursor)
			return
		}
		start := g.cfg.Clock()
		next, n, more, err := h.pollOnce(cursor, fresh)
		g.m.pollDuration.observe(g.cfg.Clock().Sub(start))
		var wait time.Duration
		if err != nil {
			if g.hardCtx.Err() != nil {
				continue
			}
			failing++
			wait = bo.next()
			if failing == 1 || g.cfg.Clock().Sub(lastLog) > 30*time.Second {
				h.log.Warn("poll failed; retrying", "err", err, "failures", failing, "retry_in", wait)
				lastLog = g.cfg.Clock()
			}
		} else {
			if failing > 0 {
				h.log.Info("polling recovered", "failures", failing)
				failing = 0
			}
			bo.reset()
			cursor = next
			if n > 0 {
				fresh = false
			}
			// A batch smaller than the largest one seen cannot have been cut by the canister's
			// batch size: it reached the end of the queue. (A canister that cuts by bytes too
			// may end one early; then a hold ends early, which costs at worst a reported gap.)
			if !more || n < maxBatch {
				h.caughtUp(poll)
			}
			maxBatch = max(maxBatch, n)
			if !more {
				wait = g.cfg.PollInterval - g.cfg.Clock().Sub(start)
			}
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-h.wake:
			case <-g.hardCtx.Done():
			}
			t.Stop()
		}
	}
}

// errBatch is wrapped by the errors of batches that break the nonce order.
var errBatch = errors.New("batch refused")

// pollOnce makes one ws_get_messages query from cursor, checks the batch and routes its messages.
// It returns the new cursor, the batch size and whether more messages may wait. fresh says no
// batch was taken since the poller started: then the batch may start anywhere past the cursor.
func (h *hub) pollOnce(cursor uint64, fresh bool) (next uint64, n int, more bool, err error) {
	g := h.g
	ctx, cancel := context.WithTimeout(g.hardCtx, g.cfg.PollTimeout)
	defer cancel()
	g.m.polls.inc()
	start := g.cfg.Clock()
	res, to, more, err := h.wire.fetch(ctx, g, h.canister, cursor)
	g.endCall(methodGetMessages, start, outcomeOf(err), err)
	if err != nil {
		g.m.pollErrors.inc()
		return cursor, 0, false, fmt.Errorf("ws_get_messages(%d): %w", cursor, err)
	}
	next, gap, err := checkBatch(res, g.principalText, cursor, fresh)
	if err != nil {
		g.m.pollRefused.inc()
		return cursor, 0, false, fmt.Errorf("ws_get_messages(%d): %w", cursor, err)
	}
	if len(res.Messages) == 0 {
		return cursor, 0, more, nil
	}
	if gap {
		// The canister deleted messages before this gateway fetched them: those of clients that
		// closed or moved (normal), or expired or overflowed ones (the clients concerned see a
		// gap in their sequence numbers; nothing here can bring them back).
		g.m.pollGaps.inc()
		if h.log.Enabled(context.Background(), slog.LevelDebug) {
			h.log.Debug("batch skips nonces", "cursor", cursor, "first", res.Messages[0].Key)
		}
	}
	if h.log.Enabled(context.Background(), slog.LevelDebug) {
		h.log.Debug("batch", "cursor", cursor, "messages", len(res.Messages), "first", res.Messages[0].Key, "last", res.Messages[len(res.Messages)-1].Key)
	}
	g.m.messagesPolled.add(uint64(len(res.Messages)))
	if to != nil {
		h.route(newOmniaBatch(res, to))
	} else {
		h.route(newBatch(res))
	}
	return next, len(res.Messages), more, nil
}

// route hands each message of b to its client's queue, without blocking. A client that opted in
// to S9 frames gets its messages of b as one frame (routeBatched).
func (h *hub) route(b *batch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var grouped *clientGroups
	for i := range b.msgs {
		m := &b.msgs[i]
		c := h.clients[b.client(i)]
		if c == nil {
			h.g.m.messagesUnroutable.inc()
			continue
		}
		if c.hold != nil && !h.holdMsg(c, b, i) {
			continue
		}
		if c.batched && b.to == nil {
			if grouped == nil {
				grouped = newClientGroups(len(b.msgs))
			}
			grouped.add(c, i)
			continue
		}
		f := outFrame{b: b, i: i, last: h.wire.last(m.Val)}
		c.enqueue(f)
		if b.to == nil {
			h.channelStatus(c, m.Val)
		}
	}
	if grouped != nil {
		h.routeBatched(b, grouped)
	}
}

// clientGroups is a batch's messages by client, for S9 frames, in the order clients first appear.
// It allocates per batch, not per client: a sized poll of 5,000 messages for 5,000 clients makes
// one map and three slices, and the clients' index lists share one array (idx).
type clientGroups struct {
	conns []*conn
	at    map[*conn]int32
	msgs  []int32 // the grouped messages, in batch order
	group []int32 // parallel to msgs: the index in conns of each one's client
}

func newClientGroups(n int) *clientGroups {
	return &clientGroups{at: make(map[*conn]int32, min(n, 1024)), msgs: make([]int32, 0, n), group: make([]int32, 0, n)}
}

func (g *clientGroups) add(c *conn, i int) {
	j, ok := g.at[c]
	if !ok {
		j = int32(len(g.conns))
		g.at[c] = j
		g.conns = append(g.conns, c)
	}
	g.msgs = append(g.msgs, int32(i))
	g.group = append(g.group, j)
}

// idx returns each client's messages, in batch order, as slices of one array.
func (g *clientGroups) idx() [][]int32 {
	off := make([]int32, len(g.conns)+1)
	for _, j := range g.group {
		off[j+1]++
	}
	for j := range g.conns {
		off[j+1] += off[j]
	}
	all := make([]int32, len(g.msgs))
	next := append([]int32(nil), off[:len(g.conns)]...)
	for k, j := range g.group {
		all[next[j]] = g.msgs[k]
		next[j]++
	}
	idx := make([][]int32, len(g.conns))
	for j := range idx {
		idx[j] = all[off[j]:off[j+1]:off[j+1]]
	}
	return idx
}

// routeBatched queues one S9 frame per client of g, then updates the clients' channel state from
// their service messages, as route does after each S6 (with h.mu held).
func (h *hub) routeBatched(b *batch, g *clientGroups) {
	for j, idx := range g.idx() {
		c := g.conns[j]
		last := idx[len(idx)-1]
		c.enqueue(outFrame{b: b, i: int(last), idx: idx, last: h.wire.last(b.msgs[last].Val)})
		for _, i := range idx {
			h.channelStatus(c, b.msgs[i].Val)
		}
	}
}

// checkBatch checks that a batch continues the cursor: a certificate and a tree if there are
// messages, every key this gateway's, nonces strictly increasing from at or after cursor. A batch
// that breaks this order is refused. It returns the cursor after the batch and whether nonces
// were skipped (gap): the canister deletes messages it has not given out yet when their client
// closes or moves to another gateway, when they expire and when the gateway's queue overflows, so
// gaps are allowed and counted. For the first batch of a poller (fresh) any start is normal: the
// canister keeps only recent messages, and a gateway that comes back starts above every nonce
// used before.
func checkBatch(res *protocol.CertMessages, gateway string, cursor uint64, fresh bool) (next uint64, gap bool, err error) {
	if len(res.Messages) == 0 {
		return cursor, false, nil
	}
	if len(res.Cert) == 0 || len(res.Tree) == 0 {
		return cursor, false, fmt.Errorf("%w: %d messages without a certificate or tree", errBatch, len(res.Messages))
	}
	var prev uint64
	for i := range res.Messages {
		gw, nonce, err := protocol.ParseKey(res.Messages[i].Key)
		if err != nil {
			return cursor, false, fmt.Errorf("%w: message %d: %w", errBatch, i, err)
		}
		if gw != gateway {
			return cursor, false, fmt.Errorf("%w: message %d has key %q of another gateway", errBatch, i, res.Messages[i].Key)
		}
		switch {
		case i == 0 && nonce < cursor:
			return cursor, false, fmt.Errorf("%w: first nonce %d is before the cursor %d", errBatch, nonce, cursor)
		case i == 0:
			gap = nonce > cursor && !fresh
		case nonce <= prev:
			return cursor, false, fmt.Errorf("%w: nonce %d follows %d", errBatch, nonce, prev)
		case nonce > prev+1:
			gap = true
		}
		prev = nonce
	}
	if prev == ^uint64(0) {
		return cursor, false, fmt.Errorf("%w: nonce %d leaves no room for the next", errBatch, prev)
	}
	return prev + 1, gap, nil
}
