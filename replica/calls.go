package replica

import (
	"context"
	"fmt"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica/wasmhost"
)

// A callContext is one message that must be answered, as in the interface spec's "call
// contexts": an ingress message, a call from a canister, or a message nobody waits for (a global
// timer). The message that opens it, and the callbacks of the calls it makes, may answer it;
// once it is answered and none of its calls is outstanding it is closed.
//
// Execution inside a round is a queue of tasks: a request opens a context at its callee and runs
// the method; a call the method performs becomes a request task, its answer a response task that
// runs the caller's callback in the caller's context. A round runs tasks until the queue is empty
// or maxTasksPerRound is reached; what is left waits for the next round.
type callContext struct {
	callee *canister // nil for the management canister

	// The origin: ingress, or a canister call (from, with its callback, made in parent), or
	// neither.
	ingress *ingress
	from    *canister
	cb      wasmhost.Callback
	parent  *callContext

	answered bool
	pending  int  // calls made in this context and not answered yet
	held     bool // a management call that answers later (stop_canister waiting for calls to end)
	closed   bool
}

// taskKind tells a request from a response.
type taskKind uint8

const (
	taskRequest taskKind = iota
	taskResponse
)

// task is one message to execute in a round.
type task struct {
	kind taskKind
	cc   *callContext // request: the callee's new context; response: the caller's context

	// request
	caller principal.Principal
	callee principal.Principal
	method string
	arg    []byte

	// response: the callback to run and the answer it gets
	cb     wasmhost.Callback
	answer outcome
}

// maxTasksPerRound bounds the work of one round; the rest waits for the next.
const maxTasksPerRound = 10_000

// maxCallDepth bounds how deep calls may nest (a canister calling itself forever).
const maxCallDepth = 1_000

// newContext opens a call context at c (nil: the management canister).
func (r *Replica) newContext(c *canister) *callContext {
	if c != nil {
		c.open++
	}
	return &callContext{callee: c}
}

// runTasks executes queued tasks, bounded by maxTasksPerRound.
func (r *Replica) runTasks(ctx context.Context, now uint64) {
	for n := 0; n < maxTasksPerRound && len(r.tasks) > 0; n++ {
		t := r.tasks[0]
		r.tasks[0] = nil
		r.tasks = r.tasks[1:]
		switch t.kind {
		case taskRequest:
			r.runRequest(ctx, t, now)
		case taskResponse:
			r.runResponse(ctx, t, now)
		}
	}
	if len(r.tasks) == 0 {
		r.tasks = r.tasksBuf[:0]
	}
}

// runRequest delivers a request to its callee.
func (r *Replica) runRequest(ctx context.Context, t *task, now uint64) {
	cc := t.cc
	if t.callee == principal.Management() {
		if o, done := r.manage(ctx, cc, t.caller, t.method, t.arg, now); done {
			r.answer(cc, o)
			r.maybeClose(cc)
		}
		return
	}
	if isStandin(t.callee) {
		r.answer(cc, r.standin(t.callee, t.caller, t.method, t.arg, false, now))
		r.maybeClose(cc)
		return
	}
	c := cc.callee
	if c == nil {
		r.answer(cc, canisterNotFound(t.callee))
		r.maybeClose(cc)
		return
	}
	if o, ok := c.refuse(t.method, false); !ok {
		r.answer(cc, o)
		r.maybeClose(cc)
		return
	}
	entry := wasmhost.EntryUpdate
	if !c.hasUpdate(t.method) {
		entry = wasmhost.EntryQuery // a query called as an update runs in replicated mode
	}
	res := c.exec(ctx, c.message(entry, t.caller, t.method, t.arg, now))
	r.afterRun(cc, c, res, now)
}

