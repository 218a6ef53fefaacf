package activation

import "github.com/hearth-profiles/hearth/persistence"

// Versions never go backwards or repeat. A document version acknowledged
// once must never name another state, or a client's expected_version could
// match a state it never saw.
//
// After a planned move the previous owner saved everything it acknowledged
// and released the profile (Acquired.PreviousOwner is empty): the counter
// simply continues, and expected_version keeps working across the move. After
// a takeover (the previous owner's lease lapsed, or this node's own earlier
// activation never released) the previous owner may have acknowledged
// memory-lane versions past the snapshot it saved. The new owner then starts
// at versionBase(epoch), above every version any earlier epoch can have
// issued: each activation draws a fresh epoch, and an activation issues
// fewer than 2^32 versions (4 billion updates without a passivation), so all
// versions of epochs below e are below versionBase(e). A re-created profile
// starts at its epoch's base too, so it never reuses a version of the
// profile that was deleted.
const versionEpochShift = 32

// versionBase is the first version an activation holding epoch may use
// after a takeover: 0 for the first epoch.
func versionBase(epoch int64) int64 {
	if epoch <= 1 {
		return 0
	}
	if epoch-1 >= 1<<(62-versionEpochShift) {
		// Out of range only after a billion activations of one profile;
		// stay monotonic rather than wrap.
		return 1 << 62
	}
	return (epoch - 1) << versionEpochShift
}

// rebaseVersion is the version an activation starts from, given the saved
// version and how ownership was acquired.
//
// A profile with no snapshot at an epoch above 1 has had owners that saved
// nothing: a re-created profile (its deleted predecessor issued versions),
// or one whose earlier activations released it unsaved. Nothing is lost by
// starting it at its epoch's base too.
func rebaseVersion(saved int64, acq persistence.Acquired) int64 {
	if acq.PreviousOwner == "" && (acq.Snapshot != nil || acq.Epoch <= 1) {
		return saved // a clean handoff, or a brand-new profile
	}
	return max(saved, versionBase(acq.Epoch))
}
