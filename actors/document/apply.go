package document

import (
	"encoding/json"
	"errors"
)

// Apply applies ops to doc in order and returns the new document. It is
// all-or-nothing: on error it returns (nil, *OpError) and no operation has
// taken effect. A nil doc is an empty object.
//
// doc is never mutated. The result shares every subtree that no operation
// touched with doc and copies only the objects and arrays on the paths being
// changed (each at most once per call), so the cost of an update is
// proportional to what it changes, not to the document's size. Because of
// that sharing, documents must be treated as immutable values: to modify one
// in place, Clone it first. Operation values are copied in, so the result
// never aliases them and the caller may reuse them.
func Apply(doc any, ops []Op, lim Limits) (any, error) {
	lim = lim.WithDefaults()
	if len(ops) > lim.MaxOps {
		return nil, &OpError{Index: -1, Err: errorf(ErrLimit, "%d operations in one update; at most %d are allowed", len(ops), lim.MaxOps)}
	}
	a := applier{lim: lim}
	if doc == nil {
		doc = a.newMap(0)
	}
	for i, op := range ops {
		next, err := a.apply(doc, op)
		if err != nil {
			return nil, &OpError{Index: i, Kind: op.Kind, Path: op.Path, Err: err}
		}
		doc = next
	}
	return doc, nil
}

type applier struct {
	cow
	lim Limits
}

// leafAction is what an operation does at its target.
type leafAction int

const (
	keep   leafAction = iota // leave the target as it is (no copy is made)
	put                      // store the returned value at the target
	remove                   // delete the target
)

// leafFunc decides an operation's effect from the target's current value
// (exists is false when the target is absent).
type leafFunc func(old any, exists bool) (any, leafAction, error)

func (a *applier) apply(doc any, op Op) (any, error) {
	if !op.Kind.Valid() {
		return nil, errorf(ErrInvalidValue, "unknown operation kind %d", int(op.Kind))
	}
	p, err := ParsePointer(op.Path)
	if err != nil {
		return nil, err
	}
	if len(p) > a.lim.MaxPathDepth {
		return nil, errorf(ErrLimit, "path has %d tokens; at most %d are allowed", len(p), a.lim.MaxPathDepth)
	}
	switch op.Kind {
	case OpDelete:
		if len(p) == 0 {
			return nil, errorf(ErrInvalidPath, "cannot delete the document root")
		}
		out, err := a.update(doc, p, false, func(any, bool) (any, leafAction, error) { return nil, remove, nil })
		if errors.Is(err, ErrPathNotFound) {
			return doc, nil // deleting what is not there is done already
		}
		return out, err

	case OpSet, OpSetIfAbsent:
		v, err := a.value(op, p, 0)
		if err != nil {
			return nil, err
		}
		onlyIfAbsent := op.Kind == OpSetIfAbsent
		return a.update(doc, p, true, func(_ any, exists bool) (any, leafAction, error) {
			if exists && onlyIfAbsent {
				return nil, keep, nil
			}
			return v, put, nil
		})

	case OpIncrement:
		n, ok := op.Value.(json.Number)
		if !ok || !validNumber(string(n)) {
			return nil, errorf(ErrInvalidValue, "increment needs a number, not %s", describeValue(op.Value))
		}
		if err := a.room(p, 0); err != nil {
			return nil, err
		}
		return a.update(doc, p, true, func(old any, exists bool) (any, leafAction, error) {
			if !exists {
				old = json.Number("0")
			}
			cur, ok := old.(json.Number)
			if !ok {
				return nil, keep, errorf(ErrTypeMismatch, "%s is %s, not a number", describe(p), TypeName(old))
			}
			sum, err := addNumbers(cur, n)
			if err != nil {
				return nil, keep, err
			}
			return sum, put, nil
		})

	case OpAppend:
		v, err := a.value(op, p, 1)
		if err != nil {
			return nil, err
		}
		return a.update(doc, p, true, func(old any, exists bool) (any, leafAction, error) {
			if !exists {
				s := []any{v}
				a.own(sliceID(s))
				return s, put, nil
			}
			arr, ok := old.([]any)
			if !ok {
				return nil, keep, errorf(ErrTypeMismatch, "%s is %s, not an array", describe(p), TypeName(old))
			}
			return a.appendElem(arr, v), put, nil
		})

	case OpRemove:
		if _, err := checkedClone(op.Value, MaxNesting, false, " in the value"); err != nil {
			return nil, err
		}
		return a.update(doc, p, false, func(old any, exists bool) (any, leafAction, error) {
			if !exists {
				return nil, keep, errorf(ErrPathNotFound, "%s does not exist", describe(p))
			}
			arr, ok := old.([]any)
			if !ok {
				return nil, keep, errorf(ErrTypeMismatch, "%s is %s, not an array", describe(p), TypeName(old))
			}
			for i, e := range arr {
				if Equal(e, op.Value) {
					return a.deleteElem(arr, i), put, nil
				}
			}
			return nil, keep, errorf(ErrPathNotFound, "no element of %s equals the value", describe(p))
		})

	case OpMerge:
		if _, ok := op.Value.(map[string]any); !ok {
			return nil, errorf(ErrInvalidValue, "merge needs an object, not %s", describeValue(op.Value))
		}
		v, err := a.value(op, p, 0)
		if err != nil {
			return nil, err
		}
		patch := v.(map[string]any)
		return a.update(doc, p, true, func(old any, exists bool) (any, leafAction, error) {
			if !exists {
				return a.mergeObject(nil, patch), put, nil
			}
			obj, ok := old.(map[string]any)
			if !ok {
				return nil, keep, errorf(ErrTypeMismatch, "%s is %s, not an object", describe(p), TypeName(old))
			}
			if !a.mergeChanges(obj, patch) {
				return nil, keep, nil
			}
			return a.mergeObject(obj, patch), put, nil
		})
	}
	panic("unreachable: OpKind.Valid accepted " + op.Kind.String())
}

