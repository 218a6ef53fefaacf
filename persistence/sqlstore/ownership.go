package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/persistence"
)

// acquireRead reads everything AcquireBatch decides on, for the whole batch
// in one round trip: the acquiring node's own lease and the database clock
// (on every row), and per requested key the profile row, its owner's lease
// and its newest snapshot. Every request gets a row, matched or not. KEYS is
// where the requested keys come from (qAcquireRead, qAcquireReadOne).
const acquireRead = `
SELECT v.namespace, v.profile_id,
       (SELECT lease_expires_at FROM hearth_nodes WHERE node_id = $1),
       now(),
       p.owner_node, p.epoch, p.save_seq, p.schema_version, p.deleted,
       n.lease_expires_at,
       s.epoch, s.schema_version, s.document, s.saved_at
  FROM KEYS AS v(namespace, profile_id)
  LEFT JOIN hearth_profiles AS p ON p.namespace = v.namespace AND p.profile_id = v.profile_id
  LEFT JOIN hearth_nodes AS n ON n.node_id = p.owner_node
  LEFT JOIN hearth_snapshots AS s
         ON s.namespace = p.namespace AND s.profile_id = p.profile_id AND s.save_seq = p.save_seq`

var (
	// qAcquireRead takes the keys as two arrays.
	qAcquireRead = strings.Replace(acquireRead, "KEYS", "unnest($2::TEXT[], $3::TEXT[])", 1)
	// qAcquireReadOne takes one key as two scalars: the single-profile
	// Acquire, an actor's usual activation. With unnest of array
	// parameters, PostgreSQL's cached generic plan assumes ten keys, so it
	// judges re-planning for the one key cheaper and plans every call again
	// (measured: 0.2-0.3 ms, as much as the query itself). A one-row VALUES
	// has the same plan generic or not, so the cached one is used.
	qAcquireReadOne = strings.Replace(acquireRead, "KEYS", "(VALUES ($2::TEXT, $3::TEXT))", 1)
)

// qAcquireWrite writes every granted request in one statement: it inserts a
// new profile, or takes an existing row (re-creating a tombstone). The write
// is conditional on the epoch that was read: the new epoch is always the
// read one plus one (persistence.DecideAcquireRequest), so a row whose epoch
// is not new-1 was changed by a concurrent acquire (or created by one, for a
// profile that had no row) and is left alone, which the row count shows;
// the transaction then starts over and decides again on what is stored now.
const qAcquireWrite = `
INSERT INTO hearth_profiles AS p (namespace, profile_id, owner_node, epoch, save_seq, schema_version,
                                  retained_seqs, retained_ms, created_at, updated_at)
SELECT v.namespace, v.profile_id, $1, v.epoch, 0, 0, '{}', '{}', now(), now()
  FROM unnest($2::TEXT[], $3::TEXT[], $4::BIGINT[]) AS v(namespace, profile_id, epoch)
ON CONFLICT (namespace, profile_id) DO UPDATE
   SET owner_node = excluded.owner_node,
       epoch = excluded.epoch,
       deleted = false,
       retained_seqs = CASE WHEN p.deleted THEN '{}' ELSE p.retained_seqs END,
       retained_ms = CASE WHEN p.deleted THEN '{}' ELSE p.retained_ms END,
       created_at = CASE WHEN p.deleted THEN now() ELSE p.created_at END,
       updated_at = now()
 WHERE p.epoch = excluded.epoch - 1`

// Acquire takes ownership of a profile for nodeID, creating it if needed.
func (s *Store) Acquire(ctx context.Context, nodeID string, key persistence.ProfileKey) (persistence.Acquired, error) {
	return persistence.AcquireOne(ctx, s, nodeID, key)
}

