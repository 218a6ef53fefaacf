package document

import (
	"encoding/json"
	"reflect"
	"unicode/utf8"
)

// Clone returns a deep copy of a document value: new maps and slices all the
// way down, so nothing in the copy aliases v. Scalars (including strings and
// json.Number) are immutable and shared. Values outside the document model
// are returned as they are. v must be a tree (no cycles), as every value
// Decode returns is.
func Clone(v any) any {
	switch x := v.(type) {
	case []any:
		if x == nil {
			return x
		}
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = Clone(e)
		}
		return c
	case map[string]any:
		if x == nil {
			return x
		}
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = Clone(e)
		}
		return c
	default:
		return v
	}
}

// Equal reports whether two document values are deeply equal. Numbers
// compare by exact decimal value ("1", "1.0", "1e0" are equal; integers of
// any size compare exactly). Object member order never matters; array order
// does. A nil map or slice equals an empty one. Values outside the document
// model fall back to reflect.DeepEqual.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		return ok && numbersEqual(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !Equal(xv, yv) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(a, b)
	}
}

// Validate checks that v is a document value that Encode accepts: only the
// document types, valid number literals, valid UTF-8, nesting at most
// MaxNesting. Use it on values built in Go (a migration's output, a template
// assembled in code) before storing them. Errors wrap ErrInvalidValue or
// ErrLimit and name the offending path.
func Validate(v any) error {
	_, err := checkedClone(v, MaxNesting, false, "")
	return err
}

// Depth returns how deeply v nests: 0 for a scalar, 1 for an array or object
// of scalars (or an empty one), and so on. A value stored at a path of n
// tokens makes the document nest n+Depth(v) levels there.
func Depth(v any) int {
	switch x := v.(type) {
	case []any:
		d := 0
		for _, e := range x {
			d = max(d, Depth(e))
		}
		return d + 1
	case map[string]any:
		d := 0
		for _, e := range x {
			d = max(d, Depth(e))
		}
		return d + 1
	default:
		return 0
	}
}

// checkedClone validates v (as Validate) with room for budget levels of
// nesting and, when copy is set, returns a deep copy in the same pass. Apply
// uses it so that a value from a caller is walked once, not once to check
// and again to copy.
func checkedClone(v any, budget int, clone bool, where string) (any, error) {
	out, err := checkedCloneAt(v, budget, clone)
	if err != nil {
		return nil, locate(err, where)
	}
	return out, nil
}

func checkedCloneAt(v any, budget int, clone bool) (any, error) {
	switch x := v.(type) {
	case nil, bool:
		return v, nil
	case json.Number:
		if !validNumber(string(x)) {
			return nil, &locError{err: errorf(ErrInvalidValue, "%q is not a JSON number", shorten(string(x)))}
		}
		return v, nil
	case string:
		if !utf8.ValidString(x) {
			return nil, &locError{err: errorf(ErrInvalidValue, "string is not valid UTF-8")}
		}
		return v, nil
	case []any:
		if budget <= 0 {
			return nil, &locError{err: nestingError()}
		}
		var c []any
		if clone {
			c = make([]any, len(x))
		}
		for i, e := range x {
			ce, err := checkedCloneAt(e, budget-1, clone)
			if err != nil {
				return nil, within(err, indexToken(i))
			}
			if clone {
				c[i] = ce
			}
		}
		if !clone {
			return v, nil
		}
		return c, nil
	case map[string]any:
		if budget <= 0 {
			return nil, &locError{err: nestingError()}
		}
		var c map[string]any
		if clone {
			c = make(map[string]any, len(x))
		}
		for k, e := range x {
			if !utf8.ValidString(k) {
				return nil, within(&locError{err: errorf(ErrInvalidValue, "object key is not valid UTF-8")}, k)
			}
			ce, err := checkedCloneAt(e, budget-1, clone)
			if err != nil {
				return nil, within(err, k)
			}
			if clone {
				c[k] = ce
			}
		}
		if !clone {
			return v, nil
		}
		return c, nil
	default:
		return nil, &locError{err: notDocumentValue(v)}
	}
}
