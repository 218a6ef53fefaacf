package session

import "time"

// AcquireRequest asks for the session on a profile.
type AcquireRequest struct {
	Session  string        // required: non-empty, at most MaxSessionLen bytes, valid UTF-8, no control characters; else ErrInvalidSession
	Mode     Mode          // what to do if another live session holds the profile; else ErrInvalidMode
	Now      time.Time     // the actor's clock reading for this decision
	TTL      time.Duration // how long the session lasts unless renewed; > 0 else ErrInvalidTTL
	NewToken string        // a fresh random token supplied by the caller (the actor draws it from crypto/rand); used only if a new token is granted; must be non-empty
}

// AcquireResult is what Acquire decided.
type AcquireResult struct {
	Outcome   Outcome
	Token     string        // the holder's token after the transition (Granted/Reused/Stolen); "" for Conflict/Wait
	Previous  string        // the holder before (Stolen: the robbed session; Granted after a lapse: the lapsed holder; else "")
	Holder    string        // for Conflict/Wait: the current holder
	Remaining time.Duration // for Conflict/Wait: how long the current session has left unless renewed
}

// Acquire decides an acquire request. Invalid input returns the unchanged
// state and an error (ErrInvalidSession, ErrInvalidMode, ErrInvalidTTL, or
// ErrInvalidToken for an empty NewToken), checked in that order.
//
// NewToken is required even when it turns out not to be used (Reused,
// Conflict, Wait): the caller cannot know the outcome in advance, and a
// request that is valid or not regardless of the state is easier to reason
// about.
//
// A holder whose TTL has run out counts as gone even if Lapse has not yet
// cleared it; Previous then names it. Once Lapse has cleared a holder the
// state no longer knows its name (Lapse returned it), so a later Granted has
// Previous "".
func (s State) Acquire(req AcquireRequest) (State, AcquireResult, error) {
	if err := req.validate(); err != nil {
		return s, AcquireResult{}, err
	}
	now := req.Now
	if !s.Held(now) {
		return s.grant(req, Granted)
	}
	switch {
	case s.Holder == req.Session:
		// A quick rejoin by the same server (a reconnect, a retried request)
		// keeps its token: writes it already has in flight stay valid.
		next := s
		next.ExpiresAt = now.Add(req.TTL)
		return next, AcquireResult{Outcome: Reused, Token: s.Token}, nil
	case req.Mode == ModeFail:
		return s, AcquireResult{Outcome: Conflict, Holder: s.Holder, Remaining: s.Remaining(now)}, nil
	case req.Mode == ModeWait:
		// The state machine does not queue: the caller parks the request and
		// asks again when the session ends, lapses (at the latest after
		// Remaining) or the caller's wait deadline passes.
		return s, AcquireResult{Outcome: Wait, Holder: s.Holder, Remaining: s.Remaining(now)}, nil
	default: // ModeSteal
		return s.grant(req, Stolen)
	}
}

func (r AcquireRequest) validate() error {
	if err := validateSession(r.Session); err != nil {
		return err
	}
	if err := validateMode(r.Mode); err != nil {
		return err
	}
	if err := validateTTL(r.TTL); err != nil {
		return err
	}
	return validateToken("new token", r.NewToken)
}

// grant hands the profile to req.Session with req.NewToken: after a steal,
// or when the previous session ended or lapsed.
//
// A NewToken equal to the token it replaces is refused: it would keep the
// robbed (or lapsed) holder's token working, which is exactly what a new
// grant must prevent. Random tokens never collide, so this only catches a
// caller bug such as passing the current token back in.
func (s State) grant(req AcquireRequest, o Outcome) (State, AcquireResult, error) {
	if s.Token != "" && sameToken(req.NewToken, s.Token) {
		return s, AcquireResult{}, invalid(ErrInvalidToken, "new token", "", "new token must differ from the token it replaces")
	}
	end := ReasonLapsed // a grant replaces only a holder whose session ran out
	if o == Stolen {
		end = ReasonStolen
	}
	prev := s.retired(s.Token, end)
	next := State{
		Holder:    req.Session,
		Token:     req.NewToken,
		Gen:       nextGen(s.Gen),
		ExpiresAt: req.Now.Add(req.TTL),
		Prev:      prev.Prev,
		PrevEnd:   prev.PrevEnd,
	}
	return next, AcquireResult{Outcome: o, Token: req.NewToken, Previous: s.Holder}, nil
}
