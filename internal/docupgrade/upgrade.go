// Package docupgrade does to a profile document what a node does when it
// loads the profile: migrate it from its schema version to the namespace's
// current one, reconcile it with the namespace's template, and check that
// the result fits the document limit. The migration dry run (DryRun) runs it
// over stored profiles, and the importer brings imported documents to the
// node's schema with it.
//
// The upgrade itself is actors/activation.Upgrade, the very step a node's
// activation runs on load, so a profile that passes here loads on a node
// with the same configuration.
package docupgrade

import (
	"errors"
	"fmt"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/actors/migration"
	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/persistence"
)

// Policy is what a namespace does to a loaded document.
type Policy struct {
	Migrations migration.Plan
	Template   any
	// MaxDocumentBytes is the largest encoded document the node keeps.
	MaxDocumentBytes int
}

// PolicyOf is the policy a node with cfg applies to namespace ns: the
// namespace's template and migrations (none for a namespace the file does
// not name, as a node serving unknown namespaces has), and the node's
// document limit (profiles.max_document_bytes, or the store's limit less
// the envelope, as the node computes it).
func PolicyOf(cfg config.Config, ns string) Policy {
	n := cfg.Namespaces[ns]
	limit := persistence.DefaultLimits().MaxDocumentBytes - activation.EnvelopeReserve
	if m := cfg.Profiles.MaxDocumentBytes; m > 0 && m < limit {
		limit = m
	}
	return Policy{Migrations: n.Migrations, Template: n.Template, MaxDocumentBytes: limit}
}

// Result is an upgraded document.
type Result struct {
	// Document is the encoded result (compact, object members sorted).
	Document []byte
	// Schema is the schema version it is at: the plan's current one.
	Schema int64
	// Migrated: migration steps ran (the schema changed).
	Migrated bool
	// Reconciled: the template filled in members the document lacked.
	Reconciled bool
}

// ErrTooLarge: the upgraded document is over the node's document limit:
// the node would load it, but refuse every change to it (and, past the
// store's limit, fail to save it).
var ErrTooLarge = errors.New("document too large")

// ErrNotObject: a document's root is not an object.
var ErrNotObject = errors.New("the document root must be an object")

// Upgrade brings doc (a decoded document, see document.Decode; nil is an
// empty object) from schema version from to the policy's current one. It
// fails with the migration's errors (migration.ErrSchemaTooNew,
// migration.ErrMigrationFailed, ...), ErrNotObject or ErrTooLarge; doc is
// never modified.
func Upgrade(p Policy, doc any, from int64) (Result, error) {
	if doc != nil {
		if _, ok := doc.(map[string]any); !ok {
			return Result{}, fmt.Errorf("%w, not %s", ErrNotObject, document.TypeName(doc))
		}
	}
	up, err := activation.Upgrade(p.Migrations, p.Template, doc, from)
	if err != nil {
		return Result{}, err
	}
	if p.MaxDocumentBytes > 0 && len(up.Encoded) > p.MaxDocumentBytes {
		return Result{}, fmt.Errorf("%w: %d bytes after the upgrade, limit %d", ErrTooLarge, len(up.Encoded), p.MaxDocumentBytes)
	}
	return Result{Document: up.Encoded, Schema: up.Schema, Migrated: up.Migrated, Reconciled: up.Reconciled}, nil
}
