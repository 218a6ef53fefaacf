package sqlstore

import (
	"strings"
	"testing"
	"testing/fstest"
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
