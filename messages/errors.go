package messages

import (
	"errors"
	"fmt"
	"time"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// CodeError is a response's Error as a Go error, so callers can test it with
// errors.Is against the sentinels below (which compare by code only) or
// errors.As to read the details.
type CodeError struct {
	Code           hearthv1.ErrorCode
	Message        string
	Path           string
	OperationIndex int
	HolderSession  string
	RetryAfter     time.Duration
}

func (e *CodeError) Error() string {
	name := codeName(e.Code)
	switch {
	case e.Message == "":
		return name
	case e.Path != "":
		return fmt.Sprintf("%s: %s (path %q)", name, e.Message, e.Path)
	default:
		return name + ": " + e.Message
	}
}

// Is matches any CodeError with the same code, so errors.Is(err, ErrFenced)
// works whatever the message.
func (e *CodeError) Is(target error) bool {
	var t *CodeError
	return errors.As(target, &t) && t.Code == e.Code
}

// Sentinels, one per code, for errors.Is.
var (
	ErrNotFound         error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND}
	ErrSessionConflict  error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT}
	ErrStaleSession     error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_STALE_SESSION}
	ErrInvalidPath      error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_INVALID_PATH}
	ErrTypeMismatch     error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_TYPE_MISMATCH}
	ErrTooLarge         error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE}
	ErrVersionConflict  error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_VERSION_CONFLICT}
	ErrFenced           error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_FENCED}
	ErrUnavailable      error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE}
	ErrInvalidArgument  error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT}
	ErrSchemaTooNew     error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_SCHEMA_TOO_NEW}
	ErrMigrationFailed  error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_MIGRATION_FAILED}
	ErrOutOfRange       error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_OUT_OF_RANGE}
	ErrUnauthenticated  error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED}
	ErrPermissionDenied error = &CodeError{Code: hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED}
)

// Err turns a response's Error into a *CodeError, or nil.
func Err(e *hearthv1.Error) error {
	if e == nil || e.GetCode() == hearthv1.ErrorCode_ERROR_CODE_UNSPECIFIED {
		return nil
	}
	return &CodeError{
		Code:           e.GetCode(),
		Message:        e.GetMessage(),
		Path:           e.GetPath(),
		OperationIndex: int(e.GetOperationIndex()),
		HolderSession:  e.GetHolderSession(),
		RetryAfter:     time.Duration(e.GetRetryAfterMs()) * time.Millisecond,
	}
}

// ToProto turns an error into a response's Error: a *CodeError keeps its
// details; any other error becomes UNAVAILABLE, since an unclassified failure
// (a store outage, a timeout) is one a retry may cure.
func ToProto(err error) *hearthv1.Error {
	if err == nil {
		return nil
	}
	var ce *CodeError
	if !errors.As(err, &ce) {
		return &hearthv1.Error{Code: hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: err.Error(), OperationIndex: -1}
	}
	return &hearthv1.Error{
		Code:           ce.Code,
		Message:        ce.Message,
		Path:           ce.Path,
		OperationIndex: int32(ce.OperationIndex),
		HolderSession:  ce.HolderSession,
		RetryAfterMs:   ce.RetryAfter.Milliseconds(),
	}
}

// Errorf builds a *CodeError with a message.
func Errorf(code hearthv1.ErrorCode, format string, args ...any) *CodeError {
	return &CodeError{Code: code, Message: fmt.Sprintf(format, args...), OperationIndex: -1}
}

func codeName(c hearthv1.ErrorCode) string {
	name, ok := hearthv1.ErrorCode_name[int32(c)]
	if !ok {
		return fmt.Sprintf("error code %d", c)
	}
	const prefix = "ERROR_CODE_"
	if len(name) > len(prefix) {
		name = name[len(prefix):]
	}
	return name
}
