package profile

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hearth-profiles/hearth/actors/session"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// acquireWaiter is an Acquire in wait mode, answered when the session frees
// up or its deadline passes.
type acquireWaiter struct {
	req      *hearthv1.AcquireRequest
	sender   *actor.PID
	deadline time.Time
}

func sessionMode(m hearthv1.AcquireMode) session.Mode {
	switch m {
	case hearthv1.AcquireMode_ACQUIRE_MODE_UNSPECIFIED, hearthv1.AcquireMode_ACQUIRE_MODE_FAIL:
		return session.ModeFail
	case hearthv1.AcquireMode_ACQUIRE_MODE_WAIT:
		return session.ModeWait
	case hearthv1.AcquireMode_ACQUIRE_MODE_STEAL:
		return session.ModeSteal
	default:
		return session.Mode(0) // refused by the state machine as ErrInvalidMode
	}
}

func (a *activation) onAcquire(ctx actor.Context, m *hearthv1.AcquireRequest) {
	now := a.cfg.Clock.Now()
	// No lapseSession first: Acquire treats an expired holder as gone and
	// names it in Previous, which Lapse would forget.
	resp, res, err := a.tryAcquire(m, sessionMode(m.GetMode()), now)
	if err != nil {
		respondError(ctx, err)
		return
	}
	switch res.Outcome {
	case session.Wait:
		wait := time.Duration(m.GetWaitMs()) * time.Millisecond
		if wait <= 0 || wait > a.cfg.Timing.MaxAcquireWait {
			wait = a.cfg.Timing.MaxAcquireWait
		}
		a.acquirers = append(a.acquirers, acquireWaiter{req: m, sender: ctx.Sender(), deadline: now.Add(wait)})
		a.armSessionTimer()
	case session.Conflict:
		respondError(ctx, conflictError(res))
	default:
		ctx.Respond(resp)
	}
}

// tryAcquire runs the state machine and, on a grant, applies it: the new
// session, the events, the timers. resp is set for grants only.
func (a *activation) tryAcquire(m *hearthv1.AcquireRequest, mode session.Mode, now time.Time) (*hearthv1.AcquireResponse, session.AcquireResult, error) {
	st, res, err := a.sess.Acquire(session.AcquireRequest{
		Session:  m.GetSessionId(),
		Mode:     mode,
		Now:      now,
		TTL:      a.cfg.Timing.SessionTTL,
		NewToken: a.cfg.NewToken(),
	})
	if err != nil {
		return nil, res, err
	}
	a.cfg.Metrics.SessionEvents.WithLabelValues(res.Outcome.String()).Inc()
	switch res.Outcome {
	case session.Granted, session.Stolen:
		a.sess = st
		a.sessGen++
		kind := hearthv1.WatchEventKind_WATCH_EVENT_KIND_SESSION_STARTED
		if res.Outcome == session.Stolen {
			kind = hearthv1.WatchEventKind_WATCH_EVENT_KIND_SESSION_STOLEN
			a.log.Info("session stolen", "session", st.Holder, "previous", res.Previous)
		}
		a.publish(&hearthv1.WatchEvent{Kind: kind, SessionId: st.Holder, PreviousSession: res.Previous})
	case session.Reused:
		a.sess = st // renewed expiry only; nothing to save
	default:
		return nil, res, nil
	}
	a.timers.stop(timerLinger)
	a.armSessionTimer()
	doc, err := a.encoded()
	if err != nil {
		return nil, res, err
	}
	return &hearthv1.AcquireResponse{
		Document:        string(doc),
		Version:         a.version,
		SessionToken:    res.Token,
		Reused:          res.Outcome == session.Reused,
		PreviousSession: res.Previous,
		SchemaVersion:   a.schema,
		SessionTtlMs:    uint32(a.cfg.Timing.SessionTTL.Milliseconds()),
	}, res, nil
}

func conflictError(res session.AcquireResult) error {
	e := errorf(codeSessionConflict, "session %q holds this profile for another %s; acquire with mode WAIT or STEAL, or retry later",
		res.Holder, res.Remaining.Round(time.Millisecond))
	e.HolderSession = res.Holder
	e.RetryAfter = res.Remaining
	return e
}

