package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/persistence"
)

// Record reads one idempotency record.
func (s *Store) Record(ctx context.Context, key persistence.ProfileKey, recordKey string) (persistence.StoredRecord, error) {
	if err := persistence.ValidateKey(key); err != nil {
		return persistence.StoredRecord{}, err
	}
	if err := persistence.ValidateRecordKey(recordKey); err != nil {
		return persistence.StoredRecord{}, err
	}
	rec := persistence.StoredRecord{Profile: key, Key: recordKey}
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
SELECT result, save_seq, created_at FROM hearth_records
 WHERE namespace = $1 AND profile_id = $2 AND record_key = $3`,
			key.Namespace, key.ID, recordKey).Scan(&rec.Result, &rec.Seq, &rec.CreatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return persistence.StoredRecord{}, fmt.Errorf("record %q of %s: %w", recordKey, key, persistence.ErrNotFound)
	}
	if err != nil {
		return persistence.StoredRecord{}, fmt.Errorf("record %q of %s: %w", recordKey, key, err)
	}
	return rec, nil
}

// Records pages through a profile's records in (seq, key) order.
func (s *Store) Records(ctx context.Context, key persistence.ProfileKey, q persistence.RecordQuery) ([]persistence.StoredRecord, error) {
	if err := persistence.ValidateKey(key); err != nil {
		return nil, err
	}
	q, err := persistence.ValidateRecordQuery(q)
	if err != nil {
		return nil, err
	}
	var out []persistence.StoredRecord
	err = s.runTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		rs, err := tx.Query(ctx, `
SELECT record_key, result, save_seq, created_at FROM hearth_records
 WHERE namespace = $1 AND profile_id = $2 AND (save_seq, record_key) > ($3, $4)
 ORDER BY save_seq, record_key
 LIMIT $5`, key.Namespace, key.ID, q.AfterSeq, q.AfterKey, q.Limit)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			r := persistence.StoredRecord{Profile: key}
			if err := rs.Scan(&r.Key, &r.Result, &r.Seq, &r.CreatedAt); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("records of %s: %w", key, err)
	}
	return out, nil
}
