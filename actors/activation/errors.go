package activation

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/actors/migration"
	"github.com/hearth-profiles/hearth/actors/session"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// Shorthands for the codes the actor answers with.
const (
	codeNotFound        = hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND
	codeSessionConflict = hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT
	codeStaleSession    = hearthv1.ErrorCode_ERROR_CODE_STALE_SESSION
	codeInvalidPath     = hearthv1.ErrorCode_ERROR_CODE_INVALID_PATH
	codeTypeMismatch    = hearthv1.ErrorCode_ERROR_CODE_TYPE_MISMATCH
	codeTooLarge        = hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE
	codeVersionConflict = hearthv1.ErrorCode_ERROR_CODE_VERSION_CONFLICT
	codeFenced          = hearthv1.ErrorCode_ERROR_CODE_FENCED
	codeUnavailable     = hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE
	codeInvalidArgument = hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT
	codeSchemaTooNew    = hearthv1.ErrorCode_ERROR_CODE_SCHEMA_TOO_NEW
	codeMigrationFailed = hearthv1.ErrorCode_ERROR_CODE_MIGRATION_FAILED
	codeOutOfRange      = hearthv1.ErrorCode_ERROR_CODE_OUT_OF_RANGE
)

// classify turns any error met while serving a request into the typed code
// the caller sees. Errors that are already *messages.CodeError pass through.
func classify(err error) *messages.CodeError {
	if err == nil {
		return nil
	}
	var ce *messages.CodeError
	if errors.As(err, &ce) {
		return ce
	}
	out := &messages.CodeError{Message: err.Error(), OperationIndex: -1}
	var limit *persistence.LimitError
	if errors.As(err, &limit) {
		// The code says "invalid argument" or "too large" already.
		out.Message = limit.What + ": " + limit.Limit
		if limit.Value != "" {
			out.Message = limit.What + " " + limit.Value + ": " + limit.Limit
		}
	}
	var opErr *document.OpError
	if errors.As(err, &opErr) {
		out.OperationIndex = opErr.Index
		out.Path = opErr.Path
		if opErr.Index < 0 && opErr.Path != "" {
			out.Message = opErr.Err.Error() // the path is in its own field, not repeated
		}
	}
	var stale *session.StaleError
	switch {
	case errors.As(err, &stale):
		out.Code = codeStaleSession
		out.HolderSession = stale.Holder
	case errors.Is(err, session.ErrStaleSession):
		out.Code = codeStaleSession
	case errors.Is(err, document.ErrInvalidPath):
		out.Code = codeInvalidPath
	case errors.Is(err, document.ErrLimit) && opErr != nil && opErr.Index >= 0:
		out.Code = codeInvalidPath // the only per-operation limit is path depth
	case errors.Is(err, document.ErrLimit):
		out.Code = codeTooLarge
	case errors.Is(err, document.ErrPathNotFound):
		out.Code = codeNotFound
	case errors.Is(err, document.ErrTypeMismatch):
		out.Code = codeTypeMismatch
	case errors.Is(err, document.ErrOverflow):
		out.Code = codeOutOfRange
	case errors.Is(err, document.ErrInvalidValue),
		errors.Is(err, session.ErrInvalidSession),
		errors.Is(err, session.ErrInvalidToken),
		errors.Is(err, session.ErrInvalidMode),
		errors.Is(err, session.ErrInvalidTTL),
		errors.Is(err, persistence.ErrInvalid):
		out.Code = codeInvalidArgument
	case errors.Is(err, migration.ErrSchemaTooNew):
		out.Code = codeSchemaTooNew
	case errors.Is(err, migration.ErrMigrationFailed):
		out.Code = codeMigrationFailed
	case errors.Is(err, persistence.ErrFenced):
		out.Code = codeFenced
	case errors.Is(err, persistence.ErrNotFound):
		out.Code = codeNotFound
	case errors.Is(err, persistence.ErrTooLarge):
		out.Code = codeTooLarge
	default:
		out.Code = codeUnavailable
	}
	return out
}

// errorf builds a typed error with a message.
func errorf(code hearthv1.ErrorCode, format string, args ...any) *messages.CodeError {
	return messages.Errorf(code, format, args...)
}

// Classify is classify for the shell and the Host.
func Classify(err error) *messages.CodeError { return classify(err) }

// protoErr is classify for response fields.
func protoErr(err error) *hearthv1.Error {
	if err == nil {
		return nil
	}
	return messages.ToProto(classify(err))
}

func (n NotServing) String() string { return fmt.Sprintf("activation not serving: %s", n.Reason) }

// ErrorResponse builds the response to req carrying err as its Error: every
// request type has its response type, so a failure travels the way an
// answer does.
func ErrorResponse(req any, err error) proto.Message {
	e := protoErr(err)
	switch req.(type) {
	case *hearthv1.AcquireRequest:
		return &hearthv1.AcquireResponse{Error: e}
	case *hearthv1.HeartbeatRequest:
		return &hearthv1.HeartbeatResponse{Error: e}
	case *hearthv1.ReleaseRequest:
		return &hearthv1.ReleaseResponse{Error: e}
	case *hearthv1.GetRequest:
		return &hearthv1.GetResponse{Error: e}
	case *hearthv1.UpdateRequest:
		return &hearthv1.UpdateResponse{Error: e}
	case *hearthv1.PurchaseRequest:
		return &hearthv1.PurchaseResponse{Error: e}
	case *hearthv1.ListPurchasesRequest:
		return &hearthv1.ListPurchasesResponse{Error: e}
	case *hearthv1.SaveRequest:
		return &hearthv1.SaveResponse{Error: e}
	case *hearthv1.DeleteRequest:
		return &hearthv1.DeleteResponse{Error: e}
	case *hearthv1.StatusRequest:
		return &hearthv1.StatusResponse{Error: e}
	case *hearthv1.ListVersionsRequest:
		return &hearthv1.ListVersionsResponse{Error: e}
	case *hearthv1.GetVersionRequest:
		return &hearthv1.GetVersionResponse{Error: e}
	case *hearthv1.RestoreRequest:
		return &hearthv1.RestoreResponse{Error: e}
	case *hearthv1.WatchRequest:
		return &hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED, Error: e}
	case *hearthv1.PassivateRequest:
		return &hearthv1.PassivateResponse{Error: e}
	case *hearthv1.BatchRequest:
		return &hearthv1.BatchResponse{Error: e}
	case *hearthv1.PollEventsRequest:
		return &hearthv1.PollEventsResponse{Error: e}
	default:
		return &hearthv1.Error{Code: e.GetCode(), Message: e.GetMessage()}
	}
}

func errorResponse(req any, err error) proto.Message { return ErrorResponse(req, err) }
