package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/internal/docupgrade"
)

// A node configuration whose game namespace renames /stats/gold to
// /stats/coins (schema 1) and adds a template.
const migratingConfig = `
namespaces:
  game:
    template: {stats: {}, level: 1}
    migrations:
      - version: 1
        actions:
          - {kind: rename, path: /stats/gold, to: coins}
`

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// dbState is everything of the store a dry run could change: each live
// profile's owner, epoch, seq, schema and document, and the row counts.
func (e *env) dbState() string {
	e.t.Helper()
	var b strings.Builder
	for _, ns := range []string{"game", "other"} {
		for _, lp := range e.listed(ns) {
			fmt.Fprintf(&b, "%s owner=%s epoch=%d seq=%d schema=%d doc=%s\n", lp.Key, lp.Owner, lp.Epoch,
				lp.Snapshot.Seq, lp.Snapshot.SchemaVersion, lp.Snapshot.Document)
		}
	}
	conn, err := pgx.Connect(context.Background(), e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var profiles, snapshots, nodes int64
	if err := conn.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM hearth_profiles), (SELECT count(*) FROM hearth_snapshots), (SELECT count(*) FROM hearth_nodes)`).
		Scan(&profiles, &snapshots, &nodes); err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(&b, "rows: %d profiles, %d snapshots, %d nodes\n", profiles, snapshots, nodes)
	return b.String()
}

// TestMigrateDryRun: every stored profile is loaded in memory with the
// configuration's migrations and template; the one a migration step fails
// on is named with the step, the others counted; nothing in the database
// changes.
func TestMigrateDryRun(t *testing.T) {
	e := newEnv(t)
	e.write("game", "ok1", `{"stats":{"gold":5}}`)
	e.write("game", "ok2", `{"stats":{"coins":1},"level":3}`)
	e.write("game", "bad", `{"stats":3}`)
	e.write("other", "x", `{"a":1}`)
	cfg := writeConfig(t, migratingConfig)
	before := e.dbState()

	r := e.ctl("migrate", "dry-run", "--config", cfg)
	wantCode(t, r, exitFindings, "dry run with a failing profile")
	if !strings.Contains(r.stdout, "FAIL game/bad") || !strings.Contains(r.stdout, "migration_failed") || !strings.Contains(r.stdout, "step 1") {
		t.Errorf("the failing profile is not named with its step:\n%s", r)
	}
	if strings.Contains(r.stdout, "FAIL game/ok") {
		t.Errorf("a good profile is reported:\n%s", r)
	}

	r = e.ctl("--json", "migrate", "dry-run", "--config", cfg)
	reports := decodeJSON[[]docupgrade.Report](t, r)
	if len(reports) != 2 || reports[0].Namespace != "game" || reports[1].Namespace != "other" {
		t.Fatalf("reports: %+v", reports)
	}
	game, other := reports[0], reports[1]
	if game.Profiles != 3 || game.Migrated != 2 || game.Failed != 1 || game.CurrentSchema != 1 ||
		len(game.Failures) != 1 || game.Failures[0].Profile != "game/bad" {
		t.Errorf("game: %+v", game)
	}
	if other.Profiles != 1 || other.Unchanged != 1 || other.Failed != 0 {
		t.Errorf("other: %+v", other)
	}
	if after := e.dbState(); after != before {
		t.Errorf("the dry run changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	wantCode(t, e.ctl("migrate", "dry-run", "--config", cfg, "--namespace", "other"), 0, "dry run of a namespace that passes")
	wantCode(t, e.ctl("migrate", "dry-run"), exitUsage, "dry run without --config")
	wantCode(t, e.ctl("migrate", "dry-run", "--config", writeConfig(t, "namespaces:\n  game:\n    migrations: [{version: 0}]\n")),
		exitError, "dry run with a bad config")
}
