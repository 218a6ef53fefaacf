package document

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps exactly one of them
// (with detail saying where and why), so callers classify failures with
// errors.Is and can show the message to a developer as is.
var (
	// ErrInvalidPath: a pointer is malformed (not starting with '/', a bad ~
	// escape, invalid UTF-8), an array index is not canonical decimal, or an
	// operation is not allowed on that path (delete of the root).
	ErrInvalidPath = errors.New("invalid path")
	// ErrPathNotFound: a path names something that does not exist where the
	// operation needs it to (Get, remove, an array element in the middle of a
	// path, an index past the end of an array).
	ErrPathNotFound = errors.New("path not found")
	// ErrTypeMismatch: the document holds a value of the wrong type for the
	// operation (stepping into a scalar, incrementing a string, appending to
	// an object, replacing the root with a non-object).
	ErrTypeMismatch = errors.New("type mismatch")
	// ErrOverflow: an increment left the range of int64 (integer arithmetic)
	// or of finite float64 values.
	ErrOverflow = errors.New("number out of range")
	// ErrInvalidValue: a value is not a document value (wrong Go type, bad
	// number text, invalid UTF-8), malformed JSON, an operation's value has
	// the wrong type for it, or an unknown operation kind.
	ErrInvalidValue = errors.New("invalid value")
	// ErrLimit: a document, path or operation list exceeds a limit.
	ErrLimit = errors.New("limit exceeded")
)

// OpError reports which operation of an Apply failed. Apply is all-or-nothing,
// so an OpError also means that no operation took effect.
type OpError struct {
	// Index is the failing operation's position in the list (0-based), or
	// -1 when the list itself was refused (too many operations).
	Index int
	Kind  OpKind
	Path  string
	// Err wraps one of the package's sentinel errors.
	Err error
}

func (e *OpError) Error() string {
	if e.Index < 0 {
		// Not about one operation: the list itself, or (for callers that
		// reuse OpError for reads) a bare path.
		if e.Path != "" {
			return fmt.Sprintf("%s: %v", e.Path, e.Err)
		}
		return fmt.Sprintf("operations: %v", e.Err)
	}
	return fmt.Sprintf("operation %d (%s %s): %v", e.Index, e.Kind, DisplayPath(e.Path), e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// errorf wraps a sentinel with detail. The sentinel's own text leads, so
// messages read "type mismatch: /coins is a string, not a number".
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

// DisplayPath names a pointer in messages. The root pointer is the empty
// string, which would vanish from a message, so it gets a name.
func DisplayPath(p string) string {
	if p == "" {
		return `""`
	}
	return p
}

// TypeName names a value's JSON type for messages ("a number", "null").
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("a Go %T (not a document value)", v)
	}
}
