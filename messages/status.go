package messages

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// Status is how one error code travels on each transport: the HTTP status
// of the JSON API and the gRPC code of gRPC, gRPC-Web and Connect. The
// exact hearth code always travels too (the JSON body's error.code; a
// hearth.v1.Error detail on the others), so callers test codes, never
// statuses or message text. Retryable says whether repeating the same
// request may succeed without changing it.
type Status struct {
	HTTP      int
	GRPC      connect.Code
	Retryable bool
	// Action is what the caller should do, for docs/API.md.
	Action string
}

// statuses is the one table; docs/API.md prints it and a test checks that
// every ErrorCode has a row.
var statuses = map[hearthv1.ErrorCode]Status{
	hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND: {http.StatusNotFound, connect.CodeNotFound, false,
		"the profile, path, version or record does not exist; do not retry"},
	hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT: {http.StatusConflict, connect.CodeAborted, false,
		"another session holds the profile (holderSession); retry later, Acquire with WAIT, or STEAL"},
	hearthv1.ErrorCode_ERROR_CODE_STALE_SESSION: {http.StatusConflict, connect.CodeFailedPrecondition, false,
		"the session token no longer holds the profile; Acquire again before writing"},
	hearthv1.ErrorCode_ERROR_CODE_INVALID_PATH: {http.StatusBadRequest, connect.CodeInvalidArgument, false,
		"fix the JSON Pointer (path names it)"},
	hearthv1.ErrorCode_ERROR_CODE_TYPE_MISMATCH: {http.StatusBadRequest, connect.CodeFailedPrecondition, false,
		"the operation does not fit the value at path; read the document and fix the request"},
	hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE: {http.StatusRequestEntityTooLarge, connect.CodeResourceExhausted, false,
		"the request or the document it would make is over a limit; send less"},
	hearthv1.ErrorCode_ERROR_CODE_VERSION_CONFLICT: {http.StatusConflict, connect.CodeAborted, false,
		"the document changed since expectedVersion; read it again and retry with the new version"},
	hearthv1.ErrorCode_ERROR_CODE_FENCED: {http.StatusServiceUnavailable, connect.CodeUnavailable, true,
		"the profile moved to another activation; retry the same request (with the same idempotency key)"},
	hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE: {http.StatusServiceUnavailable, connect.CodeUnavailable, true,
		"retry after retryAfterMs (Retry-After); for a write the outcome is unknown: retry with the same idempotency key"},
	hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT: {http.StatusBadRequest, connect.CodeInvalidArgument, false,
		"fix the request (the message names the field); do not retry it unchanged"},
	hearthv1.ErrorCode_ERROR_CODE_SCHEMA_TOO_NEW: {http.StatusInternalServerError, connect.CodeFailedPrecondition, false,
		"the profile was written by a newer node version; finish the upgrade of every node"},
	hearthv1.ErrorCode_ERROR_CODE_MIGRATION_FAILED: {http.StatusInternalServerError, connect.CodeInternal, false,
		"a configured migration failed on this profile; the operator must fix the migration"},
	hearthv1.ErrorCode_ERROR_CODE_OUT_OF_RANGE: {http.StatusBadRequest, connect.CodeOutOfRange, false,
		"the number would overflow; fix the request"},
	hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED: {http.StatusUnauthorized, connect.CodeUnauthenticated, false,
		"send the header Authorization: Bearer, then a token the gateway knows (gateway.token or gateway.tokens)"},
	hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED: {http.StatusForbidden, connect.CodePermissionDenied, false,
		"the token's scope does not allow this method (or an item of this Batch); use a token of the scope named in the message"},
}

// StatusOf is the row of code; an unknown code (a newer node's) is a
// non-retryable internal error.
func StatusOf(code hearthv1.ErrorCode) Status {
	if s, ok := statuses[code]; ok {
		return s
	}
	return Status{HTTP: http.StatusInternalServerError, GRPC: connect.CodeInternal, Action: "unknown error code; report it"}
}

// Codes lists every error code with a row in the table, in number order.
func Codes() []hearthv1.ErrorCode {
	var out []hearthv1.ErrorCode
	for n := range int32(len(hearthv1.ErrorCode_name)) + 1 {
		if _, ok := statuses[hearthv1.ErrorCode(n)]; ok {
			out = append(out, hearthv1.ErrorCode(n))
		}
	}
	return out
}

// codeOfGRPC is the hearth code a gRPC code stands for when an error
// arrives without a hearth.v1.Error detail: one produced by the transport
// itself (a body over the limit, an undecodable message, a proxy), never by
// a node's service, which always attaches the detail.
func codeOfGRPC(c connect.Code) hearthv1.ErrorCode {
	switch c {
	case connect.CodeInvalidArgument, connect.CodeUnimplemented, connect.CodeFailedPrecondition:
		return hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT
	case connect.CodeNotFound:
		return hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND
	case connect.CodeResourceExhausted:
		return hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE
	case connect.CodeOutOfRange:
		return hearthv1.ErrorCode_ERROR_CODE_OUT_OF_RANGE
	case connect.CodeUnauthenticated:
		return hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED
	case connect.CodePermissionDenied:
		return hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED
	default: // Unavailable, DeadlineExceeded, Unknown, Internal, Aborted, ...: a retry may cure it
		return hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE
	}
}

// ConnectError turns err into the error a Connect handler returns: the
// code's gRPC code, the message, and the hearth.v1.Error as a detail, so
// generated gRPC and Connect clients see a standard status and can still
// read the exact hearth code.
func ConnectError(err error) *connect.Error {
	pe := ToProto(err)
	if pe.GetCode() == hearthv1.ErrorCode_ERROR_CODE_UNSPECIFIED {
		pe.Code = hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE // as ToProto treats unclassified errors
	}
	ce := connect.NewError(StatusOf(pe.GetCode()).GRPC, errors.New(Err(pe).Error()))
	if d, derr := connect.NewErrorDetail(pe); derr == nil {
		ce.AddDetail(d)
	}
	return ce
}

// FromConnectError turns an error from a Connect client back into a
// *CodeError: the hearth.v1.Error detail when the node attached one, else
// the code the gRPC code stands for. A cancelled or expired ctx of the
// caller's own comes back as is, so callers can tell it from the node's
// answers.
func FromConnectError(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	isConnect := errors.As(err, &ce)
	if (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) && (!isConnect || len(ce.Details()) == 0) {
		return err
	}
	if !isConnect {
		return Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "%v", err)
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if pe, ok := v.(*hearthv1.Error); ok {
			if out := Err(pe); out != nil {
				return out
			}
		}
	}
	return Errorf(codeOfGRPC(ce.Code()), "%s", ce.Message())
}
