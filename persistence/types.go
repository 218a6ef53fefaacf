package persistence

import "time"

// ProfileKey names one profile: a namespace (a game, or a kind of data in a
// game) and the profile's id inside it.
type ProfileKey struct {
	Namespace string
	ID        string
}

func (k ProfileKey) String() string { return k.Namespace + "/" + k.ID }

// NodeInfo describes one node incarnation. ID is new for every process start,
// so a restarted node never inherits the leases or epochs of its predecessor.
type NodeInfo struct {
	ID      string
	Address string // where the node serves (informational; shown in HeldError logs and status)
}

// Lease is a node's right to own profiles, valid until ExpiresAt by the
// store's clock. Now is the store's clock when the lease was granted; a node
// turns the lease into a local deadline with its own monotonic clock,
// starting from before it sent the request, so clock differences between the
// node and the store never lengthen the lease.
type Lease struct {
	NodeID    string
	ExpiresAt time.Time
	Now       time.Time
}

// TTL is the lease's length as granted.
func (l Lease) TTL() time.Duration { return l.ExpiresAt.Sub(l.Now) }

// Snapshot is one saved state of a profile's document.
type Snapshot struct {
	Key           ProfileKey
	Seq           int64 // the save counter; strictly increasing per profile, across owners
	Epoch         int64 // the ownership epoch that wrote it
	SchemaVersion int64 // the document's schema version (see the migrations in actors)
	Document      []byte
	SavedAt       time.Time // store clock
}

// VersionInfo describes a retained snapshot without its document.
type VersionInfo struct {
	Seq           int64
	Epoch         int64
	SchemaVersion int64
	Size          int
	SavedAt       time.Time
}

// Acquired is the result of taking ownership of a profile.
type Acquired struct {
	Key   ProfileKey
	Epoch int64 // the new ownership epoch; every write must carry it
	// Created is true when the profile did not exist: the caller starts from
	// its template and Snapshot is nil.
	Created bool
	// Snapshot is the newest saved document, or nil if the profile exists but
	// has never been saved.
	Snapshot *Snapshot
	// PreviousOwner is non-empty exactly when the profile was still owned
	// when this acquire took it: the previous owner did not release it. It
	// is a node whose lease lapsed (a takeover), or this node itself (a
	// re-acquire that fences its earlier activation). It is empty after a
	// Release or a save with Release, for a new profile, and for a
	// re-created (erased) one.
	//
	// When it is set, the previous owner may have acknowledged changes from
	// memory that it never saved, so Snapshot may be older than what its
	// clients were told; when it is empty, Snapshot is everything the
	// previous owner acknowledged (a release saves first).
	PreviousOwner string
}

// AcquireRequest asks for one profile's ownership in AcquireBatch.
type AcquireRequest struct {
	Key ProfileKey
	// Create makes the profile if it does not exist, or re-creates an erased
	// one (epoch above every earlier one). Without it, a profile that was
	// never written (no row, an erased profile's tombstone, or a row whose
	// owners never saved a snapshot) is answered ErrNotFound and nothing is
	// written, whoever owns the row.
	Create bool
}

// AcquireResult is one answer of AcquireBatch, in request order: Err is nil
// (Acquired is set), a *HeldError, or ErrNotFound.
type AcquireResult struct {
	Acquired Acquired
	Err      error
}

// Holder reports who owns a profile.
type Holder struct {
	Key   ProfileKey
	Node  string // empty when unowned (released)
	Epoch int64
	Seq   int64 // newest saved snapshot, 0 if none
	// LeaseExpiresAt is the owner node's lease expiry (zero when unowned or
	// the owner node is gone). Live is LeaseExpiresAt > Now by the store's clock.
	LeaseExpiresAt time.Time
	Now            time.Time
	Live           bool
}

// Record is an idempotency record: the result of applying an operation that
// carried an idempotency key (a purchase receipt id, a client request id).
// It is written in the same transaction as the snapshot that holds the
// operation's effect, so the two commit or vanish together.
type Record struct {
	Key    string
	Result []byte
}

// StoredRecord is a Record as read back.
type StoredRecord struct {
	Profile   ProfileKey
	Key       string
	Result    []byte
	Seq       int64 // the snapshot that applied it
	CreatedAt time.Time
}

// RecordQuery pages through a profile's records in the order they were
// applied (by Seq, then Key). A zero AfterSeq/AfterKey starts at the
// beginning; pass the last record of a page to continue.
type RecordQuery struct {
	AfterSeq int64
	AfterKey string
	Limit    int // 0 means DefaultRecordPage; at most MaxRecordPage
}

// SaveRow is one profile's snapshot in a batched save.
type SaveRow struct {
	Key           ProfileKey
	Epoch         int64 // the caller's ownership epoch
	Seq           int64 // must be greater than the stored Seq; the actor uses stored+1
	SchemaVersion int64
	Document      []byte
	Records       []Record // idempotency records applied by this snapshot
	// Release gives up ownership in the same write (passivation, drain):
	// the profile is left unowned and any node may acquire it at once.
	Release bool
	// Retention says which of the profile's snapshots this save keeps; the
	// zero value keeps the newest Limits.HistoryDepth.
	Retention Retention
	// UserIDs are the users the profile belongs to, for finding it by user
	// (UserIndex.ProfilesByUser; GDPR erasure). nil leaves them as they are;
	// non-nil is the full new set (empty clears it): at most MaxUserIDs, each
	// 1..MaxUserIDLen printable bytes. Written in the same transaction as
	// the snapshot; erased with the profile.
	UserIDs []string
}

// Retention says which snapshots of a profile a save keeps. After saving
// seq S at store time T, the retained set is S plus the newest snapshot of
// every earlier bucket, capped to the newest Keep overall.
type Retention struct {
	// Keep is the most snapshots kept (0: Limits.HistoryDepth).
	Keep int
	// Interval thins the history: of the snapshots saved within one interval
	// (buckets of Interval by the store's clock, Unix time / Interval) only the
	// newest is kept, so N snapshots come from N different intervals (the
	// oldest more than N-2 intervals before the newest). 0 keeps the newest
	// Keep snapshots whatever their age. Whole milliseconds, at most 30 days.
	Interval time.Duration
}

// SaveOutcome says what happened to one row of a batched save.
type SaveOutcome int

const (
	// SaveSaved: the snapshot and its records committed.
	SaveSaved SaveOutcome = iota + 1
	// SaveFenced: the caller no longer holds the epoch; nothing was written.
	SaveFenced
	// SaveGone: the profile was deleted; nothing was written.
	SaveGone
	// SaveSuperseded: the caller holds the epoch but the store already has a
	// snapshot with this Seq or a newer one (a retried save after an
	// ambiguous commit). Nothing was written; the stored snapshot stands.
	SaveSuperseded
)

func (o SaveOutcome) String() string {
	switch o {
	case SaveSaved:
		return "saved"
	case SaveFenced:
		return "fenced"
	case SaveGone:
		return "gone"
	case SaveSuperseded:
		return "superseded"
	default:
		return "unknown"
	}
}

// SaveResult is the outcome of one SaveRow, in the same order as the rows.
type SaveResult struct {
	Key     ProfileKey
	Outcome SaveOutcome
	// Epoch and Seq are the stored values after the save (for a fenced row,
	// the epoch that fenced it; zero for a gone row).
	Epoch int64
	Seq   int64
}
