package activation

import (
	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/actors/migration"
)

// Upgraded is a document brought to its namespace's current schema and
// reconciled with its template, as an activation loads it.
type Upgraded struct {
	Doc        any    // the decoded document (an object)
	Encoded    []byte // its JSON
	Schema     int64  // the plan's current schema version
	Migrated   bool   // migration steps ran (the schema changed)
	Reconciled bool   // the template filled in members the document lacked
}

// Upgrade does what an activation does to a stored document when it loads
// or restores it: migrate it from schema version from to the plan's current
// one, reconcile it with the template, encode it. Tools that must agree
// with the nodes (the migration dry run, the importer) call it too. doc
// (nil: an empty object) is never modified.
func Upgrade(migrations migration.Plan, template any, doc any, from int64) (Upgraded, error) {
	migrated, schema, err := migrations.Migrate(doc, from)
	if err != nil {
		return Upgraded{}, err
	}
	reconciled, changed := document.Reconcile(migrated, template)
	if reconciled == nil {
		reconciled = map[string]any{}
	}
	encoded, err := document.Encode(reconciled)
	if err != nil {
		return Upgraded{}, err
	}
	return Upgraded{Doc: reconciled, Encoded: encoded, Schema: schema, Migrated: schema != from, Reconciled: changed}, nil
}
