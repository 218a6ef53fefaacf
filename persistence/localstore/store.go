// Package localstore implements persistence.Store for a single node: an
// embedded bbolt file (Open, the single-node default) and an in-memory store
// (OpenMemory, for tests and fakes).
//
// Both share one implementation of the Store logic, written against a small
// ordered key-value transaction interface (kvTx, kvEngine in kv.go). Every
// ownership and fencing decision is made by the pure rules in package
// persistence (CheckOwnLease, DecideAcquireRequest, CheckOwnedAt, ClassifySave,
// Retention.Prune, LeaseLive), applied inside one engine transaction, so the
// decision and the write it guards are atomic. The store's clock (Options.Clock)
// judges every lease and stamps the snapshots whose ages retention judges.
package localstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-profiles/hearth/persistence"
)

// Options configures a Store.
type Options struct {
	// Limits are the size limits the store enforces; zero fields take the
	// defaults (persistence.DefaultLimits).
	Limits persistence.Limits
	// Clock is the store's clock: leases are granted and judged by it, and it
	// stamps SavedAt and CreatedAt. nil means the real clock.
	Clock clockwork.Clock
	// NoSync skips the fsync on every commit (bbolt only). For tests and
	// benchmarks: a crash can lose or corrupt recent commits. Default false.
	NoSync bool
}

// Store is the local persistence.Store. It is safe for concurrent use.
type Store struct {
	kv     kvEngine
	limits persistence.Limits
	clock  clockwork.Clock

	closeOnce sync.Once
	closeErr  error
}

var _ persistence.Store = (*Store)(nil)

// Open opens (creating if needed, along with its directory) the bbolt store
// file at path. A file written by an incompatible layout version is refused.
// Only one process may have the file open; a second Open fails after about a
// second instead of waiting.
func Open(path string, opts Options) (*Store, error) {
	eng, err := openBolt(path, opts.NoSync)
	if err != nil {
		return nil, err
	}
	if err := eng.initSchema(); err != nil {
		_ = eng.Close()
		return nil, fmt.Errorf("localstore: open %s: %w", path, err)
	}
	return newStore(eng, opts), nil
}

// OpenMemory returns an empty in-memory store. Nothing is persisted.
func OpenMemory(opts Options) *Store {
	return newStore(newMemEngine(), opts)
}

func newStore(kv kvEngine, opts Options) *Store {
	clock := opts.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &Store{kv: kv, limits: opts.Limits.WithDefaults(), clock: clock}
}

// Limits reports the limits this store enforces.
func (s *Store) Limits() persistence.Limits { return s.limits }

// Close closes the store; later calls fail. Closing twice is not an error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.kv.Close() })
	return s.closeErr
}

// now reads the store's clock. Call it inside the transaction, so leases are
// judged at the moment the decision is made.
func (s *Store) now() time.Time { return s.clock.Now().UTC().Round(0) }

// ---- node leases ----

// RegisterNode creates a node incarnation with a lease of ttl.
func (s *Store) RegisterNode(ctx context.Context, node persistence.NodeInfo, ttl time.Duration) (persistence.Lease, error) {
	if err := ctx.Err(); err != nil {
		return persistence.Lease{}, fmt.Errorf("localstore: register node: %w", err)
	}
	if err := persistence.ValidateNodeID(node.ID); err != nil {
		return persistence.Lease{}, fmt.Errorf("localstore: register node: %w", err)
	}
	if err := persistence.ValidateTTL(ttl); err != nil {
		return persistence.Lease{}, fmt.Errorf("localstore: register node %q: %w", node.ID, err)
	}
	var lease persistence.Lease
	err := s.kv.Update(func(tx kvTx) error {
		now := s.now()
		if tx.Get(bucketNodes, []byte(node.ID)) != nil {
			return fmt.Errorf("node %q is already registered (node ids are single-use, even after release): %w",
				node.ID, persistence.ErrInvalid)
		}
		v := nodeValue{Address: node.Address, Registered: now, Expires: now.Add(ttl)}
		if err := tx.Put(bucketNodes, []byte(node.ID), encodeNode(v)); err != nil {
			return err
		}
		lease = persistence.Lease{NodeID: node.ID, ExpiresAt: v.Expires, Now: now}
		return nil
	})
	if err != nil {
		return persistence.Lease{}, fmt.Errorf("localstore: register node: %w", err)
	}
	return lease, nil
}

