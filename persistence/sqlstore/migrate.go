package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema step: a single idempotent DDL statement. CockroachDB
// wants one DDL statement per transaction and no DDL mixed with data
// changes, so each step runs on its own and its version row is recorded
// afterwards. Because every step is idempotent (IF NOT EXISTS), nodes
// migrating at once (see applyMigrations for the races that still happen and
// how they are retried), or a node that crashed between a step and its
// version row, converge on the same schema. No advisory locks: CockroachDB
// has none.
type migration struct {
	Version int64
	Name    string
	SQL     string
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS hearth_schema_migrations (
    version    BIGINT      NOT NULL PRIMARY KEY,
    name       TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

// loadMigrations reads NNNN_name.sql files, in version order. It is a pure
// function of the file system so it can be tested with fstest.MapFS.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	seen := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 || name == "" {
			return nil, fmt.Errorf("migration file %q: want NNNN_name.sql", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration version %d used by %q and %q", v, prev, e.Name())
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", e.Name(), err)
		}
		sql := strings.TrimSpace(string(body))
		if strings.Contains(strings.TrimSuffix(stripComments(sql), ";"), ";") {
			return nil, fmt.Errorf("migration %q: one statement per migration", e.Name())
		}
		out = append(out, migration{Version: v, Name: name, SQL: sql})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != int64(i+1) {
			return nil, fmt.Errorf("migration versions must be 1..n without gaps; found %d at position %d", m.Version, i+1)
		}
	}
	return out, nil
}

func stripComments(sql string) string {
	var b strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}

// ErrSchemaFromFuture: the database was migrated by a newer binary.
var ErrSchemaFromFuture = errors.New("database schema is newer than this binary")

// migrateAttempts bounds how often one schema step is run again after it
// lost a race with another node creating the same object. Each lost race
// means another node's step committed, so a handful is plenty; the bound
// only stops a step that keeps failing for another reason from spinning.
const migrateAttempts = 10

// migrate brings the schema up to date. Safe to run from many nodes at once.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return err
	}
	return applyMigrations(ctx, pool, ms)
}

// applyMigrations applies every step of ms the version table does not list.
//
// CREATE ... IF NOT EXISTS is not atomic against itself: when several nodes
// start at once on an empty database, two of them can both see a table
// missing, both insert it into the catalog, and the loser fails with a
// duplicate-object error (PostgreSQL: 23505 on a pg_catalog unique index such
// as pg_type_typname_nsp_index, 42P07, 42710; CockroachDB: 42P07 or a 40001
// restart). Each step is idempotent, so a step that lost such a race is run
// again: by then the winner's DDL committed, and IF NOT EXISTS makes the
// retry a no-op. That needs no advisory lock (CockroachDB has none) and no
// lock row a crashed node could leave behind.
func applyMigrations(ctx context.Context, pool *pgxpool.Pool, ms []migration) error {
	if err := runSchemaStep(ctx, pool, createMigrationsTable); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	applied := map[int64]bool{}
	var newest int64
	rows, err := pool.Query(ctx, `SELECT version FROM hearth_schema_migrations`)
	if err != nil {
		return fmt.Errorf("read applied migrations: %w", err)
	}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read applied migrations: %w", err)
		}
		applied[v] = true
		newest = max(newest, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read applied migrations: %w", err)
	}
	if newest > int64(len(ms)) {
		return fmt.Errorf("%w: database at version %d, binary knows %d", ErrSchemaFromFuture, newest, len(ms))
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if err := runSchemaStep(ctx, pool, m.SQL); err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
		// Recorded only after its step committed, so a node that crashed in
		// between runs the (idempotent) step again on its next start.
		if err := runSchemaStep(ctx, pool,
			`INSERT INTO hearth_schema_migrations (version, name) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING`,
			m.Version, m.Name); err != nil {
			return fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// runSchemaStep runs one idempotent statement in its own implicit
// transaction, again after a short jittered pause when it lost a race
// (lostSchemaRace).
func runSchemaStep(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) error {
	backoff := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		_, err := pool.Exec(ctx, sql, args...)
		if err == nil || !lostSchemaRace(err) {
			return err
		}
		if attempt >= migrateAttempts {
			return fmt.Errorf("still racing other nodes after %d attempts: %w", attempt, err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(rand.N(backoff) + time.Millisecond):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// lostSchemaRace says whether err is a concurrent DDL statement creating the
// same object first. A unique violation counts only on a system catalog
// index (pg_*): that is how PostgreSQL reports two CREATE ... IF NOT EXISTS
// of one name; a unique violation on Hearth's own tables is a real error.
func lostSchemaRace(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "42P07", // duplicate_table (tables, indexes)
		"42710", // duplicate_object (types, constraints)
		"42P06", // duplicate_schema
		"42701", // duplicate_column (ADD COLUMN IF NOT EXISTS)
		"40001", // serialization_failure (CockroachDB schema changes)
		"40P01": // deadlock_detected (catalog locks taken in different orders)
		return true
	case "23505": // unique_violation
		return strings.HasPrefix(pgErr.ConstraintName, "pg_") || pgErr.SchemaName == "pg_catalog"
	}
	return false
}
