package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// errConflict is returned from inside a transaction when a conditional write
// found the row changed since it was read (a concurrent acquire won). The
// whole transaction is then run again from the start, where it reads the new
// state and decides again.
var errConflict = errors.New("concurrent change")

// runTx runs fn in a SERIALIZABLE transaction, retried by cockroach-go's
// retry helper (crdb.ExecuteCtx). Every attempt is a fresh transaction that
// ends in a real COMMIT whose error is returned.
//
// Not crdbpgx.ExecuteTx: its savepoint protocol treats RELEASE SAVEPOINT as
// the commit and ignores the COMMIT's error, which is right on CockroachDB
// (RELEASE commits there) and wrong on PostgreSQL, where SERIALIZABLE
// conflicts are often detected at COMMIT: the transaction rolls back and
// ExecuteTx reports success. Two racing acquisitions could then both be
// told they created a profile that neither wrote (found by the cluster tests
// and pinned by TestConcurrentAcquireAndSave). PostgreSQL also keeps a
// SERIALIZABLE snapshot across ROLLBACK TO SAVEPOINT, so savepoint retries
// could not succeed there anyway. On CockroachDB a fresh transaction per
// retry costs a little priority, nothing in correctness.
//
// fn may run several times and must have no effects outside the
// transaction.
func (s *Store) runTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.retry(ctx, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, fn)
	})
}

// retry runs attempt, a whole transaction, through cockroach-go's retry
// helper: again after a retryable failure (with jittered, doubling
// backoff), up to TxAttempts times.
func (s *Store) retry(ctx context.Context, attempt func(context.Context) error) error {
	backoff := 2 * time.Millisecond
	n := 0
	err := crdb.ExecuteCtx(crdb.WithMaxRetries(ctx, s.opts.TxAttempts-1), func(ctx context.Context, _ ...any) error {
		n++
		if n > 1 {
			// Full jitter: conflicting transactions (two nodes racing for
			// one profile) spread out instead of colliding again in lockstep.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(rand.N(backoff) + time.Millisecond):
			}
			backoff = min(backoff*2, 100*time.Millisecond)
		}
		err := attempt(ctx)
		if err != nil && retryable(err) {
			return retryLater{err}
		}
		return err
	})
	var rl retryLater
	if errors.As(err, &rl) && n >= s.opts.TxAttempts {
		return fmt.Errorf("transaction still conflicting after %d attempts: %w", n, rl.err)
	}
	if errors.As(err, &rl) {
		return rl.err
	}
	return err
}

// retryLater marks an error that a fresh transaction may not meet: to
// cockroach-go's helper it is a serialization failure (SQLSTATE 40001).
type retryLater struct{ err error }

func (r retryLater) Error() string    { return r.err.Error() }
func (r retryLater) Unwrap() error    { return r.err }
func (r retryLater) SQLState() string { return "40001" }

// retryable says whether running the transaction again may succeed:
// serialization failures (40001), deadlocks (40P01), a unique violation on a
// row a concurrent transaction just inserted (23505), and errConflict.
func retryable(err error) bool {
	if errors.Is(err, errConflict) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", "23505":
			return true
		}
	}
	return false
}

// runPipelined runs one SERIALIZABLE transaction as a single round trip:
// BEGIN, the statements queue adds, and COMMIT go to the database as one
// pipelined batch, and read consumes the statements' results. It is
// retried like runTx (a serialization failure, detected at COMMIT on
// PostgreSQL, rolls the whole transaction back; the next attempt starts
// afresh). A failed attempt's transaction is rolled back before its
// connection goes back to the pool.
func (s *Store) runPipelined(ctx context.Context, queue func(*pgx.Batch), read func(pgx.BatchResults) error) error {
	return s.retry(ctx, func(ctx context.Context) error { return s.pipelinedOnce(ctx, queue, read) })
}

func (s *Store) pipelinedOnce(ctx context.Context, queue func(*pgx.Batch), read func(pgx.BatchResults) error) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL SERIALIZABLE")
	queue(b)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	if _, err = br.Exec(); err == nil {
		if err = read(br); err == nil {
			_, err = br.Exec() // COMMIT: a serialization failure surfaces here
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
		// A statement failed: the rest of the batch, COMMIT included, was
		// skipped and the transaction is still open, aborted.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
			conn.Conn().Close(rctx) // do not hand the pool a connection in a transaction
		}
	}
	return err
}
