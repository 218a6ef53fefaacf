package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema step: a single idempotent DDL statement. CockroachDB
// wants one DDL statement per transaction and no DDL mixed with data
// changes, so each step runs on its own and its version row is recorded
// afterwards. Because every step is idempotent (IF NOT EXISTS), two nodes
// migrating at once, or a node that crashed between a step and its version
// row, converge on the same schema. No advisory locks: CockroachDB has none.
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

// migrate brings the schema up to date. Safe to run from many nodes at once.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, createMigrationsTable); err != nil {
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
		if _, err := pool.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := pool.Exec(ctx,
			`INSERT INTO hearth_schema_migrations (version, name) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING`,
			m.Version, m.Name); err != nil {
			return fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}
