package migration

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// Sentinel errors; test them with errors.Is.
var (
	// ErrSchemaTooNew: the profile was written by a node with a newer schema
	// than this node knows. It is refused, never downgraded: this node
	// cannot know what the newer steps meant, and saving would lose data.
	ErrSchemaTooNew = errors.New("profile schema is newer than this node's")
	// ErrInvalidPlan: the configured steps are malformed. Returned by
	// NewPlan, wrapped in a *PlanError.
	ErrInvalidPlan = errors.New("invalid migration plan")
	// ErrInvalidVersion: a schema version argument is out of range
	// (negative).
	ErrInvalidVersion = errors.New("invalid schema version")
	// ErrMigrationFailed: a step could not be applied to a document.
	// Returned by Migrate, wrapped in a *StepError.
	ErrMigrationFailed = errors.New("migration failed")
)

// PlanError says which step and action of a plan are malformed. It matches
// ErrInvalidPlan and whatever Err wraps (document.ErrInvalidPath for a bad
// pointer, for example).
type PlanError struct {
	Step   int64 // the step's Version (as written, even if it is the problem)
	Action int   // the action's index in the step, or -1 for the step itself
	Err    error
}

func (e *PlanError) Error() string {
	if e.Action < 0 {
		return fmt.Sprintf("%v: step %d: %v", ErrInvalidPlan, e.Step, e.Err)
	}
	return fmt.Sprintf("%v: step %d, action %d: %v", ErrInvalidPlan, e.Step, e.Action, e.Err)
}

func (e *PlanError) Unwrap() []error { return []error{ErrInvalidPlan, e.Err} }

// StepError says which step (and action) failed on a document. It matches
// ErrMigrationFailed and whatever Err wraps: a document sentinel such as
// document.ErrTypeMismatch for an action, the Func's own error, or a
// *PanicError.
type StepError struct {
	Version int64 // the failing step's Version
	Action  int   // the failing action's index, or -1 for the step's Func (or the document as a whole)
	Err     error
}

func (e *StepError) Error() string {
	if e.Action < 0 {
		return fmt.Sprintf("%v: step %d: %v", ErrMigrationFailed, e.Version, e.Err)
	}
	return fmt.Sprintf("%v: step %d, action %d: %v", ErrMigrationFailed, e.Version, e.Action, e.Err)
}

func (e *StepError) Unwrap() []error { return []error{ErrMigrationFailed, e.Err} }

// PanicError is a panic recovered from a step's Func. A bug in one
// migration function must fail that profile's load, not crash the node.
type PanicError struct {
	Value any    // what the Func panicked with
	Stack []byte // the goroutine's stack at the panic, for the log
}

func (e *PanicError) Error() string { return fmt.Sprintf("func panicked: %v", e.Value) }

// Unwrap exposes a panic value that is an error (a runtime error, say).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// call runs fn, turning a panic into a *PanicError.
func call(fn func(any) (any, error), doc any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(doc)
}