// RenewNode extends a live lease to now+ttl by the store's clock.
func (s *Store) RenewNode(ctx context.Context, nodeID string, ttl time.Duration) (persistence.Lease, error) {
	if err := ctx.Err(); err != nil {
		return persistence.Lease{}, fmt.Errorf("localstore: renew node: %w", err)
	}
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return persistence.Lease{}, fmt.Errorf("localstore: renew node: %w", err)
	}
	if err := persistence.ValidateTTL(ttl); err != nil {
		return persistence.Lease{}, fmt.Errorf("localstore: renew node %q: %w", nodeID, err)
	}
	var lease persistence.Lease
	err := s.kv.Update(func(tx kvTx) error {
		now := s.now()
		node, found, err := getNode(tx, nodeID)
		if err != nil {
			return err
		}
		if err := persistence.CheckOwnLease(nodeID, found, node.Expires, now); err != nil {
			return err
		}
		node.Expires = now.Add(ttl)
		if err := tx.Put(bucketNodes, []byte(nodeID), encodeNode(node)); err != nil {
			return err
		}
		lease = persistence.Lease{NodeID: nodeID, ExpiresAt: node.Expires, Now: now}
		return nil
	})
	if err != nil {
		return persistence.Lease{}, fmt.Errorf("localstore: renew node: %w", err)
	}
	return lease, nil
}

// ReleaseNode ends a node incarnation: its lease lapses at once. The entry
// stays as a tombstone so the id cannot be registered again.
func (s *Store) ReleaseNode(ctx context.Context, nodeID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localstore: release node: %w", err)
	}
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return fmt.Errorf("localstore: release node: %w", err)
	}
	err := s.kv.Update(func(tx kvTx) error {
		raw := tx.Get(bucketNodes, []byte(nodeID))
		if raw == nil {
			return nil // unknown: not an error
		}
		node, err := decodeNode(raw)
		if err != nil {
			return fmt.Errorf("node %q: %w", nodeID, err)
		}
		if node.Released {
			return nil
		}
		node.Released = true
		node.Expires = s.now() // when it ended, for ListNodes and PruneTombstones
		return tx.Put(bucketNodes, []byte(nodeID), encodeNode(node))
	})
	if err != nil {
		return fmt.Errorf("localstore: release node %q: %w", nodeID, err)
	}
	return nil
}

// getNode reads a node. found is false when the node is unknown or was
// released: either way it holds no lease.
func getNode(tx kvTx, nodeID string) (v nodeValue, found bool, err error) {
	raw := tx.Get(bucketNodes, []byte(nodeID))
	if raw == nil {
		return nodeValue{}, false, nil
	}
	v, err = decodeNode(raw)
	if err != nil {
		return nodeValue{}, false, fmt.Errorf("node %q: %w", nodeID, err)
	}
	if v.Released {
		return nodeValue{}, false, nil
	}
	return v, true, nil
}

// leaseOf is a node's lease expiry, zero when the node is unknown or released.
func leaseOf(tx kvTx, nodeID string) (time.Time, error) {
	if nodeID == "" {
		return time.Time{}, nil
	}
	v, found, err := getNode(tx, nodeID)
	if err != nil || !found {
		return time.Time{}, err
	}
	return v.Expires, nil
}

// ---- ownership ----

// getProfile reads a profile. cur is nil when the profile does not exist
// (never created, or deleted); pv is returned either way so a tombstone's
// epoch is available.
func getProfile(tx kvTx, key persistence.ProfileKey) (cur *persistence.ProfileState, pv profileValue, exists bool, err error) {
	raw := tx.Get(bucketProfiles, profileKeyBytes(key))
	if raw == nil {
		return nil, profileValue{}, false, nil
	}
	pv, err = decodeProfile(raw)
	if err != nil {
		return nil, profileValue{}, false, fmt.Errorf("profile %s: %w", key, err)
	}
	if pv.State.Deleted {
		return nil, pv, true, nil
	}
	st := pv.State
	return &st, pv, true, nil
}

// Acquire takes ownership of a profile for nodeID, creating it if needed.
func (s *Store) Acquire(ctx context.Context, nodeID string, key persistence.ProfileKey) (persistence.Acquired, error) {
	return persistence.AcquireOne(ctx, s, nodeID, key)
}

