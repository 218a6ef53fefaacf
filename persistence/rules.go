package persistence

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// The ownership rules as pure functions. The local stores apply them inside
// their transactions; the SQL store reads the same values inside a
// SERIALIZABLE transaction, applies the same functions, and makes its writes
// conditional on what it read. Keeping them here means one table of tests
// covers every store's decisions.

// ProfileState is what a store holds for a profile besides its documents.
type ProfileState struct {
	Owner         string // "" when unowned
	Epoch         int64
	Seq           int64
	SchemaVersion int64
	// Deleted marks an erased profile. Its documents and records are gone,
	// but the row keeps the epoch, so a re-created profile continues the
	// epoch sequence: a stale activation from before the delete can never
	// match the new one's epoch, even on the same node.
	Deleted bool
}

// Exists says whether the state describes a live (not erased) profile.
func (p *ProfileState) Exists() bool { return p != nil && !p.Deleted }

// LeaseLive says whether a lease expiring at expiresAt is still live at now.
// A zero expiresAt (owner node unknown or released) is never live.
func LeaseLive(expiresAt, now time.Time) bool {
	return !expiresAt.IsZero() && expiresAt.After(now)
}

// CheckOwnLease is the precondition for taking ownership: the acquiring
// node's own lease must be live. found is false when the node is not
// registered (never, or released).
func CheckOwnLease(nodeID string, found bool, expiresAt, now time.Time) error {
	if !found {
		return fmt.Errorf("node %q is not registered or was released: %w", nodeID, ErrLeaseExpired)
	}
	if !LeaseLive(expiresAt, now) {
		return fmt.Errorf("node %q lease lapsed %s ago: %w", nodeID, now.Sub(expiresAt).Round(time.Millisecond), ErrLeaseExpired)
	}
	return nil
}

// DecideAcquire applies the takeover rule. cur is nil when the profile never
// existed; ownerLease is the current owner's lease expiry (zero if the owner
// node is gone). It returns the new epoch, or a *HeldError. The profile is
// (re)created when !cur.Exists().
func DecideAcquire(key ProfileKey, cur *ProfileState, ownerLease time.Time, nodeID string, now time.Time) (int64, error) {
	if cur == nil {
		return 1, nil
	}
	if cur.Deleted || cur.Owner == "" || cur.Owner == nodeID || !LeaseLive(ownerLease, now) {
		return cur.Epoch + 1, nil
	}
	return 0, &HeldError{Key: key, Holder: cur.Owner, Epoch: cur.Epoch, LeaseExpiresAt: ownerLease, Now: now}
}

// NeverWritten says whether a profile has no document to load: no row, an
// erased profile's tombstone, or a row whose owners never saved (Seq 0).
func NeverWritten(cur *ProfileState) bool {
	return cur == nil || cur.Deleted || cur.Seq == 0
}

// DecideAcquireRequest decides one request of AcquireBatch: the Create rule,
// then DecideAcquire. cur is the stored row, a tombstone included (nil when
// there is none). It fills every field of Acquired but Snapshot, which the
// store reads; the new epoch is always cur.Epoch+1 (1 for a new profile), so
// a store may make its write conditional on the epoch it read.
func DecideAcquireRequest(req AcquireRequest, cur *ProfileState, ownerLease time.Time, nodeID string, now time.Time) (Acquired, error) {
	if !req.Create && NeverWritten(cur) {
		return Acquired{}, fmt.Errorf("profile %s was never written: %w", req.Key, ErrNotFound)
	}
	epoch, err := DecideAcquire(req.Key, cur, ownerLease, nodeID, now)
	if err != nil {
		return Acquired{}, err
	}
	out := Acquired{Key: req.Key, Epoch: epoch, Created: !cur.Exists()}
	if cur.Exists() {
		// Set only while someone still owns the row: a release (and an
		// erase) leaves it unowned.
		out.PreviousOwner = cur.Owner
	}
	return out, nil
}

// CheckOwnedAt is the precondition for Release and Delete.
func CheckOwnedAt(key ProfileKey, cur *ProfileState, nodeID string, epoch int64) error {
	if !cur.Exists() {
		return fmt.Errorf("profile %s: %w", key, ErrNotFound)
	}
	if cur.Owner != nodeID || cur.Epoch != epoch {
		return fmt.Errorf("profile %s: node %q epoch %d, current owner %q epoch %d: %w",
			key, nodeID, epoch, cur.Owner, cur.Epoch, ErrFenced)
	}
	return nil
}

// ClassifySave decides one row of a batched save.
func ClassifySave(cur *ProfileState, nodeID string, row SaveRow) SaveOutcome {
	switch {
	case !cur.Exists():
		return SaveGone
	case cur.Owner != nodeID || cur.Epoch != row.Epoch:
		return SaveFenced
	case cur.Seq >= row.Seq:
		return SaveSuperseded
	default:
		return SaveSaved
	}
}

// SnapshotAge is what retention judges a retained snapshot by.
type SnapshotAge struct {
	Seq     int64
	SavedAt time.Time // store clock
}

// Prune says which snapshots a save drops: snaps are the profile's retained
// snapshots including the one just saved (the newest), in any order; depth
// is Limits.HistoryDepth. Walking from the newest, a snapshot is the first
// of its bucket when its bucket differs from the next newer one's, and it
// is kept when it is a first and fewer than Keep firsts were kept before
// it. It returns the seqs to delete, ascending. The SQL store's retention
// statement computes the same set with window functions.
func (r Retention) Prune(snaps []SnapshotAge, depth int) []int64 {
	keep := r.Keep
	if keep <= 0 {
		keep = depth
	}
	byNewest := slices.Clone(snaps)
	slices.SortFunc(byNewest, func(a, b SnapshotAge) int { return cmp.Compare(b.Seq, a.Seq) })
	kept := 0
	var drop []int64
	for i, sn := range byNewest {
		first := i == 0 || r.bucket(sn) != r.bucket(byNewest[i-1])
		if !first || kept >= keep {
			drop = append(drop, sn.Seq)
			continue
		}
		kept++
	}
	slices.Sort(drop)
	return drop
}

// bucket is the interval a snapshot was saved in: Unix milliseconds divided
// by the interval's. With no interval, every snapshot is its own bucket.
func (r Retention) bucket(sn SnapshotAge) int64 {
	ms := r.Interval.Milliseconds()
	if ms <= 0 {
		return sn.Seq
	}
	return sn.SavedAt.UnixMilli() / ms
}
