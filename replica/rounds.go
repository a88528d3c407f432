package replica

import (
	"context"
	"errors"
	"time"

	"github.com/icws/icws/ic/principal"
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

// runRound executes one round: the queued ingress messages in arrival order and the calls and
// responses they lead to, then due global timers, then pruning of old request statuses, then
// certification of the new state. Waiters of the answered calls are woken once the certificate
// covers them.
func (r *Replica) runRound() {
	r.inMu.Lock()
	batch := r.queue
	r.queue = r.spare[:0]
	r.inMu.Unlock()
	r.lastBatch = len(batch)
	ctx := context.Background()

	r.mu.Lock()
	now := r.nextTime()
	r.roundNow = now
	for _, m := range batch {
		c := r.byID[m.canister]
		if m.canister == principal.Management() || isStandin(m.canister) {
			c = nil
		} else if c == nil {
			// Deleted after the call was accepted.
			r.finishIngress(m, canisterNotFound(m.canister))
			continue
		}
		cc := r.newContext(c)
		cc.ingress = m
		r.inducted = append(r.inducted, m)
		r.tasks = append(r.tasks, &task{kind: taskRequest, cc: cc, caller: m.sender, callee: m.canister, method: m.method, arg: m.arg})
		m.arg = nil
	}
	r.runTasks(ctx, now)
	for _, c := range r.order {
		r.fireTimer(ctx, c, now)
	}
	r.runTasks(ctx, now)
	for _, m := range r.inducted {
		if !m.answered {
			r.state.statuses.put(newStatusEntry(m.id, statusForest(statusProcessing, nil)))
		}
	}
	clear(r.inducted)
	r.inducted = r.inducted[:0]
	changed := r.canistersChanged
	for _, c := range r.order {
		changed = changed || c.certDirty
	}
	if changed {
		r.state.setCanisters(r.order)
	}
	if r.canistersChanged {
		r.canistersChanged = false
		r.publishDirectory()
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
	if r.store != nil {
		r.persist(ctx, now)
	}
	r.state.certify(r.keys.root, now)
	for _, c := range r.order {
		c.dataCert.Store(nil)
	}
	r.nextTimer = r.earliestTimer()
	finished := r.finished
	r.finished = r.finished[len(r.finished):]
	r.mu.Unlock()

	for i, m := range finished {
		close(m.done)
		finished[i] = nil
	}
	r.finished = finished[:0]
	if k > 0 {
		r.inMu.Lock()
		for _, m := range pruned {
			delete(r.known, m.id)
		}
		r.inMu.Unlock()
		clear(pruned)
		r.completed = r.completed[k:]
	}
	clear(batch)
	r.inMu.Lock()
	r.spare = batch[:0]
	r.inMu.Unlock()
	if len(r.tasks) > 0 {
		r.kick() // work carried over
	}
}

// finishIngress records the final status of an ingress message; its waiters are woken after the
// round's certification.
func (r *Replica) finishIngress(m *ingress, o outcome) {
	if m.answered {
		return
	}
	m.answered = true
	status := statusReplied
	if !o.replied {
		status = statusRejected
	}
	r.state.statuses.put(newStatusEntry(m.id, statusForest(status, &o)))
	m.arg = nil
	m.pruneAt = max(r.roundNow+uint64(StatusTTL), m.expiry)
	if r.store != nil {
		m.result, m.answeredAt = &o, r.roundNow
	}
	r.completed = append(r.completed, m)
	r.finished = append(r.finished, m)
}
