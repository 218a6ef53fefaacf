package migration

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hearth-profiles/hearth/actors/document"
)

// Action kinds, as written in configuration.
const (
	ActionRename     = "rename"
	ActionMove       = "move"
	ActionDelete     = "delete"
	ActionSetDefault = "set_default"
)

// Action is one declarative step action; its JSON form is what users write
// in the node's config file. The package comment describes each kind.
type Action struct {
	Kind  string          `json:"kind"`            // "rename", "move", "delete", "set_default"
	Path  string          `json:"path"`            // RFC 6901 pointer the action reads
	To    string          `json:"to,omitempty"`    // rename: the new member name (a single key, not a pointer); move: the destination pointer
	Value json.RawMessage `json:"value,omitempty"` // set_default: the value (JSON)
}

// action is a validated Action, with its pointers parsed and its value
// decoded once, when the plan is built, rather than per profile.
type action struct {
	kind  string
	path  document.Pointer
	to    document.Pointer // move: the destination; rename: the sibling's full pointer
	value any              // set_default
	label string           // for messages: "rename /a -> b"
}

// compileAction validates a and prepares it. Errors become PlanErrors in
// NewPlan.
func compileAction(a Action) (action, error) {
	c := action{kind: a.Kind}
	switch a.Kind {
	case ActionRename, ActionMove, ActionDelete, ActionSetDefault:
	case "":
		return c, errors.New(`missing "kind" (one of rename, move, delete, set_default)`)
	default:
		return c, fmt.Errorf("unknown kind %q (want rename, move, delete or set_default)", a.Kind)
	}
	path, err := parsePath(a.Path, "path")
	if err != nil {
		return c, err
	}
	c.path = path
	if len(path) == 0 && a.Kind != ActionSetDefault {
		return c, fmt.Errorf(`%s needs a "path" inside the document, not "" (the whole document)`, a.Kind)
	}
	if a.To != "" && a.Kind != ActionRename && a.Kind != ActionMove {
		return c, fmt.Errorf(`"to" is not used by %s`, a.Kind)
	}
	if len(a.Value) > 0 && a.Kind != ActionSetDefault {
		return c, fmt.Errorf(`"value" is not used by %s`, a.Kind)
	}

	switch a.Kind {
	case ActionRename:
		switch {
		case a.To == "":
			return c, errors.New(`rename needs "to", the new member name`)
		case strings.Contains(a.To, "/"):
			return c, fmt.Errorf(`rename "to" is a member name, not a pointer: %q contains '/' (use move to change parents)`, a.To)
		case !utf8.ValidString(a.To):
			return c, errors.New(`rename "to" is not valid UTF-8`)
		}
		parent, _ := path.Parent()
		c.to = parent.Child(a.To)
		c.label = fmt.Sprintf("rename %s -> %q", a.Path, a.To)
	case ActionMove:
		if a.To == "" {
			return c, errors.New(`move needs "to", the destination pointer (moving to the document root is not allowed)`)
		}
		to, err := parsePath(a.To, "to")
		if err != nil {
			return c, err
		}
		if to.HasPrefix(path) {
			return c, fmt.Errorf("move %s -> %s: the destination is the source or inside it", a.Path, a.To)
		}
		c.to = to
		c.label = fmt.Sprintf("move %s -> %s", a.Path, a.To)
	case ActionDelete:
		c.label = "delete " + a.Path
	case ActionSetDefault:
		if len(a.Value) == 0 {
			return c, errors.New(`set_default needs "value"`)
		}
		v, err := document.Decode(a.Value)
		if err != nil {
			return c, fmt.Errorf("set_default value: %w", err)
		}
		if d := len(path) + document.Depth(v); d > document.MaxNesting {
			return c, fmt.Errorf("%w: set_default at %s would nest the document %d levels deep; at most %d are allowed",
				document.ErrLimit, a.Path, d, document.MaxNesting)
		}
		c.value = v
		c.label = "set_default " + document.DisplayPath(a.Path)
	}
	return c, nil
}

// parsePath parses a pointer from the configuration and checks it against
// the path limit Apply enforces, so a plan that would fail on every profile
// is refused when the node starts instead.
func parsePath(s, field string) (document.Pointer, error) {
	p, err := document.ParsePointer(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if len(p) > document.DefaultMaxPathDepth {
		return nil, fmt.Errorf("%s: %w: %d tokens; at most %d are allowed", field, document.ErrLimit, len(p), document.DefaultMaxPathDepth)
	}
	return p, nil
}

// apply runs the action on doc (an object) and returns the new document.
// doc is never mutated: every change goes through document.Apply.
func (a action) apply(doc any) (any, error) {
	switch a.kind {
	case ActionRename:
		parent, _ := a.path.Parent()
		pv, err := document.GetPointer(doc, parent)
		if errors.Is(err, document.ErrPathNotFound) {
			return doc, nil
		}
		if err != nil {
			return nil, err
		}
		obj, ok := pv.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %s is %s, not an object", document.ErrTypeMismatch, describe(parent), document.TypeName(pv))
		}
		v, ok := obj[a.path[len(a.path)-1]]
		if !ok {
			return doc, nil
		}
		return applyOps(doc, document.Op{Kind: document.OpDelete, Path: a.path.String()},
			document.Op{Kind: document.OpSet, Path: a.to.String(), Value: v})
	case ActionMove:
		v, err := document.GetPointer(doc, a.path)
		if errors.Is(err, document.ErrPathNotFound) {
			return doc, nil
		}
		if err != nil {
			return nil, err
		}
		// The destination is resolved after the source is removed, as in
		// RFC 6902: moving /list/0 to /list/- puts the first element last.
		return applyOps(doc, document.Op{Kind: document.OpDelete, Path: a.path.String()},
			document.Op{Kind: document.OpSet, Path: a.to.String(), Value: v})
	case ActionDelete:
		return applyOps(doc, document.Op{Kind: document.OpDelete, Path: a.path.String()})
	case ActionSetDefault:
		return applyOps(doc, document.Op{Kind: document.OpSetIfAbsent, Path: a.path.String(), Value: a.value})
	}
	panic("unreachable: compileAction accepted kind " + a.kind)
}

// applyOps runs document.Apply and drops its *OpError wrapper: the op
// indices inside an action mean nothing to whoever wrote the plan.
func applyOps(doc any, ops ...document.Op) (any, error) {
	out, err := document.Apply(doc, ops, document.Limits{})
	var oe *document.OpError
	if errors.As(err, &oe) {
		return nil, oe.Err
	}
	return out, err
}

func describe(p document.Pointer) string {
	if len(p) == 0 {
		return "the document root"
	}
	return p.String()
}
