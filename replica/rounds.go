package replica

import (
	"errors"
	"time"
)

// errOverloaded is returned by submit when the ingress queue is full.
var errOverloaded = errors.New("replica: ingress queue full")

// submit queues an accepted call. If a call with the same request id is known (queued, running or
// completed and not yet pruned), it returns that one instead and queues nothing: as on the IC, a
// request id executes at most once.
func (r *Replica) submit(m *ingress) (*ingress, error) {
	r.inMu.Lock()
	if prev, ok := r.known[m.id]; ok {
		r.inMu.Unlock()
		return prev, nil
	}
	if len(r.queue) >= maxQueued {
		r.inMu.Unlock()
		return nil, errOverloaded
	}
	m.done = make(chan struct{})
	r.known[m.id] = m
	r.queue = append(r.queue, m)
	r.inMu.Unlock()
	r.kick()
	return m, nil
}

// lookupIngress returns the known call with the given id, or nil.
func (r *Replica) lookupIngress(id [32]byte) *ingress {
	r.inMu.Lock()
	defer r.inMu.Unlock()
	return r.known[id]
}

// kick asks the round loop for a round.
func (r *Replica) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// loop runs rounds until the replica stops: when work is queued (paced by the round time), when a
// global timer may be due, and at least every idleRound so that the certified time stays fresh.
func (r *Replica) loop() {
	defer close(r.loopDone)
	idle := time.NewTimer(r.idleDelay())
	defer idle.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.wake:
		case <-idle.C:
		}
		gap := r.round
		if gap == 0 && r.lastBatch > 1 {
			// Calls are arriving concurrently: let more of them share the next round.
			gap = minRoundGap
		}
		if gap > 0 {
			if wait := time.Until(r.lastRound.Add(gap)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-r.stop:
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
		r.lastRound = time.Now()
		r.runRound()
		idle.Reset(r.idleDelay())
	}
}

// idleDelay is how long the loop may sleep when nothing is queued.
func (r *Replica) idleDelay() time.Duration {
	d := idleRound
	if r.round > 0 {
		d = r.round
	}
	if r.nextTimer != 0 {
		until := time.Duration(int64(r.nextTimer) - r.clock().UnixNano())
		if until < d {
			d = max(until, time.Millisecond)
		}
	}
	return d
}

// runRound executes one round: the queued calls in arrival order, then due global timers, then
// pruning of old request statuses, then certification of the new state. Waiters of the executed
// calls are woken once the certificate covers them.
func (r *Replica) runRound() {
	r.inMu.Lock()
	batch := r.queue
	r.queue = r.spare[:0]
	r.inMu.Unlock()
	r.lastBatch = len(batch)

	r.mu.Lock()
	now := r.nextTime()
	certChanged := false
	for _, m := range batch {
		o := m.c.update(m.sender, m.method, m.arg, now)
		status := statusReplied
		if !o.replied {
			status = statusRejected
		}
		r.state.statuses.put(newStatusEntry(m.id, statusForest(status, &o)))
		m.arg = nil
		m.pruneAt = max(now+uint64(StatusTTL), m.expiry)
		r.completed = append(r.completed, m)
	}
	for _, c := range r.canisters {
		c.fireTimer(now)
	}
	for _, c := range r.canisters {
		if c.certDirty {
			c.certDirty = false
			certChanged = true
		}
	}
	if certChanged {
		r.state.setCanisters(r.canisters)
	}
	// Prune statuses whose time is up. completed is in completion order; pruneAt is nearly
	// monotonic (it can be later for calls with a far expiry), so a late one delays the ones
	// behind it by at most PermittedDrift.
	k := 0
	for k < len(r.completed) && r.completed[k].pruneAt < now {
		r.state.statuses.remove(r.completed[k].id)
		k++
	}
	pruned := r.completed[:k]
	r.state.certify(r.keys.root, now)
	for _, c := range r.canisters {
		c.dataCert.Store(nil)
	}
	r.nextTimer = r.earliestTimer()
	r.mu.Unlock()

	for i, m := range batch {
		close(m.done)
		batch[i] = nil
	}
	if k > 0 {
		r.inMu.Lock()
		for _, m := range pruned {
			delete(r.known, m.id)
		}
		r.inMu.Unlock()
		clear(pruned)
		r.completed = r.completed[k:]
	}
	r.inMu.Lock()
	r.spare = batch[:0]
	r.inMu.Unlock()
}
