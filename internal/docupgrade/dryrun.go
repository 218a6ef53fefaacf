package docupgrade

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/actors/migration"
	"github.com/hearth-profiles/hearth/persistence"
)

// Exporter reads a namespace's stored profiles from one consistent state
// (persistence.ProfileLister's Export). The dry run needs nothing else
// from the store: it cannot write.
type Exporter interface {
	Export(ctx context.Context, namespace string, fn func(persistence.ListedProfile) error) error
}

// Failure is a stored profile that would not load.
type Failure struct {
	Profile string `json:"profile"` // namespace/id
	Seq     int64  `json:"seq"`
	Schema  int64  `json:"schema_version"`
	// Reason is one of unreadable (the stored envelope or document cannot
	// be decoded), schema_too_new, migration_failed, not_object,
	// too_large.
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// Report is what a dry run found in one namespace.
type Report struct {
	Namespace string `json:"namespace"`
	// CurrentSchema is the schema version the plan migrates to.
	CurrentSchema int64 `json:"current_schema"`
	// Profiles counts every live profile read; NeverSaved those without a
	// snapshot (a node starts them from the template).
	Profiles   int `json:"profiles"`
	NeverSaved int `json:"never_saved"`
	// Unchanged would load as stored; Migrated would run migration steps;
	// Reconciled would gain members from the template.
	Unchanged  int `json:"unchanged"`
	Migrated   int `json:"migrated"`
	Reconciled int `json:"reconciled"`
	// Failed counts the profiles that would not load; Failures lists the
	// first MaxFailures of them, in id order.
	Failed   int       `json:"failed"`
	Failures []Failure `json:"failures"`
}

// DryRunOptions tune DryRun.
type DryRunOptions struct {
	// MaxFailures caps Report.Failures (0: 1000); Failed still counts all.
	MaxFailures int
	// Progress, if set, is called after each profile with the count so far.
	Progress func(done int)
}

// DryRun loads every stored profile of namespace ns in memory as a node
// with policy p would (Upgrade) and reports which would fail and why. It
// reads one consistent state through src and writes nothing.
func DryRun(ctx context.Context, src Exporter, ns string, p Policy, o DryRunOptions) (Report, error) {
	if o.MaxFailures <= 0 {
		o.MaxFailures = 1000
	}
	r := Report{Namespace: ns, CurrentSchema: p.Migrations.Current(), Failures: []Failure{}}
	err := src.Export(ctx, ns, func(lp persistence.ListedProfile) error {
		r.Profiles++
		if o.Progress != nil {
			defer o.Progress(r.Profiles)
		}
		snap := lp.Snapshot
		if snap == nil {
			r.NeverSaved++
			return nil
		}
		res, err := load(p, snap)
		if err != nil {
			r.Failed++
			if len(r.Failures) < o.MaxFailures {
				r.Failures = append(r.Failures, Failure{Profile: lp.Key.String(), Seq: snap.Seq, Schema: snap.SchemaVersion,
					Reason: reasonOf(err), Error: err.Error()})
			}
			return nil
		}
		switch {
		case res.Migrated:
			r.Migrated++
		case res.Reconciled:
			r.Reconciled++
		default:
			r.Unchanged++
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("dry run of %s: %w", ns, err)
	}
	return r, nil
}

// errUnreadable marks a stored document that cannot be decoded.
var errUnreadable = errors.New("unreadable")

// load decodes a stored snapshot as a node does and upgrades it.
func load(p Policy, snap *persistence.Snapshot) (Result, error) {
	raw, _, err := activation.DecodeStored(snap.Document)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", errUnreadable, err)
	}
	doc, err := document.Decode(raw)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", errUnreadable, err)
	}
	return Upgrade(p, doc, snap.SchemaVersion)
}

func reasonOf(err error) string {
	switch {
	case errors.Is(err, errUnreadable):
		return "unreadable"
	case errors.Is(err, migration.ErrSchemaTooNew):
		return "schema_too_new"
	case errors.Is(err, migration.ErrMigrationFailed):
		return "migration_failed"
	case errors.Is(err, ErrNotObject):
		return "not_object"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	default:
		return "failed"
	}
}
