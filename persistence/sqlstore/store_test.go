package sqlstore

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/internal/testenv/pgtest"
	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/storetest"
)

// pg is the package's shared throwaway PostgreSQL (or HEARTH_TEST_DATABASE_URL);
// every store gets its own database on it.
var pg *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }

// openTestStore opens a store on a fresh database, closed with the test.
func openTestStore(tb testing.TB, limits persistence.Limits) *Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, pg.NewDatabase(tb), Options{Limits: limits, MaxConns: 8})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// harness runs the contract suite on PostgreSQL. Leases and ages are judged
// by the database's now(), which tests cannot move; Advance instead moves
// every lease expiry and every stored timestamp a judgement reads back by d,
// which is the same as the clock moving forward by d.
type harness struct{}

// New opens a store whose Export reads pages of 2, so the contract tests'
// few profiles span several pages.
func (harness) New(t *testing.T, limits persistence.Limits) persistence.Store {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, pg.NewDatabase(t), Options{Limits: limits, MaxConns: 8, ExportPage: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (harness) Advance(t *testing.T, s persistence.Store, d time.Duration) {
	t.Helper()
	for _, q := range []string{
		`UPDATE hearth_nodes SET lease_expires_at = lease_expires_at - INTERVAL '1 millisecond' * $1::BIGINT`,
		`UPDATE hearth_snapshots SET saved_at = saved_at - INTERVAL '1 millisecond' * $1::BIGINT`,
		`UPDATE hearth_nodes SET started_at = started_at - INTERVAL '1 millisecond' * $1::BIGINT,
		                         released_at = released_at - INTERVAL '1 millisecond' * $1::BIGINT`,
		`UPDATE hearth_profiles SET created_at = created_at - INTERVAL '1 millisecond' * $1::BIGINT,
		                            updated_at = updated_at - INTERVAL '1 millisecond' * $1::BIGINT`,
		`UPDATE hearth_profiles
		    SET retained_ms = (SELECT array_agg(ms - $1::BIGINT ORDER BY i) FROM unnest(retained_ms) WITH ORDINALITY AS r(ms, i))
		  WHERE retained_ms IS NOT NULL AND cardinality(retained_ms) > 0`,
	} {
		if _, err := s.(*Store).pool.Exec(context.Background(), q, d.Milliseconds()); err != nil {
			t.Fatal(err)
		}
	}
	s.(*Store).lists.shift(d)
}

func TestContract(t *testing.T) { storetest.Run(t, harness{}) }

// TestMigrateTwice: running the migrations again (a second node starting,
// or a restart) changes nothing and does not fail.
func TestMigrateTwice(t *testing.T) {
	url := pg.NewDatabase(t)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		s, err := Open(ctx, url, Options{})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM hearth_schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := len(mustMigrations(t)); n != want {
			t.Fatalf("open %d: %d migrations recorded, want %d", i, n, want)
		}
		_ = s.Close()
	}
}

// TestSchemaFromFuture: a database migrated by a newer binary is refused.
func TestSchemaFromFuture(t *testing.T) {
	url := pg.NewDatabase(t)
	ctx := context.Background()
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO hearth_schema_migrations (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := Open(ctx, url, Options{}); err == nil || !errors.Is(err, ErrSchemaFromFuture) {
		t.Fatalf("want ErrSchemaFromFuture, got %v", err)
	}
}

func mustMigrations(t *testing.T) []migration {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}
