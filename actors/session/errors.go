package session

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every error this package returns is, or wraps, one of
// them; callers test with errors.Is and, for details, errors.As with
// *StaleError or *InvalidError.
var (
	// ErrStaleSession: the token is not the current session's token, or the
	// session it belongs to has lapsed. The caller must acquire again before
	// writing with a token. The error is a *StaleError saying why.
	ErrStaleSession = errors.New("stale session token")
	// ErrInvalidSession: the session id is empty, too long, not UTF-8 or
	// contains control characters.
	ErrInvalidSession = errors.New("invalid session id")
	// ErrInvalidToken: a token argument is empty, or a new token would not
	// replace the current one.
	ErrInvalidToken = errors.New("invalid session token")
	// ErrInvalidTTL: a TTL is zero or negative.
	ErrInvalidTTL = errors.New("invalid session ttl")
	// ErrInvalidMode: the acquire mode is none of ModeFail, ModeWait and
	// ModeSteal.
	ErrInvalidMode = errors.New("invalid acquire mode")
)

// Reasons carried by StaleError.Reason.
//
// The state remembers a fingerprint of the last token that stopped being
// current and how its session ended, so a refusal of that token is exact. It
// keeps no longer history (it is stored in every snapshot and must stay
// small): an older token, or one never issued, is ReasonUnknownToken.
const (
	// ReasonStolen: the token's session was taken over by another session
	// (an acquire in steal mode).
	ReasonStolen = "stolen"
	// ReasonReleased: the token's session was released.
	ReasonReleased = "released"
	// ReasonLapsed: the token's session was not renewed within its TTL.
	ReasonLapsed = "lapsed"
	// ReasonUnknownToken: the token is neither the current session's nor the
	// last ended session's: it was superseded more than one session ago, or
	// never issued for this profile.
	ReasonUnknownToken = "unknown token"
)

// StaleError is returned by Check and Release for a token that does not
// (or no longer does) authorise anything. It matches ErrStaleSession with
// errors.Is.
type StaleError struct {
	// Holder is the session that holds the profile now; "" when it is free
	// (which includes a session that lapsed but was not yet cleared).
	Holder string
	// Reason is one of ReasonStolen, ReasonReleased, ReasonLapsed and
	// ReasonUnknownToken.
	Reason string
}

func (e *StaleError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("%v: %s", ErrStaleSession, e.Reason)
	}
	return fmt.Sprintf("%v: %s; held by session %s", ErrStaleSession, e.Reason, printable(e.Holder))
}

// Is reports whether target is ErrStaleSession, so errors.Is works without
// StaleError having to wrap anything.
func (e *StaleError) Is(target error) bool { return target == ErrStaleSession }

// InvalidError says which input was rejected and why. It unwraps to one of
// ErrInvalidSession, ErrInvalidToken, ErrInvalidTTL and ErrInvalidMode.
type InvalidError struct {
	What  string // "session id", "token", "new token", "ttl", "mode"
	Value string // the offending value, quoted and shortened; never a token
	Rule  string // the rule it broke
	kind  error
}

func (e *InvalidError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%v: %s", e.kind, e.Rule)
	}
	return fmt.Sprintf("%v %s: %s", e.kind, e.Value, e.Rule)
}

func (e *InvalidError) Unwrap() error { return e.kind }

// invalid builds an *InvalidError. value is printed, so tokens must never be
// passed as value: error messages end up in logs and in answers to other
// servers.
func invalid(kind error, what, value, rule string) error {
	return &InvalidError{What: what, Value: value, Rule: rule, kind: kind}
}

// printable shortens and quotes a value for a message: session ids may be
// hostile input (control bytes, invalid UTF-8, long text), and a State
// loaded from a snapshot was not necessarily validated by this version.
func printable(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
