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
	return &StaleError{Holder: holder, Reason: s.staleReason(current, token)}
}

// staleReason explains why token does not authorise anything: the current
// holder's token whose session ran out has lapsed; the last token that
// stopped being current ended as PrevEnd says; any other token is unknown
// (superseded more than one session ago, or never issued here), and is not
// blamed on a steal it may have had nothing to do with.
func (s State) staleReason(current bool, token string) string {
	switch {
	case current:
		// The right token, but its session timed out (Lapse has not run).
		return ReasonLapsed
	case s.Prev != "" && s.PrevEnd != "" && fingerprint(token) == s.Prev:
		return s.PrevEnd
	default:
		return ReasonUnknownToken
	}
}
