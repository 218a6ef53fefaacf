package session

import (
	"time"
)

// The profile actor is written against these exact signatures; this file
// stops compiling if one drifts.
var (
	_ func(State, time.Time) bool                                  = State.Held
	_ func(State, time.Time) time.Duration                         = State.Remaining
	_ func(State, AcquireRequest) (State, AcquireResult, error)    = State.Acquire
	_ func(State, string, time.Time, time.Duration) (State, error) = State.Check
	_ func(State, string, time.Time) (State, error)                = State.Release
	_ func(State, time.Time) (State, string)                       = State.Lapse
	_ func(State, time.Time, time.Duration) State                  = State.Rebase
	_ func(State) string                                           = State.String
	_ func(Outcome) string                                         = Outcome.String
	_ interface{ Is(error) bool }                                  = (*StaleError)(nil)
	_ error                                                        = (*StaleError)(nil)
	_                                                              = StaleError{Holder: "", Reason: ""}
	_                                                              = [...]error{ErrStaleSession, ErrInvalidSession, ErrInvalidToken, ErrInvalidTTL, ErrInvalidMode}
)
