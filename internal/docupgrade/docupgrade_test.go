package docupgrade

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/actors/migration"
	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/localstore"
)

func plan(t *testing.T, steps ...migration.Step) migration.Plan {
	t.Helper()
	p, err := migration.NewPlan(steps)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decode(t *testing.T, s string) any {
	t.Helper()
	v, err := document.Decode([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// renameGold renames /stats/gold to coins: it fails on a profile whose
// stats is not an object.
func renameGold(t *testing.T) Policy {
	return Policy{
		Migrations: plan(t, migration.Step{Version: 1, Actions: []migration.Action{{Kind: "rename", Path: "/stats/gold", To: "coins"}}}),
		Template:   decode(t, `{"stats":{},"level":1}`),
	}
}

func TestUpgrade(t *testing.T) {
	p := renameGold(t)
	for _, tc := range []struct {
		name, doc  string
		from       int64
		want       string
		wantErr    error
		migrated   bool
		reconciled bool
	}{
		{"migrates and reconciles", `{"stats":{"gold":5}}`, 0, `{"level":1,"stats":{"coins":5}}`, nil, true, true},
		{"current and complete", `{"stats":{"coins":5},"level":3}`, 1, `{"level":3,"stats":{"coins":5}}`, nil, false, false},
		{"current, template fills", `{"stats":{}}`, 1, `{"level":1,"stats":{}}`, nil, false, true},
		{"never saved", ``, 0, `{"level":1,"stats":{}}`, nil, true, true},
		{"step fails", `{"stats":7}`, 0, ``, migration.ErrMigrationFailed, false, false},
		{"newer schema", `{}`, 2, ``, migration.ErrSchemaTooNew, false, false},
		{"not an object", `[1]`, 1, ``, ErrNotObject, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc any
			if tc.doc != "" {
				doc = decode(t, tc.doc)
			}
			got, err := Upgrade(p, doc, tc.from)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Document) != tc.want || got.Schema != 1 || got.Migrated != tc.migrated || got.Reconciled != tc.reconciled {
				t.Errorf("got %s schema %d migrated %v reconciled %v; want %s 1 %v %v",
					got.Document, got.Schema, got.Migrated, got.Reconciled, tc.want, tc.migrated, tc.reconciled)
			}
		})
	}
	p.MaxDocumentBytes = 20
	if _, err := Upgrade(p, decode(t, `{"stats":{"gold":5}}`), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

// save stores doc as key's newest snapshot at schema.
func save(t *testing.T, s *localstore.Store, key persistence.ProfileKey, schema int64, stored []byte) {
	t.Helper()
	ctx := context.Background()
	a, err := s.Acquire(ctx, "n1", key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Save(ctx, "n1", []persistence.SaveRow{{Key: key, Epoch: a.Epoch, Seq: 1, SchemaVersion: schema, Document: stored}})
	if err != nil || res[0].Outcome != persistence.SaveSaved {
		t.Fatalf("save %s: %v %v", key, res, err)
	}
}

func envelope(t *testing.T, doc string) []byte {
	t.Helper()
	b, err := activation.EncodeStored(1, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDryRunNamesFailures: every stored profile is loaded in memory; the
// ones that would fail are named with the reason, the rest counted.
func TestDryRunNamesFailures(t *testing.T) {
	ctx := context.Background()
	s := localstore.OpenMemory(localstore.Options{})
	defer s.Close()
	if _, err := s.RegisterNode(ctx, persistence.NodeInfo{ID: "n1", Address: "x"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	k := func(id string) persistence.ProfileKey { return persistence.ProfileKey{Namespace: "game", ID: id} }
	save(t, s, k("a-ok"), 0, envelope(t, `{"stats":{"gold":1},"level":2}`))
	save(t, s, k("b-bad"), 0, envelope(t, `{"stats":3}`))
	save(t, s, k("c-current"), 1, envelope(t, `{"stats":{"coins":1},"level":2}`))
	save(t, s, k("d-newer"), 5, envelope(t, `{}`))
	save(t, s, k("e-garbled"), 0, []byte(`{"not":"an envelope"}`))
	save(t, s, k("f-fill"), 1, envelope(t, `{"stats":{}}`))
	if _, err := s.Acquire(ctx, "n1", k("g-unsaved")); err != nil {
		t.Fatal(err)
	}
	save(t, s, persistence.ProfileKey{Namespace: "other", ID: "x"}, 0, envelope(t, `{"stats":3}`))

	var progress []int
	r, err := DryRun(ctx, s, "game", renameGold(t), DryRunOptions{Progress: func(n int) { progress = append(progress, n) }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Profiles != 7 || r.NeverSaved != 1 || r.Migrated != 1 || r.Unchanged != 1 || r.Reconciled != 1 || r.Failed != 3 || r.CurrentSchema != 1 {
		t.Errorf("report = %+v", r)
	}
	want := []struct{ id, reason string }{{"b-bad", "migration_failed"}, {"d-newer", "schema_too_new"}, {"e-garbled", "unreadable"}}
	if len(r.Failures) != len(want) {
		t.Fatalf("failures = %+v", r.Failures)
	}
	for i, w := range want {
		f := r.Failures[i]
		if f.Profile != k(w.id).String() || f.Reason != w.reason || f.Seq != 1 || f.Error == "" {
			t.Errorf("failure %d = %+v, want %s %s", i, f, w.id, w.reason)
		}
	}
	if !strings.Contains(r.Failures[0].Error, "step 1") {
		t.Errorf("the failure does not name the step: %s", r.Failures[0].Error)
	}
	if len(progress) != 7 || progress[6] != 7 {
		t.Errorf("progress = %v", progress)
	}

	r, err = DryRun(ctx, s, "game", renameGold(t), DryRunOptions{MaxFailures: 1})
	if err != nil || r.Failed != 3 || len(r.Failures) != 1 {
		t.Errorf("capped: %+v %v", r, err)
	}
}
