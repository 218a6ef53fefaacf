package session

import (
	"crypto/subtle"
	"time"
)

// sameToken compares tokens in time independent of where they differ: a
// token is a bearer secret, and an early-exit comparison would let a
// patient attacker guess it byte by byte from answer times. (The length is
// not secret: tokens are fixed-length random strings.) It works on strings
// directly so a write's check does not allocate.
func sameToken(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var diff byte
	for i := 0; i < len(a); i++ {
		diff |= a[i] ^ b[i]
	}
	return subtle.ConstantTimeByteEq(diff, 0) == 1
}

// authorize is the common gate of Check and Release: nil if token is the
// current holder's token and the session is held at now, else a *StaleError.
func (s State) authorize(token string, now time.Time) error {
	current := s.Holder != "" && s.Token != "" && sameToken(token, s.Token)
	if current && s.Held(now) {
		return nil
	}
	holder := ""
	if s.Held(now) {
		holder = s.Holder
	}
	return &StaleError{Holder: holder, Reason: s.staleReason(current, now)}
}

// staleReason explains why token does not authorise anything, from the
// current state alone (see the Reason constants). Every new token bumps Gen,
// so Gen bounds how many tokens were ever issued; that tells a token that was
// never issued from one that was superseded in some cases.
func (s State) staleReason(current bool, now time.Time) string {
	switch {
	case current:
		// The right token, but its session timed out (Lapse has not run).
		return ReasonLapsed
	case s.Holder != "" && s.Gen <= 1:
		// The holder's token is the only one ever issued here.
		return ReasonUnknownToken
	case s.Held(now):
		return ReasonStolen
	case s.Holder != "":
		// The last session lapsed and is not cleared yet; the token is older.
		return ReasonLapsed
	case s.Released:
		return ReasonReleased
	case s.Gen > 0:
		// Free, not by Release, after at least one grant: it lapsed.
		return ReasonLapsed
	default:
		return ReasonUnknownToken
	}
}
