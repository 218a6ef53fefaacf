package profile

import (
	"errors"
	"time"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

var (
	// errActivatorClosed answers acquisitions after the Host closed.
	errActivatorClosed = errors.New("profile: the node is shutting down")
	// errShortAcquire: the store answered fewer results than requests (a
	// store bug); the activation retries.
	errShortAcquire = errors.New("profile: the store answered an acquire batch short")
)

// MovedError answers a request that this node's activation turned away at
// a handoff when the node no longer owns the profile (Config.Owns): it
// was not applied, and a router sends it to the new owner. To anyone else
// it is UNAVAILABLE with a short retry-after (errors.Is(err,
// messages.ErrUnavailable); errors.As finds the *messages.CodeError).
type MovedError struct {
	*messages.CodeError
}

func (e *MovedError) Unwrap() error { return e.CodeError }

func movedError(key persistence.ProfileKey) *MovedError {
	ce := messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "profile %s moved to another node and the request was not applied: retry", key)
	ce.RetryAfter = 20 * time.Millisecond
	return &MovedError{CodeError: ce}
}