// serveAcquirers answers waiting Acquires in arrival order: the first one
// that can have the session gets it; expired waits get SESSION_CONFLICT.
func (a *activation) serveAcquirers(ctx actor.Context) {
	if len(a.acquirers) == 0 {
		return
	}
	now := a.cfg.Clock.Now()
	kept := a.acquirers[:0]
	for _, w := range a.acquirers {
		resp, res, err := a.tryAcquire(w.req, session.ModeWait, now)
		switch {
		case err != nil:
			ctx.Send(w.sender, errorResponse(w.req, err))
		case resp != nil:
			ctx.Send(w.sender, resp)
		case !now.Before(w.deadline):
			ctx.Send(w.sender, errorResponse(w.req, conflictError(res)))
		default:
			kept = append(kept, w)
		}
	}
	a.acquirers = kept
	a.armSessionTimer()
}

// armSessionTimer wakes the activation when the session lapses or the
// earliest acquire wait ends, whichever is first.
func (a *activation) armSessionTimer() {
	var next time.Time
	if a.sess.Holder != "" && !a.sess.ExpiresAt.IsZero() {
		next = a.sess.ExpiresAt
	}
	for _, w := range a.acquirers {
		if next.IsZero() || w.deadline.Before(next) {
			next = w.deadline
		}
	}
	if next.IsZero() {
		a.timers.stop(timerSession)
		return
	}
	a.arm(timerSession, next.Sub(a.cfg.Clock.Now()))
}

// lapseSession ends a session whose TTL passed without renewal.
func (a *activation) lapseSession() {
	st, lapsed := a.sess.Lapse(a.cfg.Clock.Now())
	if lapsed == "" {
		return
	}
	a.sess = st
	a.sessGen++
	a.cfg.Metrics.SessionEvents.WithLabelValues("lapsed").Inc()
	a.publish(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_SESSION_LAPSED, SessionId: lapsed})
	a.armSessionTimer()
	a.armLingerIfFree()
}

// checkToken validates and renews the session of a request that carries a
// token. Requests without a token are not session writes and pass.
func (a *activation) checkToken(token string) error {
	if token == "" {
		return nil
	}
	st, err := a.sess.Check(token, a.cfg.Clock.Now(), a.cfg.Timing.SessionTTL)
	if err != nil {
		return err
	}
	a.sess = st
	a.armSessionTimer()
	return nil
}

// holderFor names the session making a change, for events.
func (a *activation) holderFor(token string) string {
	if token == "" {
		return ""
	}
	return a.sess.Holder
}

func (a *activation) onHeartbeat(ctx actor.Context, m *hearthv1.HeartbeatRequest) {
	if m.GetSessionToken() == "" {
		respondError(ctx, errorf(codeInvalidArgument, "heartbeat needs the session token from Acquire"))
		return
	}
	a.lapseSession()
	if err := a.checkToken(m.GetSessionToken()); err != nil {
		respondError(ctx, err)
		return
	}
	ctx.Respond(&hearthv1.HeartbeatResponse{SessionTtlMs: uint32(a.cfg.Timing.SessionTTL.Milliseconds())})
}

// onRelease ends the session, saves, and answers once the save committed.
// The profile then lingers, so the same server rejoining soon needs no
// reload, and passivates when the linger ends without a new session.
func (a *activation) onRelease(ctx actor.Context, m *hearthv1.ReleaseRequest) {
	if m.GetSessionToken() == "" {
		respondError(ctx, errorf(codeInvalidArgument, "release needs the session token from Acquire"))
		return
	}
	a.lapseSession()
	holder := a.sess.Holder
	st, err := a.sess.Release(m.GetSessionToken(), a.cfg.Clock.Now())
	if err != nil {
		respondError(ctx, err)
		return
	}
	a.sess = st
	a.sessGen++
	a.cfg.Metrics.SessionEvents.WithLabelValues("released").Inc()
	a.publish(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_SESSION_RELEASED, SessionId: holder})
	a.armSessionTimer()
	a.serveAcquirers(ctx)
	a.afterSave(ctx.Sender(), a.version, func(err error) any {
		if err != nil {
			return &hearthv1.ReleaseResponse{Error: protoErr(err)}
		}
		return &hearthv1.ReleaseResponse{Version: a.savedVersion, SavedSeq: a.savedSeq}
	})
	a.armLingerIfFree()
}

// armLingerIfFree starts the linger after which a profile without a session
// passivates.
func (a *activation) armLingerIfFree() {
	if a.phase == phaseActive && !a.sess.Held(a.cfg.Clock.Now()) && len(a.acquirers) == 0 {
		a.arm(timerLinger, a.cfg.Timing.ReleaseLinger)
	}
}