// runResponse runs the callback of a call c made in context cc with the call's answer.
func (r *Replica) runResponse(ctx context.Context, t *task, now uint64) {
	cc := t.cc
	c := cc.callee
	cc.pending--
	if c == nil || c.inst == nil {
		// The caller was deleted or uninstalled meanwhile: the answer has nowhere to go.
		r.maybeClose(cc)
		return
	}
	var m *wasmhost.Message
	if t.answer.replied {
		m = c.message(wasmhost.EntryReplyCallback, c.id, "", t.answer.reply, now)
	} else {
		m = c.message(wasmhost.EntryRejectCallback, c.id, "", nil, now)
		m.RejectCode = uint32(t.answer.rejectCode)
		m.RejectMessage = t.answer.rejectMsg
	}
	m.Callback = t.cb
	res := c.exec(ctx, m)
	if res.TrapKind != wasmhost.TrapNone && t.cb.Cleanup != nil {
		cm := c.message(wasmhost.EntryCleanup, c.id, "", nil, now)
		cm.Callback = t.cb
		if cr := c.exec(ctx, cm); cr.TrapKind != wasmhost.TrapNone {
			c.log.Info("canister cleanup callback trapped", "canister", c.label(), "trap", cr.Trap)
		}
	}
	r.afterRun(cc, c, res, now)
}

// afterRun applies the result of a message that ran in context cc of canister c: its answer, if
// any, and the calls it made; then closes the context if it is done.
func (r *Replica) afterRun(cc *callContext, c *canister, res *wasmhost.Result, now uint64) {
	if res.TrapKind != wasmhost.TrapNone {
		if !cc.answered {
			r.answer(cc, trapOutcome(c.id, res))
		}
		r.maybeClose(cc)
		return
	}
	for i := range res.Calls {
		call := &res.Calls[i]
		callee := r.byID[call.Callee]
		child := r.newContext(callee)
		child.from, child.cb, child.parent = c, call.Callback, cc
		cc.pending++
		t := &task{kind: taskRequest, cc: child, caller: c.id, callee: call.Callee, method: call.Method, arg: call.Arg}
		if depth(cc) >= maxCallDepth {
			r.answer(child, outcome{
				rejectCode: envelope.CanisterError,
				errorCode:  errCanisterTrapped,
				rejectMsg:  fmt.Sprintf("Canister %s: calls nested more than %d deep.", c.id, maxCallDepth),
			})
			r.maybeClose(child)
			continue
		}
		r.tasks = append(r.tasks, t)
	}
	if res.Replied || res.Rejected {
		if cc.answered {
			c.log.Warn("canister answered a call twice; the second answer is dropped", "canister", c.label())
		} else {
			r.answer(cc, resultOutcome(c.id, res))
		}
	}
	r.maybeClose(cc)
}

// depth returns how many canister calls lead to cc.
func depth(cc *callContext) int {
	n := 0
	for ; cc != nil && cc.parent != nil; cc = cc.parent {
		n++
	}
	return n
}

// answer answers cc with o: an ingress message gets its status, a canister call a response task.
func (r *Replica) answer(cc *callContext, o outcome) {
	if cc.answered {
		return
	}
	cc.answered = true
	switch {
	case cc.ingress != nil:
		r.finishIngress(cc.ingress, o)
	case cc.from != nil:
		r.tasks = append(r.tasks, &task{kind: taskResponse, cc: cc.parent, cb: cc.cb, answer: o})
	}
}

// maybeClose closes cc when it is answered, or can no longer be, and nothing is outstanding.
func (r *Replica) maybeClose(cc *callContext) {
	if cc.closed || cc.pending > 0 || cc.held {
		return
	}
	if !cc.answered {
		// No callback is left that could answer it.
		id := principal.Management()
		if cc.callee != nil {
			id = cc.callee.id
		}
		r.answer(cc, outcome{
			rejectCode: envelope.CanisterError,
			errorCode:  errCanisterDidNotReply,
			rejectMsg:  fmt.Sprintf("Error from Canister %s: Canister did not reply to the call.", id),
		})
	}
	cc.closed = true
	c := cc.callee
	if c == nil {
		return
	}
	c.open--
	if c.open == 0 && c.status == wasmhost.StatusStopping {
		r.stopped(c)
	}
}

// stopped completes the stopping of c: its status becomes stopped and the stop_canister calls
// waiting for it are answered.
func (r *Replica) stopped(c *canister) {
	c.status = wasmhost.StatusStopped
	r.bump(c)
	for _, s := range c.stoppers {
		s.held = false
		r.answer(s, replyOutcome(emptyReply))
		r.maybeClose(s)
	}
	c.stoppers = nil
}
