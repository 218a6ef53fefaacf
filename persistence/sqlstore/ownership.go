package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/persistence"
)

// qAcquireRead reads everything Acquire decides on, in one round trip: the
// acquiring node's own lease, the profile row, its owner's lease and its
// newest snapshot, plus the database clock. The (SELECT 1) keeps exactly one
// row when the profile does not exist.
const qAcquireRead = `
SELECT (SELECT lease_expires_at FROM hearth_nodes WHERE node_id = $3),
       now(),
       p.owner_node, p.epoch, p.save_seq, p.schema_version, p.deleted,
       n.lease_expires_at,
       s.epoch, s.schema_version, s.document, s.saved_at
  FROM (SELECT 1) AS one
  LEFT JOIN hearth_profiles AS p ON p.namespace = $1 AND p.profile_id = $2
  LEFT JOIN hearth_nodes AS n ON n.node_id = p.owner_node
  LEFT JOIN hearth_snapshots AS s
         ON s.namespace = p.namespace AND s.profile_id = p.profile_id AND s.save_seq = p.save_seq`

const qAcquireCreate = `
INSERT INTO hearth_profiles (namespace, profile_id, owner_node, epoch, save_seq, schema_version, created_at, updated_at)
VALUES ($1, $2, $3, 1, 0, 0, now(), now())
ON CONFLICT (namespace, profile_id) DO NOTHING`

// The takeover is conditional on the epoch that was read: if anyone else
// acquired in between, nothing changes and the transaction starts over.
// Taking a tombstone re-creates the profile.
const qAcquireTake = `
UPDATE hearth_profiles
   SET owner_node = $3, epoch = $4, deleted = false, updated_at = now()
 WHERE namespace = $1 AND profile_id = $2 AND epoch = $5`

// Acquire takes ownership of a profile for nodeID.
func (s *Store) Acquire(ctx context.Context, nodeID string, key persistence.ProfileKey) (persistence.Acquired, error) {
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return persistence.Acquired{}, err
	}
	if err := persistence.ValidateKey(key); err != nil {
		return persistence.Acquired{}, err
	}
	var out persistence.Acquired
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		out = persistence.Acquired{Key: key}
		var (
			selfLease, ownerLease, savedAt *time.Time
			now                            time.Time
			owner                          *string
			epoch, seq, schema             *int64
			deleted                        *bool
			snapEpoch, snapSchema          *int64
			doc                            []byte
		)
		if err := tx.QueryRow(ctx, qAcquireRead, key.Namespace, key.ID, nodeID).Scan(
			&selfLease, &now, &owner, &epoch, &seq, &schema, &deleted, &ownerLease,
			&snapEpoch, &snapSchema, &doc, &savedAt); err != nil {
			return err
		}
		if err := persistence.CheckOwnLease(nodeID, selfLease != nil, deref(selfLease), now); err != nil {
			return err
		}
		var cur *persistence.ProfileState
		if epoch != nil {
			cur = &persistence.ProfileState{Owner: deref(owner), Epoch: *epoch, Seq: *seq, SchemaVersion: *schema, Deleted: *deleted}
		}
		newEpoch, err := persistence.DecideAcquire(key, cur, deref(ownerLease), nodeID, now)
		if err != nil {
			return err
		}
		out.Epoch = newEpoch
		if cur == nil {
			tag, err := tx.Exec(ctx, qAcquireCreate, key.Namespace, key.ID, nodeID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return errConflict
			}
			out.Created = true
			return nil
		}
		tag, err := tx.Exec(ctx, qAcquireTake, key.Namespace, key.ID, nodeID, newEpoch, cur.Epoch)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errConflict
		}
		if cur.Deleted {
			out.Created = true
			return nil
		}
		out.PreviousOwner = cur.Owner
		if snapEpoch != nil {
			out.Snapshot = &persistence.Snapshot{
				Key: key, Seq: cur.Seq, Epoch: *snapEpoch, SchemaVersion: *snapSchema,
				Document: doc, SavedAt: deref(savedAt),
			}
		}
		return nil
	})
	if err != nil {
		return persistence.Acquired{}, fmt.Errorf("acquire %s for node %q: %w", key, nodeID, err)
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
			    SET deleted = true, owner_node = NULL, save_seq = 0, schema_version = 0, updated_at = now()
			  WHERE namespace = $1 AND profile_id = $2`,
			`DELETE FROM hearth_snapshots WHERE namespace = $1 AND profile_id = $2`,
			`DELETE FROM hearth_records WHERE namespace = $1 AND profile_id = $2`,
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
