package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// The "sql-lock" baseline's statements (see baseline). The lock comes
// first: the key read after it runs on a snapshot taken once the lock is
// held (READ COMMITTED), so a repeat of a key another transaction just
// committed is seen, never applied twice.
const (
	lockBegin = `BEGIN ISOLATION LEVEL READ COMMITTED`
	lockRow   = `SELECT doc, version FROM hearth_loadtest_baseline WHERE namespace = $1 AND id = $2 FOR UPDATE`
	lockKey   = `SELECT result FROM hearth_loadtest_baseline_keys WHERE namespace = $1 AND id = $2 AND key = $3`
	lockNew   = `INSERT INTO hearth_loadtest_baseline (namespace, id, doc, version) VALUES ($1, $2, '{}', 0)
ON CONFLICT (namespace, id) DO NOTHING`
	lockWrite = `UPDATE hearth_loadtest_baseline SET doc = $3, version = $4 WHERE namespace = $1 AND id = $2`
	lockPut   = `INSERT INTO hearth_loadtest_baseline_keys (namespace, id, key, result) VALUES ($1, $2, $3, $4)`
)

// applyLocked runs one attempt of the row-locking transaction on a pooled
// connection: two round trips when the profile exists. Any failure rolls
// back; a retryable one (40001) is retried by the caller.
func (b *baseline) applyLocked(ctx context.Context, ref *hearthv1.ProfileRef, key string, ops []*hearthv1.Operation,
	result func(version int64) proto.Message, repeat func([]byte) (proto.Message, error)) (out proto.Message, err error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	// A connection left inside a transaction is closed by the pool on
	// Release, so a failed rollback cannot leak a lock.
	defer conn.Release()
	c := conn.Conn()
	defer func() {
		if c.PgConn().TxStatus() != 'I' {
			_, rbErr := c.Exec(context.WithoutCancel(ctx), "ROLLBACK")
			err = errors.Join(err, rbErr)
		}
	}()
	ns, id := ref.GetNamespace(), ref.GetId()

	// Round trip 1: begin, lock the row, read the key.
	raw, version, prev, found, err := lockAndRead(ctx, c, true, ns, id, key)
	if err != nil {
		return nil, err
	}
	if !found {
		// The profile's first write: create the row, then lock it (a
		// concurrent creator's insert waits for ours, or ours for theirs).
		if _, err := c.Exec(ctx, lockNew, ns, id); err != nil {
			return nil, err
		}
		if raw, version, prev, found, err = lockAndRead(ctx, c, false, ns, id, key); err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("baseline: row %s/%s vanished after its insert", ns, id)
		}
	}
	if prev != nil {
		out, err = repeat(prev)
		if err != nil {
			return nil, err
		}
		_, err = c.Exec(ctx, "COMMIT")
		return out, err
	}
	enc, invalid, err := transform(raw, ops)
	if err != nil {
		return nil, err
	}
	if invalid != nil {
		_, err = c.Exec(ctx, "ROLLBACK")
		return invalid, err
	}
	version++
	out = result(version)

	// Round trip 2: write the document and the key, commit.
	batch := &pgx.Batch{}
	batch.Queue(lockWrite, ns, id, enc, version)
	if key != "" {
		rec, err := proto.Marshal(out)
		if err != nil {
			return nil, err
		}
		batch.Queue(lockPut, ns, id, key, rec)
	}
	batch.Queue("COMMIT")
	br := c.SendBatch(ctx, batch)
	for range batch.Len() - 1 {
		if _, err := br.Exec(); err != nil {
			return nil, errors.Join(err, br.Close())
		}
	}
	tag, err := br.Exec()
	if err = errors.Join(err, br.Close()); err != nil {
		return nil, err
	}
	if tag.String() != "COMMIT" {
		return nil, fmt.Errorf("baseline: commit answered %q", tag.String())
	}
	return out, nil
}

// lockAndRead locks the profile's row and reads it and the key's recorded
// answer (prev, nil if none), in one round trip; begin opens the
// transaction in the same round trip.
func lockAndRead(ctx context.Context, c *pgx.Conn, begin bool, ns, id, key string) (raw []byte, version int64, prev []byte, found bool, err error) {
	batch := &pgx.Batch{}
	if begin {
		batch.Queue(lockBegin)
	}
	batch.Queue(lockRow, ns, id)
	if key != "" {
		batch.Queue(lockKey, ns, id, key)
	}
	br := c.SendBatch(ctx, batch)
	defer func() { err = errors.Join(err, br.Close()) }()
	if begin {
		if _, err = br.Exec(); err != nil {
			return nil, 0, nil, false, err
		}
	}
	switch err = br.QueryRow().Scan(&raw, &version); {
	case errors.Is(err, pgx.ErrNoRows):
		err = nil
	case err != nil:
		return nil, 0, nil, false, err
	default:
		found = true
	}
	if key != "" {
		if err = br.QueryRow().Scan(&prev); errors.Is(err, pgx.ErrNoRows) {
			prev, err = nil, nil
		}
	}
	return raw, version, prev, found, err
}

// readUnlocked is the "sql-lock" baseline's join: one statement, no
// transaction (a stateless service has no session to start).
func (b *baseline) readUnlocked(ctx context.Context, ref *hearthv1.ProfileRef) ([]byte, int64, error) {
	var doc []byte
	var version int64
	err := b.pool.QueryRow(ctx, `SELECT doc, version FROM hearth_loadtest_baseline WHERE namespace = $1 AND id = $2`,
		ref.GetNamespace(), ref.GetId()).Scan(&doc, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return []byte("{}"), 0, nil
	}
	return doc, version, err
}
