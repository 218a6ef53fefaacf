package activation

import (
	"errors"
	"time"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// passivation is an activation's orderly end: save, release ownership, stop.
type passivation struct {
	reason   string
	waiters  []any     // Passivate callers
	deadline time.Time // when an unfinished final save is abandoned
}

func (m *Machine) onPassivate(now time.Time, e Passivate) {
	reason := e.Reason
	if reason == "" {
		reason = "requested"
	}
	switch m.phase {
	case phaseEnded:
		m.reply(e.ReplyTo, &hearthv1.PassivateResponse{SavedSeq: m.savedSeq})
	case phaseAcquiring:
		// Nothing is loaded. An acquire in flight may still grant
		// ownership, which is then given back (onAcquireDone).
		m.passivating = &passivation{reason: reason}
		m.addPassivateWaiter(e.ReplyTo)
		m.phase = phasePassivating
		m.stopServing()
		m.turnAway("passivating")
		m.passivating.deadline = now.Add(m.cfg.Timing.PassivateTimeout)
		if !m.acq.inflight {
			m.finishPassivation(now, false)
		}
	default:
		m.beginPassivation(now, reason, e.ReplyTo)
	}
}

func (m *Machine) addPassivateWaiter(to any) {
	if to != nil {
		m.passivating.waiters = append(m.passivating.waiters, to)
	}
}

// turnAway answers every request not yet served with NotServing: none was
// applied, so the shell hands them to the next activation.
func (m *Machine) turnAway(reason string) {
	for _, r := range m.queue {
		m.reply(r.ReplyTo, NotServing{Reason: reason})
	}
	m.queue = nil
	for _, w := range m.acquirers {
		m.reply(w.req.ReplyTo, NotServing{Reason: reason})
	}
	m.acquirers = nil
}

// beginPassivation stops serving (the shell routes new requests to the next
// activation, which waits until this one has stopped) and starts the final
// save, which releases ownership in the same write.
func (m *Machine) beginPassivation(now time.Time, reason string, replyTo any) {
	if m.passivating != nil {
		m.addPassivateWaiter(replyTo)
		return
	}
	m.cfg.Logger.Debug("passivating", "profile", m.key.String(), "reason", reason, "dirty", m.dirty())
	m.passivating = &passivation{reason: reason}
	m.addPassivateWaiter(replyTo)
	m.phase = phasePassivating
	m.stopServing()
	m.turnAway("passivating")
	m.lingerAt, m.autosaveAt = time.Time{}, time.Time{}
	m.passivating.deadline = now.Add(m.cfg.Timing.PassivateTimeout)
	if p := m.parked; p != nil {
		if p.write {
			return // a delete in flight finishes first; its answer ends or saves
		}
		m.reply(p.req.ReplyTo, NotServing{Reason: "passivating"})
		m.parked = nil
	}
	m.flush(now)
}

// finishPassivation ends an orderly passivation: everything is saved and
// ownership released (handedOff), or nothing was ever owned.
func (m *Machine) finishPassivation(now time.Time, handedOff bool) {
	p := m.passivating
	m.cfg.Metrics.Passivations.WithLabelValues(p.reason).Inc()
	for _, w := range p.waiters {
		m.reply(w, &hearthv1.PassivateResponse{SavedSeq: m.savedSeq})
	}
	m.emit().HandedOff = handedOff
	m.end(now, errNotServing)
}

func (m *Machine) onReleaseDone(now time.Time, d ReleaseDone) {
	if m.phase != phasePassivating {
		return // a best-effort release (failed load, abandon): nothing waits for it
	}
	switch {
	case d.Err == nil, errors.Is(d.Err, persistence.ErrNotFound):
		m.finishPassivation(now, true)
	case errors.Is(d.Err, persistence.ErrFenced):
		m.fence(now, "release")
	default:
		m.cfg.Logger.Warn("release failed; retrying", "profile", m.key.String(), "err", d.Err)
		m.retryDelay = min(max(2*m.retryDelay, m.cfg.Timing.SaveRetry), m.cfg.Timing.SaveRetryMax)
		m.saveRetryAt = now.Add(m.retryDelay)
	}
}

// abandon ends a passivation whose final save could not commit in time. The
// unsaved changes are lost, as in a crash; ownership is released if the
// store allows, so the next owner need not wait for this node's lease.
func (m *Machine) abandon(now time.Time) {
	m.cfg.Logger.Error("final save did not commit in time; unsaved changes are lost", "profile", m.key.String(),
		"saved_seq", m.savedSeq, "version", m.version, "saved_version", m.savedVersion)
	if m.epoch != 0 {
		m.emit().Release = &ReleaseCall{Epoch: m.epoch}
	}
	err := errorf(codeUnavailable, "profile %s could not be saved before it stopped", m.key)
	m.cfg.Metrics.Passivations.WithLabelValues("abandoned").Inc()
	for _, w := range m.passivating.waiters {
		m.reply(w, &hearthv1.PassivateResponse{Error: protoErr(err)})
	}
	m.failWaiters(^uint64(0), err)
	m.end(now, errNotServing)
}

// fence stops an activation that lost ownership: another activation took
// the profile, so this one must not write again. Every waiting caller gets
// FENCED; nothing is saved or released.
func (m *Machine) fence(now time.Time, during string) {
	m.cfg.Metrics.Fenced.Inc()
	m.cfg.Metrics.Passivations.WithLabelValues("fenced").Inc()
	m.cfg.Logger.Warn("fenced: another activation owns this profile; stopping without writing", "profile", m.key.String(),
		"during", during, "epoch", m.epoch, "unsaved_versions", m.version-m.savedVersion)
	err := errorf(codeFenced, "profile %s was taken by another activation; retry to reach it", m.key)
	m.failWaiters(^uint64(0), err)
	if m.passivating != nil {
		for _, w := range m.passivating.waiters {
			m.reply(w, &hearthv1.PassivateResponse{Error: protoErr(err)})
		}
	}
	m.end(now, err)
}

// gone stops an activation whose profile was deleted by a newer owner.
func (m *Machine) gone(now time.Time) {
	m.cfg.Logger.Warn("profile was deleted by another activation; stopping", "profile", m.key.String())
	m.cfg.Metrics.Passivations.WithLabelValues("gone").Inc()
	m.failWaiters(^uint64(0), errorf(codeNotFound, "profile %s was deleted", m.key))
	if m.passivating != nil {
		for _, w := range m.passivating.waiters {
			m.reply(w, &hearthv1.PassivateResponse{})
		}
	}
	m.end(now, errNotServing) // later requests go to the next activation
}

// end tells watchers the activation ended and stops it.
func (m *Machine) end(now time.Time, reason error) {
	ev := &hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED}
	if reason != nil && reason != errNotServing {
		ev.Error = protoErr(reason)
	}
	m.publish(ev)
	m.endNow(reason)
}

// endNow stops the activation: every request still waiting is answered
// (requests that were never applied go to the next activation, or get the
// failure that ended this one), and the actor is asked to stop.
func (m *Machine) endNow(reason error) {
	m.phase = phaseEnded
	m.endReason = reason
	m.stopServing()
	m.emit().Stop = true
	for _, r := range m.queue {
		m.replyEnded(r)
	}
	m.queue = nil
	for _, w := range m.acquirers {
		m.replyEnded(w.req)
	}
	m.acquirers = nil
	if p := m.parked; p != nil {
		m.replyEnded(p.req)
		m.parked = nil
	}
	if len(m.waiters) > 0 {
		// Applied but not known to be durable: the outcome is unknown.
		m.failWaiters(^uint64(0), errorf(codeUnavailable, "profile %s stopped before the change was saved; retry with the same idempotency key to learn whether it was", m.key))
	}
	m.cfg.Metrics.Loaded.Dec()
	m.doc, m.docBytes, m.records = nil, nil, records{}
}
