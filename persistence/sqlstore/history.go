package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/persistence"
)

// Versions lists the retained snapshots, newest first. The LEFT JOIN tells
// an existing profile with no snapshots (one NULL row) from an absent one
// (no row).
func (s *Store) Versions(ctx context.Context, key persistence.ProfileKey) ([]persistence.VersionInfo, error) {
	if err := persistence.ValidateKey(key); err != nil {
		return nil, err
	}
	var (
		out   []persistence.VersionInfo
		found bool
	)
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		out, found = []persistence.VersionInfo{}, false
		rs, err := tx.Query(ctx, `
SELECT s.save_seq, s.epoch, s.schema_version, s.size_bytes, s.saved_at
  FROM hearth_profiles AS p
  LEFT JOIN hearth_snapshots AS s ON s.namespace = p.namespace AND s.profile_id = p.profile_id
 WHERE p.namespace = $1 AND p.profile_id = $2 AND NOT p.deleted
 ORDER BY s.save_seq DESC`, key.Namespace, key.ID)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			found = true
			var seq, epoch, schema, size *int64
			var savedAt *time.Time
			if err := rs.Scan(&seq, &epoch, &schema, &size, &savedAt); err != nil {
				return err
			}
			if seq == nil {
				continue
			}
			out = append(out, persistence.VersionInfo{
				Seq: *seq, Epoch: *epoch, SchemaVersion: *schema, Size: int(*size), SavedAt: *savedAt,
			})
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("versions of %s: %w", key, err)
	}
	if !found {
		return nil, fmt.Errorf("versions of %s: %w", key, persistence.ErrNotFound)
	}
	return out, nil
}

// Version reads one retained snapshot.
func (s *Store) Version(ctx context.Context, key persistence.ProfileKey, seq int64) (persistence.Snapshot, error) {
	if err := persistence.ValidateKey(key); err != nil {
		return persistence.Snapshot{}, err
	}
	snap := persistence.Snapshot{Key: key, Seq: seq}
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
SELECT epoch, schema_version, document, saved_at FROM hearth_snapshots
 WHERE namespace = $1 AND profile_id = $2 AND save_seq = $3`,
			key.Namespace, key.ID, seq).Scan(&snap.Epoch, &snap.SchemaVersion, &snap.Document, &snap.SavedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return persistence.Snapshot{}, fmt.Errorf("version %d of %s: %w", seq, key, persistence.ErrNotFound)
	}
	if err != nil {
		return persistence.Snapshot{}, fmt.Errorf("version %d of %s: %w", seq, key, err)
	}
	return snap, nil
}
