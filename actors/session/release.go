package session

import "time"

// Release ends the session if token is current: the state becomes free with
// Released=true, Gen+1 and the token cleared, so the token can never
// authorise anything again.
//
// A stale token gets a *StaleError (ErrStaleSession) and changes nothing;
// so does releasing an already released or lapsed session with its last
// token, which the caller may treat as harmless (a retried Release). A
// lapsed session is not turned into a released one: it ended by lapsing,
// and Lapse is what clears it. An empty token is ErrInvalidToken.
func (s State) Release(token string, now time.Time) (State, error) {
	if err := validateToken("token", token); err != nil {
		return s, err
	}
	if err := s.authorize(token, now); err != nil {
		return s, err
	}
	return s.retired(s.Token, ReasonReleased).free(nextGen(s.Gen), true), nil
}
