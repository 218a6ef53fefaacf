package document

// MaxNesting is the deepest a document may nest: the number of arrays and
// objects enclosing its innermost value. Decode refuses deeper input before
// parsing it, Encode refuses deeper values, and Apply refuses an operation
// whose result would be deeper, so whatever one of them accepts the others
// accept too. It also bounds the recursion of every walk in this package.
const MaxNesting = 100

// Defaults for Limits fields left at zero.
const (
	DefaultMaxOps       = 100
	DefaultMaxPathDepth = 32
)

// Limits bound the work one Apply call may ask for. The zero value means the
// defaults.
type Limits struct {
	MaxOps       int // operations per Apply; <= 0 means DefaultMaxOps
	MaxPathDepth int // tokens per path; <= 0 means DefaultMaxPathDepth
}

// WithDefaults returns l with zero (or negative) fields replaced by the
// defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxOps <= 0 {
		l.MaxOps = DefaultMaxOps
	}
	if l.MaxPathDepth <= 0 {
		l.MaxPathDepth = DefaultMaxPathDepth
	}
	return l
}
