package migration

import (
	"errors"
	"fmt"

	"github.com/hearth-profiles/hearth/actors/document"
)

var errTypeMismatch = document.ErrTypeMismatch

// Step brings a document to schema Version from the version of the step
// before it (or from any older version, for the first step). Its Actions run
// first, in order, then Func if it is set. Func is for users who build their
// own node binary; it receives a private deep copy of the document, which it
// may modify and return, and must return an object.
type Step struct {
	Version int64                      `json:"version"`
	Actions []Action                   `json:"actions,omitempty"`
	Func    func(doc any) (any, error) `json:"-"`
}

// Plan is a validated, ordered list of steps. Its zero value is a valid plan
// with current version 0. A Plan is immutable and safe for concurrent use.
type Plan struct {
	steps []step
}

type step struct {
	version int64
	actions []action
	fn      func(any) (any, error)
}

// NewPlan validates steps and returns the plan. Versions must be at least 1
// and strictly increasing in the order given (gaps are allowed: a profile at
// a version between two steps gets the later one). Each action must be
// well-formed for its kind: a known kind; a Path that parses and, for
// rename, move and delete, is not "" (the whole document); for rename a To
// that is a single member name (no '/'); for move a To that parses and is
// neither "" nor the source nor inside it; for set_default a Value that
// decodes as a JSON document value; no field the kind does not use.
//
// Errors are *PlanError wrapping ErrInvalidPlan. The steps are copied; later
// changes to the slice do not affect the plan.
func NewPlan(steps []Step) (Plan, error) {
	var p Plan
	prev := int64(0)
	for i, s := range steps {
		switch {
		case s.Version < 1:
			return Plan{}, &PlanError{Step: s.Version, Action: -1, Err: fmt.Errorf("version %d (entry %d of the list) is less than 1", s.Version, i)}
		case s.Version <= prev:
			return Plan{}, &PlanError{Step: s.Version, Action: -1,
				Err: fmt.Errorf("version %d (entry %d of the list) does not follow version %d; versions must increase", s.Version, i, prev)}
		}
		prev = s.Version
		c := step{version: s.Version, fn: s.Func}
		for j, a := range s.Actions {
			ca, err := compileAction(a)
			if err != nil {
				return Plan{}, &PlanError{Step: s.Version, Action: j, Err: err}
			}
			c.actions = append(c.actions, ca)
		}
		p.steps = append(p.steps, c)
	}
	return p, nil
}

// Current returns the schema version the plan migrates to: the last step's
// version, or 0 for a plan without steps.
func (p Plan) Current() int64 {
	if len(p.steps) == 0 {
		return 0
	}
	return p.steps[len(p.steps)-1].version
}

// Migrate brings doc from schema version from to p.Current() and returns the
// new document and its version. doc is never mutated; the result shares
// unchanged parts with it (see package document: treat both as immutable).
//
//   - from == Current: doc is returned as it is.
//   - from > Current: ErrSchemaTooNew. The profile was written by a newer
//     node; it is refused, never downgraded.
//   - from < 0: ErrInvalidVersion.
//   - otherwise every step with a version above from runs, in order. A nil
//     doc is an empty object; a doc whose root is not an object cannot be
//     migrated. If a step fails (an action hits a type mismatch, a Func
//     returns an error, panics, or returns something that is not a valid
//     document object), the error is a *StepError wrapping
//     ErrMigrationFailed, and there is no partial result.
//
// On error Migrate returns (nil, from, err).
func (p Plan) Migrate(doc any, from int64) (any, int64, error) {
	current := p.Current()
	switch {
	case from < 0:
		return nil, from, fmt.Errorf("%w: %d is negative", ErrInvalidVersion, from)
	case from > current:
		return nil, from, fmt.Errorf("%w: the profile has schema version %d, this node migrates up to version %d",
			ErrSchemaTooNew, from, current)
	case from == current:
		return doc, from, nil
	}
	pending := p.steps
	for len(pending) > 0 && pending[0].version <= from {
		pending = pending[1:]
	}
	if doc == nil {
		doc = map[string]any{}
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, from, &StepError{Version: pending[0].version, Action: -1,
			Err: fmt.Errorf("%w: the document root is %s, not an object", errTypeMismatch, document.TypeName(doc))}
	}
	for _, s := range pending {
		var err error
		if doc, err = s.run(doc); err != nil {
			return nil, from, err
		}
	}
	return doc, current, nil
}

// run applies one step to doc, an object.
func (s step) run(doc any) (any, error) {
	for i, a := range s.actions {
		out, err := a.apply(doc)
		if err != nil {
			return nil, &StepError{Version: s.version, Action: i, Err: fmt.Errorf("%s: %w", a.label, err)}
		}
		doc = out
	}
	if s.fn == nil {
		return doc, nil
	}
	// The Func gets a deep copy: user code may modify its argument in place,
	// and doc shares structure with the caller's document.
	out, err := call(s.fn, document.Clone(doc))
	if err != nil {
		var pe *PanicError
		if !errors.As(err, &pe) {
			err = fmt.Errorf("func: %w", err)
		}
		return nil, &StepError{Version: s.version, Action: -1, Err: err}
	}
	if _, ok := out.(map[string]any); !ok {
		return nil, &StepError{Version: s.version, Action: -1,
			Err: fmt.Errorf("func: %w: it returned %s; the document root must be an object", errTypeMismatch, document.TypeName(out))}
	}
	if err := document.Validate(out); err != nil {
		return nil, &StepError{Version: s.version, Action: -1, Err: fmt.Errorf("func returned an invalid document: %w", err)}
	}
	return out, nil
}
