package migration

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hearth-profiles/hearth/actors/document"
)

func decode(t testing.TB, s string) any {
	t.Helper()
	v, err := document.Decode([]byte(s))
	if err != nil {
		t.Fatalf("Decode(%s): %v", s, err)
	}
	return v
}

func encode(t testing.TB, v any) string {
	t.Helper()
	b, err := document.Encode(v)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return string(b)
}

func canon(t testing.TB, s string) string { return encode(t, decode(t, s)) }

func mustPlan(t testing.TB, steps ...Step) Plan {
	t.Helper()
	p, err := NewPlan(steps)
	if err != nil {
		t.Fatalf("NewPlan: %v", err)
	}
	return p
}

func TestActions(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		actions []Action
		want    string
		wantErr error // besides ErrMigrationFailed
	}{
		{name: "rename", doc: `{"gold": 5, "x": 1}`, actions: []Action{{Kind: "rename", Path: "/gold", To: "coins"}}, want: `{"coins": 5, "x": 1}`},
		{name: "rename nested", doc: `{"s": {"vol": 3}}`, actions: []Action{{Kind: "rename", Path: "/s/vol", To: "volume"}}, want: `{"s": {"volume": 3}}`},
		{name: "rename overwrites sibling", doc: `{"a": 1, "b": 2}`, actions: []Action{{Kind: "rename", Path: "/a", To: "b"}}, want: `{"b": 1}`},
		{name: "rename to itself", doc: `{"a": 1}`, actions: []Action{{Kind: "rename", Path: "/a", To: "a"}}, want: `{"a": 1}`},
		{name: "rename to escaped name", doc: `{"a": 1}`, actions: []Action{{Kind: "rename", Path: "/a", To: "x~y"}}, want: `{"x~y": 1}`},
		{name: "rename missing member", doc: `{"a": 1}`, actions: []Action{{Kind: "rename", Path: "/gold", To: "coins"}}, want: `{"a": 1}`},
		{name: "rename missing parent", doc: `{"a": 1}`, actions: []Action{{Kind: "rename", Path: "/p/q/gold", To: "coins"}}, want: `{"a": 1}`},
		{name: "rename keeps null", doc: `{"a": null}`, actions: []Action{{Kind: "rename", Path: "/a", To: "b"}}, want: `{"b": null}`},
		{name: "rename in array", doc: `{"a": [1]}`, actions: []Action{{Kind: "rename", Path: "/a/0", To: "b"}}, wantErr: document.ErrTypeMismatch},
		{name: "rename in scalar", doc: `{"a": 1}`, actions: []Action{{Kind: "rename", Path: "/a/b", To: "c"}}, wantErr: document.ErrTypeMismatch},
		{name: "rename through scalar", doc: `{"a": 1}`, actions: []Action{{Kind: "rename", Path: "/a/b/c", To: "d"}}, wantErr: document.ErrTypeMismatch},

		{name: "move", doc: `{"sound": {"v": 1}, "settings": {"lang": "en"}}`, actions: []Action{{Kind: "move", Path: "/sound", To: "/settings/sound"}},
			want: `{"settings": {"lang": "en", "sound": {"v": 1}}}`},
		{name: "move creates parents", doc: `{"a": 1}`, actions: []Action{{Kind: "move", Path: "/a", To: "/x/y/z"}}, want: `{"x": {"y": {"z": 1}}}`},
		{name: "move overwrites", doc: `{"a": 1, "b": {"c": 2}}`, actions: []Action{{Kind: "move", Path: "/a", To: "/b"}}, want: `{"b": 1}`},
		{name: "move up to parent", doc: `{"a": {"b": [1]}}`, actions: []Action{{Kind: "move", Path: "/a/b", To: "/a"}}, want: `{"a": [1]}`},
		{name: "move into array end", doc: `{"a": 1, "l": [0]}`, actions: []Action{{Kind: "move", Path: "/a", To: "/l/-"}}, want: `{"l": [0, 1]}`},
		{name: "move within array resolves after removal", doc: `{"l": [1, 2, 3]}`, actions: []Action{{Kind: "move", Path: "/l/0", To: "/l/-"}}, want: `{"l": [2, 3, 1]}`},
		{name: "move missing source", doc: `{"a": 1}`, actions: []Action{{Kind: "move", Path: "/nope", To: "/b"}}, want: `{"a": 1}`},
		{name: "move into scalar", doc: `{"a": 1, "b": 2}`, actions: []Action{{Kind: "move", Path: "/a", To: "/b/c"}}, wantErr: document.ErrTypeMismatch},
		{name: "move to missing index", doc: `{"a": 1, "l": []}`, actions: []Action{{Kind: "move", Path: "/a", To: "/l/3"}}, wantErr: document.ErrPathNotFound},
		{name: "move from through scalar", doc: `{"a": 1}`, actions: []Action{{Kind: "move", Path: "/a/b", To: "/c"}}, wantErr: document.ErrTypeMismatch},

		{name: "delete", doc: `{"a": 1, "b": 2}`, actions: []Action{{Kind: "delete", Path: "/a"}}, want: `{"b": 2}`},
		{name: "delete element", doc: `{"l": [1, 2]}`, actions: []Action{{Kind: "delete", Path: "/l/0"}}, want: `{"l": [2]}`},
		{name: "delete missing", doc: `{"a": 1}`, actions: []Action{{Kind: "delete", Path: "/x/y"}}, want: `{"a": 1}`},
		{name: "delete through scalar", doc: `{"a": 1}`, actions: []Action{{Kind: "delete", Path: "/a/b"}}, wantErr: document.ErrTypeMismatch},

		{name: "set_default absent", doc: `{}`, actions: []Action{{Kind: "set_default", Path: "/s/gems", Value: json.RawMessage(`{"n": 0}`)}}, want: `{"s": {"gems": {"n": 0}}}`},
		{name: "set_default present", doc: `{"gems": 5}`, actions: []Action{{Kind: "set_default", Path: "/gems", Value: json.RawMessage(`0`)}}, want: `{"gems": 5}`},
		{name: "set_default present null", doc: `{"gems": null}`, actions: []Action{{Kind: "set_default", Path: "/gems", Value: json.RawMessage(`0`)}}, want: `{"gems": null}`},
		{name: "set_default root", doc: `{"a": 1}`, actions: []Action{{Kind: "set_default", Path: "", Value: json.RawMessage(`{}`)}}, want: `{"a": 1}`},
		{name: "set_default into scalar", doc: `{"a": 1}`, actions: []Action{{Kind: "set_default", Path: "/a/b", Value: json.RawMessage(`0`)}}, wantErr: document.ErrTypeMismatch},

		{name: "actions run in order", doc: `{"a": 1}`, actions: []Action{
			{Kind: "rename", Path: "/a", To: "b"},
			{Kind: "move", Path: "/b", To: "/c/d"},
			{Kind: "set_default", Path: "/a", Value: json.RawMessage(`"fresh"`)},
			{Kind: "set_default", Path: "/c/d", Value: json.RawMessage(`"ignored"`)},
			{Kind: "delete", Path: "/nothing"},
		}, want: `{"a": "fresh", "c": {"d": 1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, Step{Version: 1, Actions: tt.actions})
			doc := decode(t, tt.doc)
			before := encode(t, doc)
			got, ver, err := p.Migrate(doc, 0)
			if after := encode(t, doc); after != before {
				t.Errorf("Migrate mutated its input: %s -> %s", before, after)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, ErrMigrationFailed) || !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want ErrMigrationFailed and %v", err, tt.wantErr)
				}
				var se *StepError
				if !errors.As(err, &se) || se.Version != 1 || se.Action != len(tt.actions)-1 {
					t.Errorf("StepError = %+v", se)
				}
				if got != nil || ver != 0 {
					t.Errorf("got %v, %d with an error; want nil, 0", got, ver)
				}
				return
			}
			if err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if ver != 1 {
				t.Errorf("version = %d, want 1", ver)
			}
			if g, w := encode(t, got), canon(t, tt.want); g != w {
				t.Errorf("result\n got %s\nwant %s", g, w)
			}
		})
	}
}

func TestMigrateVersions(t *testing.T) {
	trace := func(v int64) Step {
		return Step{Version: v, Actions: []Action{{Kind: "set_default", Path: "/trace", Value: json.RawMessage(`[]`)}},
			Func: func(doc any) (any, error) {
				m := doc.(map[string]any)
				m["trace"] = append(m["trace"].([]any), json.Number(strings.Repeat("1", int(v))))
				return m, nil
			}}
	}
	p := mustPlan(t, trace(1), trace(2), trace(5))
	if p.Current() != 5 {
		t.Fatalf("Current = %d", p.Current())
	}
	tests := []struct {
		name    string
		from    int64
		want    string // JSON; "" for an unchanged document
		wantVer int64
		wantErr error
	}{
		{name: "from scratch runs all in order", from: 0, want: `{"trace": [1, 11, 11111]}`, wantVer: 5},
		{name: "from 1", from: 1, want: `{"trace": [11, 11111]}`, wantVer: 5},
		{name: "from a gap", from: 3, want: `{"trace": [11111]}`, wantVer: 5},
		{name: "current is unchanged", from: 5, wantVer: 5},
		{name: "too new", from: 6, wantErr: ErrSchemaTooNew, wantVer: 6},
		{name: "negative", from: -1, wantErr: ErrInvalidVersion, wantVer: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := decode(t, `{}`)
			got, ver, err := p.Migrate(doc, tt.from)
			if ver != tt.wantVer {
				t.Errorf("version = %d, want %d", ver, tt.wantVer)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("got %v, %v; want nil, %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = `{}`
			}
			if g := encode(t, got); g != canon(t, want) {
				t.Errorf("result %s, want %s", g, want)
			}
		})
	}
	_, _, err := p.Migrate(nil, 7)
	if err == nil || !strings.Contains(err.Error(), "7") || !strings.Contains(err.Error(), "5") {
		t.Errorf("too-new error %q does not name both versions", err)
	}
}

func TestZeroPlan(t *testing.T) {
	var p Plan
	if p.Current() != 0 {
		t.Errorf("Current = %d", p.Current())
	}
	doc := decode(t, `{"a": 1}`)
	got, ver, err := p.Migrate(doc, 0)
	if err != nil || ver != 0 || encode(t, got) != `{"a":1}` {
		t.Errorf("Migrate = %v, %d, %v", got, ver, err)
	}
	if _, _, err := p.Migrate(doc, 1); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("error = %v, want ErrSchemaTooNew", err)
	}
	empty, err := NewPlan(nil)
	if err != nil || empty.Current() != 0 {
		t.Errorf("NewPlan(nil) = %v, %v", empty, err)
	}
}

func TestMigrateNilAndNonObject(t *testing.T) {
	p := mustPlan(t, Step{Version: 1, Actions: []Action{{Kind: "set_default", Path: "/coins", Value: json.RawMessage(`100`)}}})
	got, ver, err := p.Migrate(nil, 0)
	if err != nil || ver != 1 || encode(t, got) != `{"coins":100}` {
		t.Errorf("Migrate(nil) = %v, %d, %v", got, ver, err)
	}
	_, _, err = p.Migrate([]any{}, 0)
	var se *StepError
	if !errors.As(err, &se) || se.Version != 1 || se.Action != -1 || !errors.Is(err, document.ErrTypeMismatch) {
		t.Errorf("non-object root: error = %v", err)
	}
}

func TestFuncFailures(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		fn      func(any) (any, error)
		wantErr error
		wantMsg string
	}{
		{"error", func(any) (any, error) { return nil, boom }, boom, "func: boom"},
		{"panic", func(any) (any, error) { panic("kaboom") }, nil, "func panicked: kaboom"},
		{"runtime panic", func(doc any) (any, error) { return doc.([]any)[0], nil }, nil, "func panicked"},
		{"non-object result", func(any) (any, error) { return []any{}, nil }, document.ErrTypeMismatch, "an array"},
		{"nil result", func(any) (any, error) { return nil, nil }, document.ErrTypeMismatch, "null"},
		{"float64 inside", func(doc any) (any, error) { doc.(map[string]any)["x"] = 1.5; return doc, nil }, document.ErrInvalidValue, "float64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t,
				Step{Version: 1, Actions: []Action{{Kind: "set_default", Path: "/ok", Value: json.RawMessage(`true`)}}},
				Step{Version: 2, Actions: []Action{{Kind: "delete", Path: "/a"}}, Func: tt.fn})
			doc := decode(t, `{"a": {"b": 1}}`)
			before := encode(t, doc)
			got, ver, err := p.Migrate(doc, 0)
			if got != nil || ver != 0 {
				t.Errorf("partial result %v, version %d", got, ver)
			}
			var se *StepError
			if !errors.As(err, &se) || se.Version != 2 || se.Action != -1 || !errors.Is(err, ErrMigrationFailed) {
				t.Fatalf("error = %v (%+v), want a StepError for step 2's func", err, se)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if encode(t, doc) != before {
				t.Error("input mutated")
			}
		})
	}
	// A recovered panic keeps its value and stack.
	p := mustPlan(t, Step{Version: 1, Func: func(any) (any, error) { panic("kaboom") }})
	_, _, err := p.Migrate(nil, 0)
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || !strings.Contains(string(pe.Stack), "migrate_test.go") {
		t.Errorf("PanicError = %+v", pe)
	}
}

// TestFuncCannotMutateInput gives the Func a document that shares structure
// with the caller's; the Func mutating it in place must not reach the input.
func TestFuncCannotMutateInput(t *testing.T) {
	p := mustPlan(t, Step{Version: 1,
		Actions: []Action{{Kind: "set_default", Path: "/new", Value: json.RawMessage(`1`)}},
		Func: func(doc any) (any, error) {
			m := doc.(map[string]any)
			m["deep"].(map[string]any)["x"] = "mutated"
			m["list"].([]any)[0] = "mutated"
			delete(m, "a")
			return m, nil
		}})
	doc := decode(t, `{"a": 1, "deep": {"x": 1}, "list": [1]}`)
	before := encode(t, doc)
	got, _, err := p.Migrate(doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if encode(t, doc) != before {
		t.Errorf("input mutated: %s", encode(t, doc))
	}
	if g, w := encode(t, got), canon(t, `{"deep": {"x": "mutated"}, "list": ["mutated"], "new": 1}`); g != w {
		t.Errorf("result %s, want %s", g, w)
	}
}

func TestNewPlanErrors(t *testing.T) {
	ok := Action{Kind: "delete", Path: "/a"}
	tests := []struct {
		name       string
		steps      []Step
		wantStep   int64
		wantAction int
		wantErr    error // besides ErrInvalidPlan
		wantMsg    string
	}{
		{name: "version zero", steps: []Step{{Version: 0}}, wantStep: 0, wantAction: -1, wantMsg: "less than 1"},
		{name: "negative version", steps: []Step{{Version: -3}}, wantStep: -3, wantAction: -1},
		{name: "repeated version", steps: []Step{{Version: 1}, {Version: 1}}, wantStep: 1, wantAction: -1, wantMsg: "does not follow"},
		{name: "decreasing", steps: []Step{{Version: 1}, {Version: 3}, {Version: 2}}, wantStep: 2, wantAction: -1},
		{name: "unknown kind", steps: []Step{{Version: 1, Actions: []Action{ok, {Kind: "copy", Path: "/a", To: "/b"}}}}, wantStep: 1, wantAction: 1, wantMsg: "unknown kind"},
		{name: "missing kind", steps: []Step{{Version: 1, Actions: []Action{{Path: "/a"}}}}, wantStep: 1, wantAction: 0},
		{name: "bad path", steps: []Step{{Version: 1, Actions: []Action{{Kind: "delete", Path: "a"}}}}, wantStep: 1, wantAction: 0, wantErr: document.ErrInvalidPath},
		{name: "bad escape", steps: []Step{{Version: 1, Actions: []Action{{Kind: "delete", Path: "/a~2"}}}}, wantStep: 1, wantAction: 0, wantErr: document.ErrInvalidPath},
		{name: "path too deep", steps: []Step{{Version: 1, Actions: []Action{{Kind: "delete", Path: strings.Repeat("/a", 33)}}}}, wantStep: 1, wantAction: 0, wantErr: document.ErrLimit},
		{name: "delete root", steps: []Step{{Version: 1, Actions: []Action{{Kind: "delete", Path: ""}}}}, wantStep: 1, wantAction: 0},
		{name: "rename root", steps: []Step{{Version: 1, Actions: []Action{{Kind: "rename", Path: "", To: "x"}}}}, wantStep: 1, wantAction: 0},
		{name: "move root", steps: []Step{{Version: 1, Actions: []Action{{Kind: "move", Path: "", To: "/x"}}}}, wantStep: 1, wantAction: 0},
		{name: "rename without to", steps: []Step{{Version: 1, Actions: []Action{{Kind: "rename", Path: "/a"}}}}, wantStep: 1, wantAction: 0},
		{name: "rename to a pointer", steps: []Step{{Version: 1, Actions: []Action{{Kind: "rename", Path: "/a", To: "/b"}}}}, wantStep: 1, wantAction: 0, wantMsg: "not a pointer"},
		{name: "rename to invalid UTF-8", steps: []Step{{Version: 1, Actions: []Action{{Kind: "rename", Path: "/a", To: "\xff"}}}}, wantStep: 1, wantAction: 0},
		{name: "move without to", steps: []Step{{Version: 1, Actions: []Action{{Kind: "move", Path: "/a"}}}}, wantStep: 1, wantAction: 0},
		{name: "move bad to", steps: []Step{{Version: 1, Actions: []Action{{Kind: "move", Path: "/a", To: "b"}}}}, wantStep: 1, wantAction: 0, wantErr: document.ErrInvalidPath},
		{name: "move inside itself", steps: []Step{{Version: 1, Actions: []Action{{Kind: "move", Path: "/a", To: "/a/b"}}}}, wantStep: 1, wantAction: 0, wantMsg: "inside"},
		{name: "move onto itself", steps: []Step{{Version: 1, Actions: []Action{{Kind: "move", Path: "/a", To: "/a"}}}}, wantStep: 1, wantAction: 0},
		{name: "set_default without value", steps: []Step{{Version: 1, Actions: []Action{{Kind: "set_default", Path: "/a"}}}}, wantStep: 1, wantAction: 0},
		{name: "set_default bad value", steps: []Step{{Version: 1, Actions: []Action{{Kind: "set_default", Path: "/a", Value: json.RawMessage(`{nope}`)}}}}, wantStep: 1, wantAction: 0, wantErr: document.ErrInvalidValue},
		{name: "set_default too deep", steps: []Step{{Version: 1, Actions: []Action{{Kind: "set_default", Path: "/a/b",
			Value: json.RawMessage(strings.Repeat("[", 99) + strings.Repeat("]", 99))}}}}, wantStep: 1, wantAction: 0, wantErr: document.ErrLimit},
		{name: "to on delete", steps: []Step{{Version: 1, Actions: []Action{{Kind: "delete", Path: "/a", To: "/b"}}}}, wantStep: 1, wantAction: 0, wantMsg: `"to" is not used`},
		{name: "value on rename", steps: []Step{{Version: 1, Actions: []Action{{Kind: "rename", Path: "/a", To: "b", Value: json.RawMessage(`1`)}}}}, wantStep: 1, wantAction: 0, wantMsg: `"value" is not used`},
		{name: "error in a later step", steps: []Step{{Version: 1, Actions: []Action{ok}}, {Version: 4, Actions: []Action{ok, ok, {Kind: "delete"}}}}, wantStep: 4, wantAction: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPlan(tt.steps)
			var pe *PlanError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidPlan) {
				t.Fatalf("error = %v, want a *PlanError wrapping ErrInvalidPlan", err)
			}
			if pe.Step != tt.wantStep || pe.Action != tt.wantAction {
				t.Errorf("PlanError step %d action %d, want step %d action %d (%v)", pe.Step, pe.Action, tt.wantStep, tt.wantAction, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if p.Current() != 0 {
				t.Error("a refused plan is not the zero Plan")
			}
		})
	}
}

// TestPlanFromJSONConfig decodes steps the way a node reads them from its
// configuration file.
func TestPlanFromJSONConfig(t *testing.T) {
	const config = `[
		{"version": 1, "actions": [
			{"kind": "rename", "path": "/gold", "to": "coins"},
			{"kind": "set_default", "path": "/gems", "value": 0}
		]},
		{"version": 2, "actions": [
			{"kind": "move", "path": "/sound", "to": "/settings/sound"},
			{"kind": "delete", "path": "/legacy_flags"},
			{"kind": "set_default", "path": "/settings/lang", "value": "en"}
		]},
		{"version": 3}
	]`
	var steps []Step
	if err := json.Unmarshal([]byte(config), &steps); err != nil {
		t.Fatal(err)
	}
	p := mustPlan(t, steps...)
	if p.Current() != 3 {
		t.Fatalf("Current = %d", p.Current())
	}
	// Changing the decoded steps afterwards does not change the plan.
	steps[0].Actions[0].To = "changed"
	steps[0].Actions[1].Value[0] = '9'

	doc := decode(t, `{"gold": 250, "sound": {"volume": 4}, "legacy_flags": [1, 2], "name": "ana"}`)
	got, ver, err := p.Migrate(doc, 0)
	if err != nil || ver != 3 {
		t.Fatalf("Migrate = %d, %v", ver, err)
	}
	want := `{"coins": 250, "gems": 0, "name": "ana", "settings": {"sound": {"volume": 4}, "lang": "en"}}`
	if g := encode(t, got); g != canon(t, want) {
		t.Errorf("result\n got %s\nwant %s", g, want)
	}
	// A profile at version 1 only gets steps 2 and 3.
	got, _, err = p.Migrate(decode(t, `{"gold": 1, "sound": 2}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	if g := encode(t, got); g != canon(t, `{"gold": 1, "settings": {"sound": 2, "lang": "en"}}`) {
		t.Errorf("from 1: %s", g)
	}
	// The JSON form round-trips (Func is never serialised).
	out, err := json.Marshal(steps[1])
	if err != nil || strings.Contains(string(out), "Func") {
		t.Errorf("Marshal = %s, %v", out, err)
	}
}

func TestPlanErrorMessage(t *testing.T) {
	_, err := NewPlan([]Step{{Version: 2, Actions: []Action{{Kind: "rename", Path: "/a"}}}})
	want := `invalid migration plan: step 2, action 0: rename needs "to", the new member name`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\n want %s", err, want)
	}
	p := mustPlan(t, Step{Version: 7, Actions: []Action{{Kind: "rename", Path: "/a/b", To: "c"}}})
	_, _, err = p.Migrate(decode(t, `{"a": [1]}`), 3)
	want = `migration failed: step 7, action 0: rename /a/b -> "c": type mismatch: /a is an array, not an object`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\n want %s", err, want)
	}
}
