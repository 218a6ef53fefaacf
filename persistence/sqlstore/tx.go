package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	crdbpgx "github.com/cockroachdb/cockroach-go/v2/crdb/crdbpgxv5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// errConflict is returned from inside a transaction when a conditional write
// found the row changed since it was read (a concurrent acquire won). The
// whole transaction is then run again from the start, where it reads the new
// state and decides again.
var errConflict = errors.New("concurrent change")

// innerRetries is how often cockroach-go restarts the transaction on its
// savepoint. On CockroachDB that is the cheap, priority-keeping retry. On
// PostgreSQL a SERIALIZABLE transaction keeps its snapshot across
// ROLLBACK TO SAVEPOINT, so those retries would fail the same way; the outer
// loop in runTx begins a fresh transaction instead.
const innerRetries = 2

// runTx runs fn in a SERIALIZABLE transaction through cockroach-go's retry
// helper. fn may run several times and must have no effects outside the
// transaction.
func (s *Store) runTx(ctx context.Context, fn func(pgx.Tx) error) error {
	backoff := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := crdbpgx.ExecuteTx(crdb.WithMaxRetries(ctx, innerRetries), s.pool,
			pgx.TxOptions{IsoLevel: pgx.Serializable}, fn)
		if err == nil || !retryable(err) {
			return err
		}
		if attempt >= s.opts.TxAttempts {
			return fmt.Errorf("transaction still conflicting after %d attempts: %w", attempt, err)
		}
		// Full jitter: conflicting transactions (two nodes racing for one
		// profile) spread out instead of colliding again in lockstep.
		wait := rand.N(backoff) + time.Millisecond
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last conflict: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

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