// value validates an operation's value and returns a private copy of it,
// checking that storing it at p (inside extra more containers, for append)
// keeps the document within MaxNesting.
func (a *applier) value(op Op, p Pointer, extra int) (any, error) {
	if err := a.room(p, extra); err != nil {
		return nil, err
	}
	budget := MaxNesting - len(p) - extra
	v, err := checkedClone(op.Value, budget, true, " in the value")
	if errors.Is(err, ErrLimit) {
		return nil, errorf(ErrLimit, "the value would make the document nest deeper than %d levels at %s", MaxNesting, describe(p))
	}
	if err != nil {
		return nil, err
	}
	a.adopt(v)
	return v, nil
}

// room checks that creating a value at p (inside extra more containers)
// stays within MaxNesting even for a scalar.
func (a *applier) room(p Pointer, extra int) error {
	if len(p)+extra > MaxNesting {
		return errorf(ErrLimit, "%s would nest the document deeper than %d levels", describe(p), MaxNesting)
	}
	return nil
}

// update applies leaf at p and returns the new root. With create set,
// missing object members on the way are created as empty objects; without
// it, they are ErrPathNotFound.
func (a *applier) update(doc any, p Pointer, create bool, leaf leafFunc) (any, error) {
	if len(p) == 0 {
		nv, act, err := leaf(doc, true)
		if err != nil || act == keep {
			return doc, err
		}
		if _, ok := nv.(map[string]any); !ok {
			return nil, errorf(ErrTypeMismatch, "the document root must be an object, not %s", TypeName(nv))
		}
		return nv, nil
	}
	out, _, err := a.step(doc, p, 0, create, leaf)
	return out, err
}

// step handles token i of p inside node. It returns node's replacement and
// whether anything changed; an unchanged node is returned as is, so a no-op
// (set_if_absent on a present member, a merge that changes nothing) copies
// nothing.
func (a *applier) step(node any, p Pointer, i int, create bool, leaf leafFunc) (any, bool, error) {
	tok := p[i]
	last := i == len(p)-1
	switch n := node.(type) {
	case map[string]any:
		child, exists := n[tok]
		if last {
			nv, act, err := leaf(child, exists)
			switch {
			case err != nil:
				return nil, false, err
			case act == put:
				m := a.writableMap(n)
				m[tok] = nv
				return m, true, nil
			case act == remove && exists:
				m := a.writableMap(n)
				delete(m, tok)
				return m, true, nil
			default:
				return node, false, nil
			}
		}
		if !exists {
			if !create {
				return nil, false, notFound(p, i, "%s has no member %q", describe(p[:i]), tok)
			}
			child = a.newMap(1) // "mkdir -p": missing members on the way become objects
		}
		nc, changed, err := a.step(child, p, i+1, create, leaf)
		if err != nil || !changed {
			return node, false, err
		}
		m := a.writableMap(n)
		m[tok] = nc
		return m, true, nil

	case []any:
		if last && tok == "-" {
			// "-" names the absent element after the last: creating it
			// appends.
			nv, act, err := leaf(nil, false)
			if err != nil || act != put {
				return node, false, err
			}
			return a.appendElem(n, nv), true, nil
		}
		if last {
			if idx, ok := parseIndex(tok); ok && idx >= len(n) {
				_, act, err := leaf(nil, false)
				switch {
				case err != nil:
					return nil, false, err
				case act == put:
					return nil, false, notFound(p, i, "index %s is out of range for an array of %d (use \"-\" to append)", tok, len(n))
				default:
					return node, false, nil
				}
			}
		}
		idx, err := arrayIndex(p, i, len(n))
		if err != nil {
			return nil, false, err
		}
		if last {
			nv, act, err := leaf(n[idx], true)
			switch {
			case err != nil:
				return nil, false, err
			case act == put:
				s := a.writableSlice(n)
				s[idx] = nv
				return s, true, nil
			case act == remove:
				return a.deleteElem(n, idx), true, nil
			default:
				return node, false, nil
			}
		}
		nc, changed, err := a.step(n[idx], p, i+1, create, leaf)
		if err != nil || !changed {
			return node, false, err
		}
		s := a.writableSlice(n)
		s[idx] = nc
		return s, true, nil

	default:
		return nil, false, intoScalar(p, i, node)
	}
}

// describeValue names an operation's value for messages.
func describeValue(v any) string {
	if _, ok := v.(float64); ok {
		return "a Go float64 (numbers must be json.Number)"
	}
	return TypeName(v)
}
