package migration

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hearth-profiles/hearth/actors/document"
)

func FuzzMigrate(f *testing.F) {
	seeds := []struct {
		doc, steps string
		from       int64
	}{
		{`{"gold": 5, "sound": {"v": 1}}`, `[{"version": 1, "actions": [{"kind": "rename", "path": "/gold", "to": "coins"}]},
			{"version": 2, "actions": [{"kind": "move", "path": "/sound", "to": "/settings/sound"}]}]`, 0},
		{`{"l": [1, 2, 3]}`, `[{"version": 3, "actions": [{"kind": "move", "path": "/l/0", "to": "/l/-"}, {"kind": "delete", "path": "/l/1"}]}]`, 1},
		{`{"a": {"b": 1}}`, `[{"version": 1, "actions": [{"kind": "set_default", "path": "/a/c", "value": {"x": [null]}}]}]`, 0},
		{`{"a": [1]}`, `[{"version": 1, "actions": [{"kind": "rename", "path": "/a/0", "to": "b"}]}]`, 0},
		{`{"a": 1}`, `[{"version": 2}, {"version": 1}]`, 0},
		{`{"a": 1}`, `[{"version": 1, "actions": [{"kind": "move", "path": "/a", "to": "/a/b"}]}]`, 0},
		{`[]`, `[{"version": 1}]`, 0},
		{`{}`, `[{"version": 1}]`, 5},
	}
	for _, s := range seeds {
		f.Add([]byte(s.doc), []byte(s.steps), s.from)
	}
	f.Fuzz(func(t *testing.T, docJSON, stepsJSON []byte, from int64) {
		doc, err := document.Decode(docJSON)
		if err != nil {
			return
		}
		var steps []Step
		if err := json.Unmarshal(stepsJSON, &steps); err != nil {
			return
		}
		p, err := NewPlan(steps)
		if err != nil {
			var pe *PlanError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidPlan) {
				t.Fatalf("NewPlan error %v is not a *PlanError wrapping ErrInvalidPlan", err)
			}
			return
		}
		before, _ := document.Encode(doc)
		for _, start := range []int64{from, 0} {
			out, ver, err := p.Migrate(doc, start)
			if after, _ := document.Encode(doc); !bytes.Equal(after, before) {
				t.Fatalf("Migrate mutated its input:\n%s\n%s", before, after)
			}
			if err != nil {
				if out != nil || ver != start {
					t.Fatalf("error %v with result %v, version %d", err, out, ver)
				}
				switch {
				case errors.Is(err, ErrMigrationFailed):
					var se *StepError
					if !errors.As(err, &se) {
						t.Fatalf("ErrMigrationFailed without a *StepError: %v", err)
					}
				case errors.Is(err, ErrSchemaTooNew):
					if start <= p.Current() {
						t.Fatalf("ErrSchemaTooNew for version %d, current %d", start, p.Current())
					}
				case errors.Is(err, ErrInvalidVersion):
					if start >= 0 {
						t.Fatalf("ErrInvalidVersion for version %d", start)
					}
				default:
					t.Fatalf("unexpected error %v", err)
				}
				continue
			}
			if ver != p.Current() {
				t.Fatalf("version %d, want %d", ver, p.Current())
			}
			enc, err := document.Encode(out)
			if err != nil {
				t.Fatalf("result does not encode: %v", err)
			}
			if _, err := document.Decode(enc); err != nil {
				t.Fatalf("result %s does not decode: %v", enc, err)
			}
			// Migrating is deterministic, and a migrated document is
			// current: migrating it again changes nothing.
			again, _, err := p.Migrate(doc, start)
			if enc2, _ := document.Encode(again); err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("second run differs: %s vs %s (%v)", enc, enc2, err)
			}
			if same, v2, err := p.Migrate(out, ver); err != nil || v2 != ver || !document.Equal(same, out) {
				t.Fatalf("a current document was changed: %v", err)
			}
		}
	})
}
