package activation

import (
	"time"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// Ready is what the shell must do after Step, in this order: send the
// replies, publish the events, start the calls, then schedule the wake-up
// and stop the actor if asked. Every call's answer comes back as an event.
type Ready struct {
	Replies []Reply
	Events  []*hearthv1.WatchEvent
	Acquire *AcquireCall
	Save    *SaveCall
	Reads   []ReadCall
	Release *ReleaseCall
	Delete  *DeleteCall
	// Stopping: the activation no longer serves; new requests must wait for
	// the next activation (reported once).
	Stopping bool
	// HandedOff: ownership was released with everything saved; the node may
	// tell the profile's next owner (reported once).
	HandedOff bool
	// Stop: the activation has ended; stop the actor after the replies.
	Stop bool
	// Followed: an answer handed out an event cursor, so the profile's
	// events must be kept from now on for the poller that will use it.
	Followed bool
	// WakeAt is when to Tick the machine next; zero means never.
	WakeAt time.Time

	buf *Ready // the pooled buffers behind the slices (Recycle)
}

// Reply answers the request whose ReplyTo is To. Msg is the response
// message, or NotServing.
type Reply struct {
	To  any
	Msg any
}

// NotServing answers a request the activation will not serve because it is
// stopping: the request was not applied, and the shell hands it to the
// profile's next activation.
type NotServing struct{ Reason string }

// AcquireCall asks the store for ownership (persistence.AcquireRequest).
type AcquireCall struct{ Create bool }

// SaveCall submits a row to the node's group committer; its answer is a
// SaveDone with the same No.
type SaveCall struct {
	No  uint64
	Row persistence.SaveRow
}

// ReadKind says what a ReadCall reads.
type ReadKind int

const (
	// ReadRecord reads the idempotency record RecordKey.
	ReadRecord ReadKind = iota + 1
	// ReadVersion reads the retained snapshot Seq.
	ReadVersion
)

// ReadCall is a store read; its answer is a ReadDone with the same No.
type ReadCall struct {
	No        uint64
	Kind      ReadKind
	RecordKey string
	Seq       int64
}

// ReleaseCall gives up ownership held at Epoch with nothing to save.
type ReleaseCall struct{ Epoch int64 }

// DeleteCall erases the profile, fenced by Epoch.
type DeleteCall struct{ Epoch int64 }
