package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestLoadMigrationsEmbedded(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 5 {
		t.Fatalf("want at least 5 migrations, got %d", len(ms))
	}
	for i, m := range ms {
		if m.Version != int64(i+1) {
			t.Errorf("migration %d has version %d", i, m.Version)
		}
		if !strings.Contains(m.SQL, "IF NOT EXISTS") {
			t.Errorf("migration %04d_%s is not idempotent (no IF NOT EXISTS)", m.Version, m.Name)
		}
	}
}

func TestLoadMigrationsRejects(t *testing.T) {
	file := func(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }
	cases := map[string]fstest.MapFS{
		"bad name":       {"migrations/first.sql": file("CREATE TABLE IF NOT EXISTS a (x BIGINT)")},
		"zero version":   {"migrations/0000_a.sql": file("CREATE TABLE IF NOT EXISTS a (x BIGINT)")},
		"gap":            {"migrations/0001_a.sql": file("SELECT 1"), "migrations/0003_c.sql": file("SELECT 1")},
		"duplicate":      {"migrations/0001_a.sql": file("SELECT 1"), "migrations/001_b.sql": file("SELECT 1")},
		"two statements": {"migrations/0001_a.sql": file("CREATE TABLE IF NOT EXISTS a (x BIGINT); DROP TABLE a")},
	}
	for name, fsys := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := loadMigrations(fsys); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	ok := fstest.MapFS{
		"migrations/0002_b.sql": file("-- comment; with a semicolon\nCREATE INDEX IF NOT EXISTS i ON a (x);"),
		"migrations/0001_a.sql": file("CREATE TABLE IF NOT EXISTS a (x BIGINT)"),
		"migrations/README":     file("not a migration"),
	}
	ms, err := loadMigrations(ok)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "a" || ms[1].Name != "b" {
		t.Fatalf("got %+v", ms)
	}
}

// TestConcurrentMigrations: several nodes starting at once on an empty
// database, and on a database an older binary migrated part of the way,
// all succeed and leave the complete schema with every version recorded
// once. Each node has its own connection pool, as separate processes do.
// Without the retry of lost DDL races (runSchemaStep), most rounds fail with
// 23505 on pg_type_typname_nsp_index or 42P07.
func TestConcurrentMigrations(t *testing.T) {
	ms := mustMigrations(t)
	const migrators, rounds = 6, 5
	for round := 0; round < rounds; round++ {
		url := pg.NewDatabase(t)
		migrateAtOnce(t, url, ms, migrators)
		checkSchema(t, url, ms)
	}
	for _, applied := range []int{1, 3, len(ms) - 1} {
		url := pg.NewDatabase(t)
		migrateAtOnce(t, url, ms[:applied], 1)
		checkSchema(t, url, ms[:applied])
		migrateAtOnce(t, url, ms, migrators)
		checkSchema(t, url, ms)
	}
}

// migrateAtOnce opens n pools on url, then releases n goroutines together to
// apply ms, and fails the test with every error.
func migrateAtOnce(t *testing.T, url string, ms []migration, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pools := make([]*pgxpool.Pool, n)
	for i := range pools {
		p, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Ping(ctx); err != nil { // connected before the start line
			t.Fatal(err)
		}
		pools[i] = p
	}
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, p := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = applyMigrations(ctx, p, ms)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d of %d: %v", i, n, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// schemaObject finds the table or index a migration creates, and
// schemaColumn the table and column it adds.
var (
	schemaObject = regexp.MustCompile(`(?i)CREATE (?:TABLE|INDEX) IF NOT EXISTS\s+(\w+)`)
	schemaColumn = regexp.MustCompile(`(?i)ALTER TABLE\s+(\w+)\s+ADD COLUMN IF NOT EXISTS\s+(\w+)`)
)

// checkSchema checks that every object ms create exists and that the
// version table lists exactly ms, each once.
func checkSchema(t *testing.T, url string, ms []migration) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, m := range ms {
		var exists bool
		var what string
		if name := schemaObject.FindStringSubmatch(m.SQL); name != nil {
			what = name[1]
			err = conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name[1]).Scan(&exists)
		} else if col := schemaColumn.FindStringSubmatch(m.SQL); col != nil {
			what = col[1] + "." + col[2]
			err = conn.QueryRow(ctx, `SELECT count(*) = 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2`,
				col[1], col[2]).Scan(&exists)
		} else {
			t.Fatalf("migration %04d_%s: cannot tell what it creates", m.Version, m.Name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !exists {
			t.Errorf("migration %04d_%s: %s does not exist", m.Version, m.Name, what)
		}
	}
	rows, err := conn.Query(ctx, `SELECT version, name FROM hearth_schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var v int64
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%04d_%s", v, name))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range ms {
		want = append(want, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	if !slices.Equal(got, want) {
		t.Errorf("version table lists %v, want %v", got, want)
	}
}

// TestLostSchemaRace: only duplicate-object errors and catalog unique
// violations count as a lost race; a unique violation on Hearth's own
// tables does not.
func TestLostSchemaRace(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "23505", ConstraintName: "pg_type_typname_nsp_index"}, true},
		{&pgconn.PgError{Code: "23505", SchemaName: "pg_catalog"}, true},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "42P07"}), true},
		{&pgconn.PgError{Code: "42710"}, true},
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "23505", ConstraintName: "hearth_profiles_pkey", SchemaName: "public"}, false},
		{&pgconn.PgError{Code: "42601"}, false}, // syntax error
		{errors.New("connection reset"), false},
	}
	for _, tc := range cases {
		if got := lostSchemaRace(tc.err); got != tc.want {
			t.Errorf("lostSchemaRace(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
