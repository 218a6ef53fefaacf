package activation

import (
	"errors"
	"time"

	"github.com/hearth-profiles/hearth/actors/session"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// acquireWaiter is an Acquire in wait mode, answered when the session frees
// up or its deadline passes.
type acquireWaiter struct {
	req      Request
	msg      *hearthv1.AcquireRequest
	deadline time.Time
}

func sessionMode(m hearthv1.AcquireMode) (session.Mode, bool) {
	switch m {
	case hearthv1.AcquireMode_ACQUIRE_MODE_UNSPECIFIED, hearthv1.AcquireMode_ACQUIRE_MODE_FAIL:
		return session.ModeFail, true
	case hearthv1.AcquireMode_ACQUIRE_MODE_WAIT:
		return session.ModeWait, true
	case hearthv1.AcquireMode_ACQUIRE_MODE_STEAL:
		return session.ModeSteal, true
	default:
		return 0, false
	}
}

func (m *Machine) onAcquire(now time.Time, r Request, msg *hearthv1.AcquireRequest) {
	mode, ok := sessionMode(msg.GetMode())
	if !ok {
		m.replyError(r, errorf(codeInvalidArgument, "mode %d is not one of ACQUIRE_MODE_FAIL, ACQUIRE_MODE_WAIT, ACQUIRE_MODE_STEAL", msg.GetMode()))
		return
	}
	// No lapseSession first: Acquire treats an expired holder as gone and
	// names it in Previous, which Lapse would forget.
	resp, res, err := m.tryAcquire(now, msg, mode)
	if err != nil {
		m.replyError(r, err)
		return
	}
	switch res.Outcome {
	case session.Wait:
		wait := time.Duration(msg.GetWaitMs()) * time.Millisecond
		if wait <= 0 || wait > m.cfg.Timing.MaxAcquireWait {
			wait = m.cfg.Timing.MaxAcquireWait
		}
		m.acquirers = append(m.acquirers, acquireWaiter{req: r, msg: msg, deadline: now.Add(wait)})
	case session.Conflict:
		m.replyError(r, conflictError(res, false))
	default:
		m.reply(r.ReplyTo, resp)
	}
}

// tryAcquire runs the state machine and, on a grant, applies it: the new
// session, the events. resp is set for grants only.
func (m *Machine) tryAcquire(now time.Time, msg *hearthv1.AcquireRequest, mode session.Mode) (*hearthv1.AcquireResponse, session.AcquireResult, error) {
	st, res, err := m.sess.Acquire(session.AcquireRequest{
		Session:  msg.GetSessionId(),
		Mode:     mode,
		Now:      now,
		TTL:      m.cfg.Timing.SessionTTL,
		NewToken: m.cfg.NewToken(),
	})
	if err != nil {
		return nil, res, err
	}
	m.cfg.Metrics.SessionEvents.WithLabelValues(res.Outcome.String()).Inc()
	switch res.Outcome {
	case session.Granted, session.Stolen:
		m.sess = st
		m.sessGen++
		m.changed(now)
		kind := hearthv1.WatchEventKind_WATCH_EVENT_KIND_SESSION_STARTED
		if res.Outcome == session.Stolen {
			kind = hearthv1.WatchEventKind_WATCH_EVENT_KIND_SESSION_STOLEN
			m.cfg.Logger.Info("session stolen", "profile", m.key.String(), "session", st.Holder, "previous", res.Previous)
		}
		m.publish(&hearthv1.WatchEvent{Kind: kind, SessionId: st.Holder, PreviousSession: res.Previous})
	case session.Reused:
		m.sess = st // renewed expiry only; nothing to save
	default:
		return nil, res, nil
	}
	m.lingerAt = time.Time{}
	doc, err := m.encoded()
	if err != nil {
		return nil, res, err
	}
	return &hearthv1.AcquireResponse{
		Document:        string(doc),
		Version:         m.version,
		SessionToken:    res.Token,
		Reused:          res.Outcome == session.Reused,
		PreviousSession: res.Previous,
		SchemaVersion:   m.schema,
		SessionTtlMs:    uint32(m.cfg.Timing.SessionTTL.Milliseconds()),
		EventCursor:     m.cursorHere(),
		UserIds:         m.users,
	}, res, nil
}

// conflictError reports a session held by another; waited says whether the
// caller already waited (ACQUIRE_MODE_WAIT ran out).
func conflictError(res session.AcquireResult, waited bool) error {
	var e = errorf(codeSessionConflict, "session %q holds this profile for another %s; acquire with ACQUIRE_MODE_WAIT or ACQUIRE_MODE_STEAL, or retry later",
		res.Holder, res.Remaining.Round(time.Millisecond))
	if waited {
		e = errorf(codeSessionConflict, "session %q still held this profile when the wait ran out (it has %s left); retry later or acquire with ACQUIRE_MODE_STEAL",
			res.Holder, res.Remaining.Round(time.Millisecond))
	}
	e.HolderSession = res.Holder
	e.RetryAfter = res.Remaining
	return e
}

// serveAcquirers answers waiting Acquires in arrival order: the first one
// that can have the session gets it; expired waits get SESSION_CONFLICT.
func (m *Machine) serveAcquirers(now time.Time) {
	if len(m.acquirers) == 0 {
		return
	}
	kept := m.acquirers[:0]
	for _, w := range m.acquirers {
		resp, res, err := m.tryAcquire(now, w.msg, session.ModeWait)
		switch {
		case err != nil:
			m.replyError(w.req, err)
		case resp != nil:
			m.reply(w.req.ReplyTo, resp)
		case !now.Before(w.deadline):
			m.replyError(w.req, conflictError(res, true))
		default:
			kept = append(kept, w)
		}
	}
	clear(m.acquirers[len(kept):])
	m.acquirers = kept
	if len(kept) == 0 {
		m.acquirers = nil
	}
}

// lapseSession ends a session whose TTL passed without renewal.
func (m *Machine) lapseSession(now time.Time) {
	st, lapsed := m.sess.Lapse(now)
	if lapsed == "" {
		return
	}
	m.sess = st
	m.sessGen++
	m.changed(now)
	m.cfg.Metrics.SessionEvents.WithLabelValues("lapsed").Inc()
	m.publish(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_SESSION_LAPSED, SessionId: lapsed})
	m.lingerIfFree(now)
}

