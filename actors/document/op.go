package document

import "fmt"

// OpKind names an update operation. The package comment describes each.
type OpKind int

const (
	OpSet OpKind = iota + 1
	OpDelete
	OpIncrement
	OpAppend
	OpRemove
	OpMerge
	OpSetIfAbsent
)

var opNames = [...]string{
	OpSet:         "set",
	OpDelete:      "delete",
	OpIncrement:   "increment",
	OpAppend:      "append",
	OpRemove:      "remove",
	OpMerge:       "merge",
	OpSetIfAbsent: "set_if_absent",
}

// String returns the operation's wire name ("set", "set_if_absent", ...),
// or "OpKind(n)" for a value that names no operation.
func (k OpKind) String() string {
	if k.Valid() {
		return opNames[k]
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Valid reports whether k names an operation.
func (k OpKind) Valid() bool { return k >= OpSet && int(k) < len(opNames) }

// ParseOpKind maps a wire name back to its OpKind. Unknown names are
// ErrInvalidValue.
func ParseOpKind(s string) (OpKind, error) {
	for k := OpSet; k.Valid(); k++ {
		if opNames[k] == s {
			return k, nil
		}
	}
	return 0, errorf(ErrInvalidValue, "unknown operation %q", shorten(s))
}

// Op is one update operation.
type Op struct {
	Kind  OpKind
	Path  string // RFC 6901 pointer
	Value any    // a document value (as Decode returns); ignored by OpDelete
}
