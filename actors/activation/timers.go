package activation

import (
	"bytes"
	"time"
)

// The machine keeps its deadlines as instants and asks the shell, through
// Ready.WakeAt, to Tick it at the earliest one. There are no timers per
// activation: a node-wide scheduler holds one entry per activation, and an
// activation with nothing pending (saved, no session, not idle yet) asks to
// be woken only for its idle check.

// wakeAt is the earliest instant at which a Tick has something to do.
func (m *Machine) wakeAt() time.Time {
	var at time.Time
	early := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	switch m.phase {
	case phaseAcquiring:
		if !m.acq.inflight {
			early(m.acq.retryAt)
		}
	case phaseActive:
		early(m.autosaveAt)
		early(m.saveRetryAt)
		early(m.lingerAt)
		if m.sess.Holder != "" {
			early(m.sess.ExpiresAt)
		}
		for _, w := range m.acquirers {
			early(w.deadline)
		}
		if m.sess.Holder == "" && len(m.acquirers) == 0 {
			early(m.lastActivity.Add(m.cfg.Timing.IdleTimeout))
		}
		if m.compactable() {
			early(m.lastActivity.Add(m.cfg.Timing.CompactAfter))
		}
	case phasePassivating:
		early(m.saveRetryAt)
		early(m.passivating.deadline)
	}
	return at
}

// due reports whether deadline t has come.
func due(t, now time.Time) bool { return !t.IsZero() && !now.Before(t) }

// onTick does whatever has come due.
func (m *Machine) onTick(now time.Time) {
	switch m.phase {
	case phaseAcquiring:
		if !m.acq.inflight && due(m.acq.retryAt, now) {
			m.askOwnership()
		}
	case phaseActive:
		m.tickActive(now)
	case phasePassivating:
		if due(m.passivating.deadline, now) {
			m.abandon(now)
			return
		}
		if due(m.saveRetryAt, now) {
			m.saveRetryAt = time.Time{}
			m.flush(now)
		}
	}
}

func (m *Machine) tickActive(now time.Time) {
	if due(m.saveRetryAt, now) {
		m.saveRetryAt = time.Time{}
		m.flush(now)
	}
	if due(m.autosaveAt, now) {
		m.autosaveAt = time.Time{}
		if m.dirty() {
			m.flush(now)
		}
	}
	sessionDue := m.sess.Holder != "" && due(m.sess.ExpiresAt, now)
	for _, w := range m.acquirers {
		sessionDue = sessionDue || due(w.deadline, now)
	}
	if sessionDue {
		m.lapseSession(now)
		m.serveAcquirers(now)
	}
	if due(m.lingerAt, now) {
		m.lingerAt = time.Time{}
		if !m.sess.Held(now) && len(m.acquirers) == 0 {
			// Requests without a session (reads, cross-server updates) keep
			// a released profile loaded for another linger.
			if quiet := now.Sub(m.lastActivity); quiet < m.cfg.Timing.ReleaseLinger {
				m.lingerAt = m.lastActivity.Add(m.cfg.Timing.ReleaseLinger)
			} else {
				m.beginPassivation(now, "release", nil)
				return
			}
		}
	}
	if m.sess.Holder == "" && len(m.acquirers) == 0 && due(m.lastActivity.Add(m.cfg.Timing.IdleTimeout), now) {
		m.beginPassivation(now, "idle", nil)
		return
	}
	if m.compactable() && due(m.lastActivity.Add(m.cfg.Timing.CompactAfter), now) {
		m.compact()
	}
}

// compactable reports whether the decoded document could be dropped: it is
// saved and nothing is in flight.
func (m *Machine) compactable() bool {
	return m.doc != nil && !m.dirty() && m.inflight == nil && m.parked == nil
}

// compact keeps only the document's JSON; the next request that needs its
// values decodes it again.
func (m *Machine) compact() {
	b, err := m.encoded()
	if err != nil {
		return // keep the decoded form; it stays usable
	}
	if cap(b) > len(b)+len(b)/8 {
		m.docBytes = bytes.Clone(b) // the encoder's spare capacity, kept for hours otherwise
	}
	m.doc = nil
}
