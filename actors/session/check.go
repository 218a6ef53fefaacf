package session

import "time"

// Check validates a token carried by a write and renews the session (any
// request renews). token must equal the current holder's Token and the
// session must be held at now: then the new state has ExpiresAt = now+ttl.
//
// Errors leave the state unchanged: ErrInvalidToken for an empty token,
// ErrInvalidTTL for ttl <= 0, and otherwise a *StaleError (ErrStaleSession)
// when the token is not the current one (stolen, released, re-granted) or
// its session lapsed. A lapsed session is not revived by a late write: its
// holder may already have been told, and another server may be waiting.
//
// Writes without a token are not this package's concern; the caller
// decides whether to allow them and must not call Check with "".
func (s State) Check(token string, now time.Time, ttl time.Duration) (State, error) {
	if err := validateToken("token", token); err != nil {
		return s, err
	}
	if err := validateTTL(ttl); err != nil {
		return s, err
	}
	if err := s.authorize(token, now); err != nil {
		return s, err
	}
	next := s
	next.ExpiresAt = now.Add(ttl)
	return next, nil
}
