package persistence

import (
	"context"
	"time"
)

// NodeLeases manages node incarnations and their leases. A node registers a
// fresh id at every process start, renews its lease well before it lapses,
// and releases it when it has drained.
type NodeLeases interface {
	// RegisterNode creates a node incarnation with a lease of ttl. Registering
	// an id that exists (even lapsed) is refused with ErrInvalid: ids are
	// single-use so a restarted process can never resurrect old ownerships.
	RegisterNode(ctx context.Context, node NodeInfo, ttl time.Duration) (Lease, error)
	// RenewNode extends a live lease to now+ttl by the store's clock. A lease
	// that already lapsed, or a released node, gets ErrLeaseExpired: other
	// nodes may have taken its profiles, so it must drain and re-register.
	RenewNode(ctx context.Context, nodeID string, ttl time.Duration) (Lease, error)
	// ReleaseNode ends the incarnation: its lease lapses at once, so every
	// profile it still owns may be taken without waiting. The id stays
	// used (a tombstone), so it can never register or renew again.
	// Releasing an unknown or released node is not an error.
	ReleaseNode(ctx context.Context, nodeID string) error
}

// Ownership manages which node incarnation may write each profile.
type Ownership interface {
	// Acquire takes ownership of a profile for node, creating the profile if
	// it does not exist (AcquireBatch with one request with Create), and returns a new epoch (always greater than any
	// epoch issued before for this profile) with the newest snapshot.
	// It succeeds only when the profile is absent, unowned, owned by node
	// itself (a re-activation; the old epoch is fenced), or owned by a node
	// whose lease has lapsed by the store's clock. Otherwise it returns a
	// *HeldError (errors.Is ErrHeld). A node whose own lease lapsed gets
	// ErrLeaseExpired.
	Acquire(ctx context.Context, nodeID string, key ProfileKey) (Acquired, error)
	// AcquireBatch applies the rules of Acquire to many profiles in one
	// transaction, with a number of round trips that does not grow with the
	// batch. The answers are in request order: each is acquired, refused
	// with a *HeldError, or ErrNotFound (Create unset and the profile was
	// never written; nothing is written for it). Refused requests change
	// nothing. The whole call fails, writing nothing, with ErrLeaseExpired
	// when the node's own lease lapsed, and before anything is sent with
	// ErrInvalid (a bad node id or key, a key twice) or ErrTooLarge (more
	// than Limits.MaxBatchRows requests). An empty batch answers an empty
	// slice without reading anything.
	AcquireBatch(ctx context.Context, nodeID string, reqs []AcquireRequest) ([]AcquireResult, error)
	// Release gives up ownership held at epoch, leaving the profile unowned.
	// ErrFenced if epoch is not current or not owned by node; ErrNotFound if
	// the profile does not exist.
	Release(ctx context.Context, nodeID string, key ProfileKey, epoch int64) error
	// Holder reports the current owner. ErrNotFound if the profile does not
	// exist.
	Holder(ctx context.Context, key ProfileKey) (Holder, error)
	// Delete erases a profile with its snapshots and records, fenced like a
	// save. ErrFenced, ErrNotFound as for Release. A tombstone keeps only the
	// key and the epoch, so a later Acquire re-creates the profile (Created)
	// with an epoch above every earlier one.
	Delete(ctx context.Context, nodeID string, key ProfileKey, epoch int64) error
}

// BatchAcquirer is the part of Ownership AcquireOne needs.
type BatchAcquirer interface {
	AcquireBatch(ctx context.Context, nodeID string, reqs []AcquireRequest) ([]AcquireResult, error)
}

// AcquireOne is Acquire as AcquireBatch of one request with Create; the
// stores implement Acquire with it, so the two can never disagree.
func AcquireOne(ctx context.Context, b BatchAcquirer, nodeID string, key ProfileKey) (Acquired, error) {
	res, err := b.AcquireBatch(ctx, nodeID, []AcquireRequest{{Key: key, Create: true}})
	if err != nil {
		return Acquired{}, err
	}
	if res[0].Err != nil {
		return Acquired{}, res[0].Err
	}
	return res[0].Acquired, nil
}

// Snapshots saves and reads profile documents.
type Snapshots interface {
	// Save writes a batch of snapshots in one transaction. Each row is
	// written only if node still owns the profile at the row's epoch and the
	// row's Seq is newer than the stored one; the results say, per row and in
	// order, what happened. Rows that save carry their Records with them.
	// A returned error means nothing was written (the batch is atomic);
	// invalid input is refused before anything is sent.
	Save(ctx context.Context, nodeID string, rows []SaveRow) ([]SaveResult, error)
	// Versions lists the retained snapshots of a profile, newest first.
	// ErrNotFound if the profile does not exist.
	Versions(ctx context.Context, key ProfileKey) ([]VersionInfo, error)
	// Version reads one retained snapshot. ErrNotFound if it is not retained.
	Version(ctx context.Context, key ProfileKey, seq int64) (Snapshot, error)
}

// Records reads idempotency records (purchase history and request results).
type Records interface {
	// Record reads one record. ErrNotFound if absent.
	Record(ctx context.Context, key ProfileKey, recordKey string) (StoredRecord, error)
	// Records pages through a profile's records in the order they were applied.
	Records(ctx context.Context, key ProfileKey, q RecordQuery) ([]StoredRecord, error)
}

// Store is everything a node needs from storage. Every implementation passes
// persistence/storetest.
type Store interface {
	NodeLeases
	Ownership
	Snapshots
	Records
	// Limits reports the limits this store enforces.
	Limits() Limits
	Close() error
}