// AcquireBatch takes ownership of many profiles in one transaction.
func (s *Store) AcquireBatch(ctx context.Context, nodeID string, reqs []persistence.AcquireRequest) ([]persistence.AcquireResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localstore: acquire: %w", err)
	}
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return nil, fmt.Errorf("localstore: acquire: %w", err)
	}
	if err := s.limits.ValidateAcquireBatch(reqs); err != nil {
		return nil, fmt.Errorf("localstore: acquire: %w", err)
	}
	if len(reqs) == 0 {
		return []persistence.AcquireResult{}, nil
	}
	var out []persistence.AcquireResult
	err := s.kv.Update(func(tx kvTx) error {
		now := s.now()
		self, found, err := getNode(tx, nodeID)
		if err != nil {
			return err
		}
		if err := persistence.CheckOwnLease(nodeID, found, self.Expires, now); err != nil {
			return err
		}
		out = make([]persistence.AcquireResult, len(reqs)) // reset if the engine ever retries fn
		for i, req := range reqs {
			if out[i], err = acquireOne(tx, nodeID, req, now); err != nil {
				return fmt.Errorf("%s: %w", req.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("localstore: acquire %d profile(s) for node %q: %w", len(reqs), nodeID, err)
	}
	return out, nil
}

// acquireOne decides and writes one request inside AcquireBatch's
// transaction. A refusal is the result's Err; the returned error is a
// storage failure that aborts the whole batch.
func acquireOne(tx kvTx, nodeID string, req persistence.AcquireRequest, now time.Time) (persistence.AcquireResult, error) {
	_, pv, exists, err := getProfile(tx, req.Key)
	if err != nil {
		return persistence.AcquireResult{}, err
	}
	var stored *persistence.ProfileState // the row, a tombstone included
	if exists {
		stored = &pv.State
	}
	var ownerLease time.Time
	if stored.Exists() {
		if ownerLease, err = leaseOf(tx, stored.Owner); err != nil {
			return persistence.AcquireResult{}, err
		}
	}
	acq, err := persistence.DecideAcquireRequest(req, stored, ownerLease, nodeID, now)
	if err != nil {
		return persistence.AcquireResult{Err: err}, nil
	}
	next := profileValue{State: persistence.ProfileState{Owner: nodeID, Epoch: acq.Epoch}, Created: now}
	if stored.Exists() {
		next.State.Seq = stored.Seq
		next.State.SchemaVersion = stored.SchemaVersion
		next.Created = pv.Created
		if stored.Seq > 0 {
			snap, err := readSnapshot(tx, req.Key, stored.Seq)
			if err != nil {
				return persistence.AcquireResult{}, fmt.Errorf("newest snapshot (seq %d): %w", stored.Seq, err)
			}
			acq.Snapshot = &snap
		}
	}
	if err := tx.Put(bucketProfiles, profileKeyBytes(req.Key), encodeProfile(next)); err != nil {
		return persistence.AcquireResult{}, err
	}
	return persistence.AcquireResult{Acquired: acq}, nil
}

// Release gives up ownership held at epoch.
func (s *Store) Release(ctx context.Context, nodeID string, key persistence.ProfileKey, epoch int64) error {
	if err := s.checkFencedArgs(ctx, nodeID, key); err != nil {
		return fmt.Errorf("localstore: release: %w", err)
	}
	err := s.kv.Update(func(tx kvTx) error {
		cur, pv, _, err := getProfile(tx, key)
		if err != nil {
			return err
		}
		if err := persistence.CheckOwnedAt(key, cur, nodeID, epoch); err != nil {
			return err
		}
		pv.State.Owner = ""
		return tx.Put(bucketProfiles, profileKeyBytes(key), encodeProfile(pv))
	})
	if err != nil {
		return fmt.Errorf("localstore: release %s: %w", key, err)
	}
	return nil
}

// Delete erases a profile with its snapshots and records. A tombstone with
// the last epoch stays behind (see profileValue).
func (s *Store) Delete(ctx context.Context, nodeID string, key persistence.ProfileKey, epoch int64) error {
	if err := s.checkFencedArgs(ctx, nodeID, key); err != nil {
		return fmt.Errorf("localstore: delete: %w", err)
	}
	err := s.kv.Update(func(tx kvTx) error {
		cur, _, _, err := getProfile(tx, key)
		if err != nil {
			return err
		}
		if err := persistence.CheckOwnedAt(key, cur, nodeID, epoch); err != nil {
			return err
		}
		if err := setUserIDs(tx, key, []string{}); err != nil {
			return err
		}
		prefix := profilePrefix(key)
		for _, b := range [][]byte{bucketSnapshots, bucketRecords, bucketRecordIdx} {
			if err := deletePrefix(tx, b, prefix, nil); err != nil {
				return err
			}
		}
		tomb := profileValue{State: persistence.ProfileState{Epoch: cur.Epoch, Deleted: true}, Created: s.now()}
		return tx.Put(bucketProfiles, profileKeyBytes(key), encodeProfile(tomb))
	})
	if err != nil {
		return fmt.Errorf("localstore: delete %s: %w", key, err)
	}
	return nil
}

func (s *Store) checkFencedArgs(ctx context.Context, nodeID string, key persistence.ProfileKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return err
	}
	return persistence.ValidateKey(key)
}

// deletePrefix deletes the keys under prefix in bucket, stopping before the
// first key >= stop (nil: no bound). Keys are collected first: engines do not
// allow writes during a scan.
func deletePrefix(tx kvTx, bucket, prefix, stop []byte) error {
	var keys [][]byte
	err := tx.Scan(bucket, prefix, nil, func(k, _ []byte) (bool, error) {
		if stop != nil && bytes.Compare(k, stop) >= 0 {
			return false, nil
		}
		keys = append(keys, bytes.Clone(k))
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.Delete(bucket, k); err != nil {
			return err
		}
	}
	return nil
}

// Holder reports the current owner of a profile.
func (s *Store) Holder(ctx context.Context, key persistence.ProfileKey) (persistence.Holder, error) {
	if err := ctx.Err(); err != nil {
		return persistence.Holder{}, fmt.Errorf("localstore: holder %s: %w", key, err)
	}
	if err := persistence.ValidateKey(key); err != nil {
		return persistence.Holder{}, fmt.Errorf("localstore: holder: %w", err)
	}
	var h persistence.Holder
	err := s.kv.View(func(tx kvTx) error {
		now := s.now()
		cur, _, _, err := getProfile(tx, key)
		if err != nil {
			return err
		}
		if cur == nil {
			return fmt.Errorf("profile %s: %w", key, persistence.ErrNotFound)
		}
		exp, err := leaseOf(tx, cur.Owner)
		if err != nil {
			return err
		}
		h = persistence.Holder{
			Key: key, Node: cur.Owner, Epoch: cur.Epoch, Seq: cur.Seq,
			LeaseExpiresAt: exp, Now: now, Live: persistence.LeaseLive(exp, now),
		}
		return nil
	})
	if err != nil {
		return persistence.Holder{}, fmt.Errorf("localstore: holder %s: %w", key, err)
	}
	return h, nil
}

// ---- snapshots ----

// Save writes a batch of snapshots in one transaction.
func (s *Store) Save(ctx context.Context, nodeID string, rows []persistence.SaveRow) ([]persistence.SaveResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localstore: save: %w", err)
	}
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return nil, fmt.Errorf("localstore: save: %w", err)
	}
	if err := s.limits.ValidateSaveBatch(rows); err != nil {
		return nil, fmt.Errorf("localstore: save: %w", err)
	}
	if len(rows) == 0 {
		return []persistence.SaveResult{}, nil
	}
	var results []persistence.SaveResult
	err := s.kv.Update(func(tx kvTx) error {
		now := s.now()
		results = make([]persistence.SaveResult, len(rows)) // reset if the engine ever retries fn
		for i := range rows {
			res, err := s.saveRow(tx, nodeID, &rows[i], now)
			if err != nil {
				return fmt.Errorf("row %d (%s): %w", i, rows[i].Key, err)
			}
			results[i] = res
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("localstore: save: %w", err)
	}
	return results, nil
}

func (s *Store) saveRow(tx kvTx, nodeID string, row *persistence.SaveRow, now time.Time) (persistence.SaveResult, error) {
	res := persistence.SaveResult{Key: row.Key}
	cur, pv, _, err := getProfile(tx, row.Key)
	if err != nil {
		return res, err
	}
	res.Outcome = persistence.ClassifySave(cur, nodeID, *row)
	switch res.Outcome {
	case persistence.SaveGone:
		return res, nil
	case persistence.SaveFenced, persistence.SaveSuperseded:
		res.Epoch, res.Seq = cur.Epoch, cur.Seq
		return res, nil
	case persistence.SaveSaved:
	default:
		return res, fmt.Errorf("unexpected save outcome %v", res.Outcome)
	}

	pv.State.Seq = row.Seq
	pv.State.SchemaVersion = row.SchemaVersion
	if row.Release {
		pv.State.Owner = ""
	}
	if err := tx.Put(bucketProfiles, profileKeyBytes(row.Key), encodeProfile(pv)); err != nil {
		return res, err
	}
	snap := snapshotValue{Epoch: row.Epoch, SchemaVersion: row.SchemaVersion, SavedAt: now, Document: row.Document}
	if err := tx.Put(bucketSnapshots, snapshotKey(row.Key, row.Seq), encodeSnapshot(snap)); err != nil {
		return res, err
	}
	for _, rec := range row.Records {
		rk := recordKeyBytes(row.Key, rec.Key)
		if tx.Get(bucketRecords, rk) != nil {
			continue // the first result stands
		}
		if err := tx.Put(bucketRecords, rk, encodeRecord(recordValue{Seq: row.Seq, CreatedAt: now, Result: rec.Result})); err != nil {
			return res, err
		}
		if err := tx.Put(bucketRecordIdx, recordIndexKey(row.Key, row.Seq, rec.Key), nil); err != nil {
			return res, err
		}
	}
	if err := s.retain(tx, row); err != nil {
		return res, fmt.Errorf("retention: %w", err)
	}
	if row.UserIDs != nil {
		if err := setUserIDs(tx, row.Key, row.UserIDs); err != nil {
			return res, fmt.Errorf("user ids: %w", err)
		}
	}
	res.Epoch, res.Seq = row.Epoch, row.Seq
	return res, nil
}

// retain applies the row's retention policy to the profile's snapshots,
// the one just written included.
func (s *Store) retain(tx kvTx, row *persistence.SaveRow) error {
	prefix := profilePrefix(row.Key)
	var ages []persistence.SnapshotAge
	err := tx.Scan(bucketSnapshots, prefix, nil, func(k, v []byte) (bool, error) {
		seq, err := parseSnapshotKey(k, len(prefix))
		if err != nil {
			return false, err
		}
		sv, err := decodeSnapshot(v) // the document is not copied
		if err != nil {
			return false, fmt.Errorf("version %d: %w", seq, err)
		}
		ages = append(ages, persistence.SnapshotAge{Seq: seq, SavedAt: sv.SavedAt})
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, seq := range row.Retention.Prune(ages, s.limits.HistoryDepth) {
		if err := tx.Delete(bucketSnapshots, snapshotKey(row.Key, seq)); err != nil {
			return err
		}
	}
	return nil
}

// readSnapshot reads one snapshot, copying the document out of the engine.
func readSnapshot(tx kvTx, key persistence.ProfileKey, seq int64) (persistence.Snapshot, error) {
	raw := tx.Get(bucketSnapshots, snapshotKey(key, seq))
	if raw == nil {
		return persistence.Snapshot{}, fmt.Errorf("profile %s version %d: %w", key, seq, persistence.ErrNotFound)
	}
	v, err := decodeSnapshot(raw)
	if err != nil {
		return persistence.Snapshot{}, fmt.Errorf("profile %s version %d: %w", key, seq, err)
	}
	return persistence.Snapshot{
		Key: key, Seq: seq, Epoch: v.Epoch, SchemaVersion: v.SchemaVersion,
		Document: bytes.Clone(v.Document), SavedAt: v.SavedAt,
	}, nil
}

// Versions lists the retained snapshots of a profile, newest first.
func (s *Store) Versions(ctx context.Context, key persistence.ProfileKey) ([]persistence.VersionInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localstore: versions %s: %w", key, err)
	}
	if err := persistence.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("localstore: versions: %w", err)
	}
	var out []persistence.VersionInfo
	err := s.kv.View(func(tx kvTx) error {
		cur, _, _, err := getProfile(tx, key)
		if err != nil {
			return err
		}
		if cur == nil {
			return fmt.Errorf("profile %s: %w", key, persistence.ErrNotFound)
		}
		prefix := profilePrefix(key)
		out = make([]persistence.VersionInfo, 0, s.limits.HistoryDepth)
		return tx.Scan(bucketSnapshots, prefix, nil, func(k, v []byte) (bool, error) {
			seq, err := parseSnapshotKey(k, len(prefix))
			if err != nil {
				return false, err
			}
			sv, err := decodeSnapshot(v)
			if err != nil {
				return false, fmt.Errorf("profile %s version %d: %w", key, seq, err)
			}
			out = append(out, persistence.VersionInfo{
				Seq: seq, Epoch: sv.Epoch, SchemaVersion: sv.SchemaVersion, Size: len(sv.Document), SavedAt: sv.SavedAt,
			})
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("localstore: versions %s: %w", key, err)
	}
	slices.Reverse(out) // scanned oldest first
	return out, nil
}

// Version reads one retained snapshot.
func (s *Store) Version(ctx context.Context, key persistence.ProfileKey, seq int64) (persistence.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return persistence.Snapshot{}, fmt.Errorf("localstore: version %s/%d: %w", key, seq, err)
	}
	if err := persistence.ValidateKey(key); err != nil {
		return persistence.Snapshot{}, fmt.Errorf("localstore: version: %w", err)
	}
	var snap persistence.Snapshot
	err := s.kv.View(func(tx kvTx) error {
		var err error
		snap, err = readSnapshot(tx, key, seq)
		return err
	})
	if err != nil {
		return persistence.Snapshot{}, fmt.Errorf("localstore: version: %w", err)
	}
	return snap, nil
}

// ---- records ----

// Record reads one idempotency record.
func (s *Store) Record(ctx context.Context, key persistence.ProfileKey, recordKey string) (persistence.StoredRecord, error) {
	if err := ctx.Err(); err != nil {
		return persistence.StoredRecord{}, fmt.Errorf("localstore: record: %w", err)
	}
	if err := persistence.ValidateKey(key); err != nil {
		return persistence.StoredRecord{}, fmt.Errorf("localstore: record: %w", err)
	}
	if err := persistence.ValidateRecordKey(recordKey); err != nil {
		return persistence.StoredRecord{}, fmt.Errorf("localstore: record %s: %w", key, err)
	}
	var rec persistence.StoredRecord
	err := s.kv.View(func(tx kvTx) error {
		raw := tx.Get(bucketRecords, recordKeyBytes(key, recordKey))
		if raw == nil {
			return fmt.Errorf("%w", persistence.ErrNotFound)
		}
		var err error
		rec, err = storedRecord(key, recordKey, raw)
		return err
	})
	if err != nil {
		return persistence.StoredRecord{}, fmt.Errorf("localstore: record %s %q: %w", key, recordKey, err)
	}
	return rec, nil
}

func storedRecord(key persistence.ProfileKey, recordKey string, raw []byte) (persistence.StoredRecord, error) {
	v, err := decodeRecord(raw)
	if err != nil {
		return persistence.StoredRecord{}, err
	}
	return persistence.StoredRecord{
		Profile: key, Key: recordKey, Result: bytes.Clone(v.Result), Seq: v.Seq, CreatedAt: v.CreatedAt,
	}, nil
}

// Records pages through a profile's records in (Seq, Key) order, starting
// strictly after (AfterSeq, AfterKey). A profile with no records, or none at
// all, gives an empty page.
func (s *Store) Records(ctx context.Context, key persistence.ProfileKey, q persistence.RecordQuery) ([]persistence.StoredRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localstore: records: %w", err)
	}
	if err := persistence.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("localstore: records: %w", err)
	}
	q, err := persistence.ValidateRecordQuery(q)
	if err != nil {
		return nil, fmt.Errorf("localstore: records %s: %w", key, err)
	}
	prefix := profilePrefix(key)
	// The smallest index key after (AfterSeq, AfterKey): append \x00, which
	// sorts before every record key byte.
	start := binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(q.AfterSeq))
	start = append(append(start, q.AfterKey...), 0)
	out := make([]persistence.StoredRecord, 0, min(q.Limit, 64))
	err = s.kv.View(func(tx kvTx) error {
		return tx.Scan(bucketRecordIdx, prefix, start, func(k, _ []byte) (bool, error) {
			seq, rk, err := parseRecordIndexKey(k, len(prefix))
			if err != nil {
				return false, err
			}
			raw := tx.Get(bucketRecords, recordKeyBytes(key, rk))
			if raw == nil {
				return false, fmt.Errorf("%w: record index names %q at seq %d, but the record is missing", errCorrupt, rk, seq)
			}
			rec, err := storedRecord(key, rk, raw)
			if err != nil {
				return false, fmt.Errorf("record %q: %w", rk, err)
			}
			out = append(out, rec)
			return len(out) < q.Limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("localstore: records %s: %w", key, err)
	}
	return out, nil
}
