package deploy

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-profiles/hearth/deploy/internal/check"
)

// TestOperationsListsEveryMigration: the CockroachDB set-up in
// docs/OPERATIONS.md lists every schema step the nodes run, so an operator
// knows what a new release will do to the database.
func TestOperationsListsEveryMigration(t *testing.T) {
	root := check.RepoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "persistence", "sqlstore", "migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	doc := string(check.Read(t, filepath.Join(root, "docs", "OPERATIONS.md")))
	for _, f := range files {
		if name := filepath.Base(f); !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/OPERATIONS.md (CockroachDB set-up) does not list migration %s", name)
		}
	}
}
