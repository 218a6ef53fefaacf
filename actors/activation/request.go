package activation

import (
	"time"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// parked is a request waiting for a store call (an idempotency record, a
// retained version, a delete). Requests behind it wait in the queue, so a
// profile's requests take effect in the order they arrived.
type parked struct {
	req    Request
	readNo uint64
	// write: the store call is a write (a delete) that must finish even if
	// the activation starts passivating meanwhile.
	write bool
	// resume continues the request with the store's answer.
	resume func(now time.Time, r ReadDone)
}

// onRequest queues a request; serveQueue serves it when the activation is
// active and no earlier request is parked.
func (m *Machine) onRequest(now time.Time, r Request) {
	switch m.phase {
	case phaseEnded:
		m.replyEnded(r)
		return
	case phasePassivating:
		m.reply(r.ReplyTo, NotServing{Reason: "passivating"})
		return
	}
	if m.phase == phaseActive && m.parked == nil && len(m.queue) == 0 {
		m.serveOne(now, r) // nothing ahead of it: no queue
		return
	}
	m.queue = append(m.queue, r)
}

// replyEnded answers a request that reached an activation after it ended.
func (m *Machine) replyEnded(r Request) {
	if m.endReason == nil || m.endReason == errNotServing {
		m.reply(r.ReplyTo, NotServing{Reason: "ended"})
		return
	}
	m.replyError(r, m.endReason)
}

// serveQueue serves queued requests in order while it can.
func (m *Machine) serveQueue(now time.Time) {
	for m.phase == phaseActive && m.parked == nil && len(m.queue) > 0 {
		r := m.queue[0]
		m.queue[0] = Request{}
		m.queue = m.queue[1:]
		if len(m.queue) == 0 {
			m.queue = nil
		}
		m.serveOne(now, r)
	}
}

// serveOne serves a request unless its caller has given up.
func (m *Machine) serveOne(now time.Time, r Request) {
	if !r.Deadline.IsZero() && !now.Before(r.Deadline) {
		// The caller gave up: it was told UNAVAILABLE (outcome unknown)
		// or nothing, so applying it now would surprise it.
		m.replyError(r, errorf(codeUnavailable, "the request waited past its deadline before profile %s could serve it; it was not applied", m.key))
		return
	}
	m.serve(now, r)
}

// serve answers one request.
func (m *Machine) serve(now time.Time, r Request) {
	if _, status := r.Msg.(*hearthv1.StatusRequest); !status {
		m.lastActivity = now
	}
	switch msg := r.Msg.(type) {
	case *hearthv1.AcquireRequest:
		m.onAcquire(now, r, msg)
	case *hearthv1.HeartbeatRequest:
		m.onHeartbeat(now, r, msg)
	case *hearthv1.ReleaseRequest:
		m.onRelease(now, r, msg)
	case *hearthv1.GetRequest:
		m.onGet(r, msg)
	case *hearthv1.UpdateRequest:
		m.onUpdate(now, r, msg)
	case *hearthv1.PurchaseRequest:
		m.onPurchase(now, r, msg)
	case *hearthv1.SaveRequest:
		m.onSave(now, r)
	case *hearthv1.DeleteRequest:
		m.onDelete(now, r, msg)
	case *hearthv1.StatusRequest:
		m.onStatus(now, r)
	case *hearthv1.RestoreRequest:
		m.onRestore(now, r, msg)
	case *hearthv1.WatchRequest:
		m.onWatch(r)
	case *hearthv1.PassivateRequest:
		reason := msg.GetReason()
		if reason == "" {
			reason = "requested"
		}
		m.beginPassivation(now, reason, r.ReplyTo)
	default:
		m.replyError(r, errorf(codeInvalidArgument, "a profile does not serve %T", r.Msg))
	}
}

// park holds r until the store answers; later requests queue behind. call
// is the read to make, or nil when the caller issues another store call
// (a delete) whose answer resumes it.
func (m *Machine) park(r Request, call *ReadCall, resume func(now time.Time, d ReadDone)) {
	m.readNo++
	m.parked = &parked{req: r, readNo: m.readNo, resume: resume, write: call == nil}
	if call != nil {
		call.No = m.readNo
		m.emit().Reads = append(m.emit().Reads, *call)
	}
}

func (m *Machine) onReadDone(now time.Time, d ReadDone) {
	p := m.parked
	if p == nil || p.readNo != d.No {
		return // answered already (the activation stopped serving)
	}
	m.parked = nil
	if m.phase != phaseActive && !p.write {
		m.reply(p.req.ReplyTo, NotServing{Reason: "passivating"})
		return
	}
	p.resume(now, d)
}