// AcquireBatch takes ownership of many profiles in one transaction of two
// statements: one read for the whole batch, decided with the pure rules,
// and one conditional write for every granted request.
func (s *Store) AcquireBatch(ctx context.Context, nodeID string, reqs []persistence.AcquireRequest) ([]persistence.AcquireResult, error) {
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return nil, err
	}
	if err := s.limits.ValidateAcquireBatch(reqs); err != nil {
		return nil, err
	}
	if len(reqs) == 0 {
		return []persistence.AcquireResult{}, nil
	}
	ns, id := make([]string, len(reqs)), make([]string, len(reqs))
	for i, r := range reqs {
		ns[i], id[i] = r.Key.Namespace, r.Key.ID
	}
	var out []persistence.AcquireResult
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		// Fresh per attempt: a retried transaction decides again.
		read, err := readForAcquire(ctx, tx, nodeID, ns, id)
		if err != nil {
			return err
		}
		if err := persistence.CheckOwnLease(nodeID, read.selfLease != nil, deref(read.selfLease), read.now); err != nil {
			return err
		}
		out = make([]persistence.AcquireResult, len(reqs))
		var wNS, wID []string
		var wEpoch []int64
		for i, req := range reqs {
			row := read.rows[req.Key]
			acq, err := persistence.DecideAcquireRequest(req, row.state, row.ownerLease, nodeID, read.now)
			if err != nil {
				out[i].Err = err
				continue
			}
			if acq.Snapshot = row.snapshot; !row.state.Exists() {
				acq.Snapshot = nil // a tombstone has none; never hand out a stale one
			}
			out[i].Acquired = acq
			wNS, wID, wEpoch = append(wNS, req.Key.Namespace), append(wID, req.Key.ID), append(wEpoch, acq.Epoch)
		}
		if len(wNS) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, qAcquireWrite, nodeID, wNS, wID, wEpoch)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != int64(len(wNS)) {
			return errConflict
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("acquire %d profile(s) for node %q: %w", len(reqs), nodeID, err)
	}
	return out, nil
}

// acquiredRows is what qAcquireRead returned.
type acquiredRows struct {
	selfLease *time.Time
	now       time.Time
	rows      map[persistence.ProfileKey]acquireRow
}

// acquireRow is one requested profile as stored: state is nil when there is
// no row (a tombstone is a state with Deleted set).
type acquireRow struct {
	state      *persistence.ProfileState
	ownerLease time.Time
	snapshot   *persistence.Snapshot
}

func readForAcquire(ctx context.Context, tx pgx.Tx, nodeID string, ns, id []string) (acquiredRows, error) {
	out := acquiredRows{rows: make(map[persistence.ProfileKey]acquireRow, len(ns))}
	var rs pgx.Rows
	var err error
	if len(ns) == 1 {
		rs, err = tx.Query(ctx, qAcquireReadOne, nodeID, ns[0], id[0])
	} else {
		rs, err = tx.Query(ctx, qAcquireRead, nodeID, ns, id)
	}
	if err != nil {
		return out, err
	}
	defer rs.Close()
	for rs.Next() {
		var (
			key                   persistence.ProfileKey
			ownerLease, savedAt   *time.Time
			owner                 *string
			epoch, seq, schema    *int64
			deleted               *bool
			snapEpoch, snapSchema *int64
			doc                   []byte
			r                     acquireRow
		)
		if err := rs.Scan(&key.Namespace, &key.ID, &out.selfLease, &out.now, &owner, &epoch, &seq, &schema, &deleted,
			&ownerLease, &snapEpoch, &snapSchema, &doc, &savedAt); err != nil {
			return out, err
		}
		if epoch != nil {
			r.state = &persistence.ProfileState{Owner: deref(owner), Epoch: *epoch, Seq: *seq, SchemaVersion: *schema, Deleted: *deleted}
			r.ownerLease = deref(ownerLease)
		}
		if snapEpoch != nil {
			r.snapshot = &persistence.Snapshot{
				Key: key, Seq: *seq, Epoch: *snapEpoch, SchemaVersion: *snapSchema, Document: doc, SavedAt: deref(savedAt),
			}
		}
		out.rows[key] = r
	}
	if err := rs.Err(); err != nil {
		return out, err
	}
	if len(out.rows) != len(ns) {
		return out, fmt.Errorf("acquire read %d rows for %d profiles", len(out.rows), len(ns))
	}
	return out, nil
}

