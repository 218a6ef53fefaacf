package persistence

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Sentinel errors. Implementations wrap them with context; callers test them
// with errors.Is.
var (
	// ErrFenced: the caller's ownership epoch is no longer current. Another
	// activation has taken the profile; the caller must stop writing it.
	ErrFenced = errors.New("fenced: ownership epoch is no longer current")
	// ErrNotFound: the profile, version, record or node does not exist.
	ErrNotFound = errors.New("not found")
	// ErrHeld: another node holds the profile and its lease is live. The
	// wrapping *HeldError says who and until when.
	ErrHeld = errors.New("held by another live node")
	// ErrLeaseExpired: the calling node's own lease has lapsed (or the node
	// was released). It must not take ownership of anything and must
	// re-register under a new node id.
	ErrLeaseExpired = errors.New("node lease expired")
	// ErrTooLarge: a document, record, batch or query exceeds a limit.
	ErrTooLarge = errors.New("too large")
	// ErrInvalid: an id, namespace, key or argument is malformed.
	ErrInvalid = errors.New("invalid argument")
)

// HeldError is returned by Acquire when another node with a live lease holds
// the profile. LeaseExpiresAt and Now are both read from the store's clock in
// the same transaction, so Remaining is meaningful without trusting the
// caller's wall clock.
type HeldError struct {
	Key            ProfileKey
	Holder         string
	Epoch          int64
	LeaseExpiresAt time.Time
	Now            time.Time
}

// Remaining is how long, by the store's clock, until the holder's lease lapses
// unless it is renewed.
func (e *HeldError) Remaining() time.Duration { return e.LeaseExpiresAt.Sub(e.Now) }

func (e *HeldError) Error() string {
	return fmt.Sprintf("profile %s: held by node %q (epoch %d) for another %s",
		e.Key, e.Holder, e.Epoch, e.Remaining().Round(time.Millisecond))
}

func (e *HeldError) Unwrap() error { return ErrHeld }

// LimitError says which limit an input broke. It unwraps to ErrTooLarge or
// ErrInvalid.
type LimitError struct {
	What  string // "namespace", "profile id", "document", ...
	Value string // the offending value, shortened and quoted (may be empty)
	Limit string // the rule that was broken
	kind  error
}

func (e *LimitError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s: %s", e.kind, e.What, e.Limit)
	}
	return fmt.Sprintf("%s: %s %s: %s", e.kind, e.What, e.Value, e.Limit)
}

func (e *LimitError) Unwrap() error { return e.kind }

func invalid(what, value, rule string) error {
	return &LimitError{What: what, Value: printable(value), Limit: rule, kind: ErrInvalid}
}

func tooLarge(what string, size, limit int) error {
	return &LimitError{What: what, Limit: fmt.Sprintf("%d bytes or items, limit %d", size, limit), kind: ErrTooLarge}
}

// printable shortens and quotes a value for an error message; ids may be
// hostile input (control bytes, invalid UTF-8, megabytes of text).
func printable(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
