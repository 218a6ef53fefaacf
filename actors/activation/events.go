package activation

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/persistence"
)

// Event is an input to Step.
type Event interface{ isEvent() }

// Request is a request to the profile. ReplyTo is the shell's handle for the
// answer, opaque to the machine; every Request is answered exactly once.
type Request struct {
	ReplyTo any
	Msg     proto.Message
	// Deadline, if set, is when the caller stops waiting: a request still
	// queued then is answered UNAVAILABLE instead of being applied.
	Deadline time.Time
}

// AcquireDone is the store's answer to an AcquireCall.
type AcquireDone struct {
	Acquired persistence.Acquired
	Err      error // nil, *persistence.HeldError, ErrNotFound, ErrLeaseExpired, ...
}

// SaveDone is the committer's answer to a SaveCall.
type SaveDone struct {
	No     uint64
	Result persistence.SaveResult
	Err    error
}

// ReadDone is the store's answer to a ReadCall.
type ReadDone struct {
	No       uint64
	Record   persistence.StoredRecord // ReadRecord
	Snapshot persistence.Snapshot     // ReadVersion
	Err      error
}

// ReleaseDone is the store's answer to a ReleaseCall.
type ReleaseDone struct{ Err error }

// DeleteDone is the store's answer to a DeleteCall.
type DeleteDone struct{ Err error }

// Tick wakes the machine at (or after) the WakeAt it asked for.
type Tick struct{}

// Passivate asks the activation to save, release ownership and stop.
// ReplyTo, if set, is answered with a PassivateResponse once it has.
type Passivate struct {
	Reason  string
	ReplyTo any
}

// OwnerReleased tells an activation waiting for another node that the node
// released the profile (a planned handoff): ask the store again now.
type OwnerReleased struct{}

func (Request) isEvent()       {}
func (AcquireDone) isEvent()   {}
func (SaveDone) isEvent()      {}
func (ReadDone) isEvent()      {}
func (ReleaseDone) isEvent()   {}
func (DeleteDone) isEvent()    {}
func (Tick) isEvent()          {}
func (Passivate) isEvent()     {}
func (OwnerReleased) isEvent() {}