// readState reads a profile row inside a transaction (nil if absent).
func readState(ctx context.Context, tx pgx.Tx, key persistence.ProfileKey) (*persistence.ProfileState, error) {
	var (
		owner *string
		st    persistence.ProfileState
	)
	err := tx.QueryRow(ctx,
		`SELECT owner_node, epoch, save_seq, schema_version, deleted FROM hearth_profiles WHERE namespace = $1 AND profile_id = $2`,
		key.Namespace, key.ID).Scan(&owner, &st.Epoch, &st.Seq, &st.SchemaVersion, &st.Deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st.Owner = deref(owner)
	return &st, nil
}

// Release gives up ownership held at epoch.
func (s *Store) Release(ctx context.Context, nodeID string, key persistence.ProfileKey, epoch int64) error {
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return err
	}
	if err := persistence.ValidateKey(key); err != nil {
		return err
	}
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
UPDATE hearth_profiles SET owner_node = NULL, updated_at = now()
 WHERE namespace = $1 AND profile_id = $2 AND owner_node = $3 AND epoch = $4`,
			key.Namespace, key.ID, nodeID, epoch)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		cur, err := readState(ctx, tx, key)
		if err != nil {
			return err
		}
		return persistence.CheckOwnedAt(key, cur, nodeID, epoch)
	})
	if err != nil {
		return fmt.Errorf("release %s: %w", key, err)
	}
	return nil
}

// Holder reports the current owner of a profile.
func (s *Store) Holder(ctx context.Context, key persistence.ProfileKey) (persistence.Holder, error) {
	if err := persistence.ValidateKey(key); err != nil {
		return persistence.Holder{}, err
	}
	h := persistence.Holder{Key: key}
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		var (
			owner *string
			lease *time.Time
		)
		if err := tx.QueryRow(ctx, `
SELECT p.owner_node, p.epoch, p.save_seq, n.lease_expires_at, now()
  FROM hearth_profiles AS p
  LEFT JOIN hearth_nodes AS n ON n.node_id = p.owner_node
 WHERE p.namespace = $1 AND p.profile_id = $2 AND NOT p.deleted`,
			key.Namespace, key.ID).Scan(&owner, &h.Epoch, &h.Seq, &lease, &h.Now); err != nil {
			return err
		}
		h.Node = deref(owner)
		h.LeaseExpiresAt = deref(lease)
		h.Live = h.Node != "" && persistence.LeaseLive(h.LeaseExpiresAt, h.Now)
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return persistence.Holder{}, fmt.Errorf("holder of %s: %w", key, persistence.ErrNotFound)
	}
	if err != nil {
		return persistence.Holder{}, fmt.Errorf("holder of %s: %w", key, err)
	}
	return h, nil
}

// Delete erases a profile, its snapshots and its records, fenced by epoch.
func (s *Store) Delete(ctx context.Context, nodeID string, key persistence.ProfileKey, epoch int64) error {
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return err
	}
	if err := persistence.ValidateKey(key); err != nil {
		return err
	}
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		cur, err := readState(ctx, tx, key)
		if err != nil {
			return err
		}
		if err := persistence.CheckOwnedAt(key, cur, nodeID, epoch); err != nil {
			return err
		}
		for _, q := range []string{
			`UPDATE hearth_profiles
			    SET deleted = true, owner_node = NULL, save_seq = 0, schema_version = 0,
			        retained_seqs = '{}', retained_ms = '{}', users_seq = 0, updated_at = now()
			  WHERE namespace = $1 AND profile_id = $2`,
			`DELETE FROM hearth_snapshots WHERE namespace = $1 AND profile_id = $2`,
			`DELETE FROM hearth_records WHERE namespace = $1 AND profile_id = $2`,
			`DELETE FROM hearth_profile_users WHERE namespace = $1 AND profile_id = $2`,
		} {
			if _, err := tx.Exec(ctx, q, key.Namespace, key.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
