package session

import "time"

// Lapse clears a session whose ExpiresAt has passed (the caller runs it
// from a timer and before decisions, so waiting acquirers are woken and the
// state it persists does not name a dead holder). It returns the new state
// and the holder that lapsed, or the unchanged state and "" if nothing
// lapsed.
//
// Gen is not bumped: it counts grants and releases, and the next grant
// bumps it anyway. Released becomes false: the last session ended by
// lapsing, not by Release.
func (s State) Lapse(now time.Time) (State, string) {
	if s.Holder == "" || s.Held(now) {
		return s, ""
	}
	return s.retired(s.Token, ReasonLapsed).free(s.Gen, false), s.Holder
}