// checkToken validates and renews the session of a request that carries a
// token. Requests without a token are not session writes and pass.
func (m *Machine) checkToken(now time.Time, token string) error {
	if token == "" {
		return nil
	}
	st, err := m.sess.Check(token, now, m.cfg.Timing.SessionTTL)
	if err != nil {
		return err
	}
	m.sess = st
	return nil
}

// holderFor names the session making a change, for events.
func (m *Machine) holderFor(token string) string {
	if token == "" {
		return ""
	}
	return m.sess.Holder
}

func (m *Machine) onHeartbeat(now time.Time, r Request, msg *hearthv1.HeartbeatRequest) {
	if msg.GetSessionToken() == "" {
		m.replyError(r, errorf(codeInvalidArgument, "Heartbeat needs the session_token from Acquire"))
		return
	}
	m.lapseSession(now)
	if err := m.checkToken(now, msg.GetSessionToken()); err != nil {
		m.replyError(r, err)
		return
	}
	m.reply(r.ReplyTo, &hearthv1.HeartbeatResponse{SessionTtlMs: uint32(m.cfg.Timing.SessionTTL.Milliseconds())})
}

// onRelease ends the session, saves, and answers once the save committed.
// The profile then lingers, so the same server rejoining soon needs no
// reload, and passivates when the linger ends without a new session.
func (m *Machine) onRelease(now time.Time, r Request, msg *hearthv1.ReleaseRequest) {
	if msg.GetSessionToken() == "" {
		m.replyError(r, errorf(codeInvalidArgument, "Release needs the session_token from Acquire"))
		return
	}
	m.lapseSession(now)
	holder := m.sess.Holder
	st, err := m.sess.Release(msg.GetSessionToken(), now)
	var stale *session.StaleError
	if errors.As(err, &stale) && stale.Reason == session.ReasonReleased {
		// A retried Release whose first attempt released the session: the
		// same answer, once what it released is saved.
		m.addWaiter(now, saveWaiter{to: r.ReplyTo, version: m.version, answer: m.releaseAnswer})
		return
	}
	if err != nil {
		m.replyError(r, err)
		return
	}
	m.sess = st
	m.sessGen++
	m.changed(now)
	m.cfg.Metrics.SessionEvents.WithLabelValues("released").Inc()
	m.publish(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_SESSION_RELEASED, SessionId: holder})
	m.serveAcquirers(now)
	m.addWaiter(now, saveWaiter{to: r.ReplyTo, version: m.version, answer: m.releaseAnswer})
	m.lingerIfFree(now)
}

// releaseAnswer answers a Release once the save holding it committed.
func (m *Machine) releaseAnswer(err error) any {
	if err != nil {
		return &hearthv1.ReleaseResponse{Error: protoErr(err)}
	}
	return &hearthv1.ReleaseResponse{Version: m.savedVersion, SavedSeq: m.savedSeq}
}

// lingerIfFree starts the linger after which a profile without a session
// passivates.
func (m *Machine) lingerIfFree(now time.Time) {
	if m.phase == phaseActive && !m.sess.Held(now) && len(m.acquirers) == 0 {
		m.lingerAt = now.Add(m.cfg.Timing.ReleaseLinger)
	}
}
