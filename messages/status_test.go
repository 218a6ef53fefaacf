package messages

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// TestStatusTableCoversEveryCode: a code added to the .proto without a row
// would go out as HTTP 500 / Internal.
func TestStatusTableCoversEveryCode(t *testing.T) {
	for n, name := range hearthv1.ErrorCode_name {
		code := hearthv1.ErrorCode(n)
		if code == hearthv1.ErrorCode_ERROR_CODE_UNSPECIFIED {
			continue
		}
		s, ok := statuses[code]
		if !ok {
			t.Errorf("%s has no row in the status table", name)
			continue
		}
		if s.HTTP < 400 || s.HTTP > 599 || s.GRPC == 0 || s.Action == "" {
			t.Errorf("%s: incomplete row %+v", name, s)
		}
	}
	if len(Codes()) != len(hearthv1.ErrorCode_name)-1 {
		t.Errorf("Codes() lists %d codes", len(Codes()))
	}
}

func TestStatusOfDocumentedRows(t *testing.T) {
	want := map[hearthv1.ErrorCode]struct {
		http      int
		grpc      connect.Code
		retryable bool
	}{
		hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND:         {404, connect.CodeNotFound, false},
		hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT:  {409, connect.CodeAborted, false},
		hearthv1.ErrorCode_ERROR_CODE_STALE_SESSION:     {409, connect.CodeFailedPrecondition, false},
		hearthv1.ErrorCode_ERROR_CODE_VERSION_CONFLICT:  {409, connect.CodeAborted, false},
		hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE:         {413, connect.CodeResourceExhausted, false},
		hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE:       {503, connect.CodeUnavailable, true},
		hearthv1.ErrorCode_ERROR_CODE_FENCED:            {503, connect.CodeUnavailable, true},
		hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED:   {401, connect.CodeUnauthenticated, false},
		hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED: {403, connect.CodePermissionDenied, false},
		hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT:  {400, connect.CodeInvalidArgument, false},
	}
	for code, w := range want {
		s := StatusOf(code)
		if s.HTTP != w.http || s.GRPC != w.grpc || s.Retryable != w.retryable {
			t.Errorf("%s: %+v, want %+v", code, s, w)
		}
	}
	if s := StatusOf(99); s.HTTP != http.StatusInternalServerError {
		t.Errorf("unknown code: %+v", s)
	}
}

// TestConnectErrorRoundTrip: what the gateway sends over gRPC/Connect comes
// back on the Go client as the same *CodeError, details included.
func TestConnectErrorRoundTrip(t *testing.T) {
	for _, code := range Codes() {
		in := &CodeError{Code: code, Message: "m", Path: "/p", OperationIndex: 3, HolderSession: "s", RetryAfter: 1500 * time.Millisecond}
		ce := ConnectError(fmt.Errorf("wrapped: %w", in))
		if ce.Code() != StatusOf(code).GRPC {
			t.Errorf("%s: gRPC code %s", code, ce.Code())
		}
		// As a client sees it: through the wire form of the error.
		back := FromConnectError(connect.NewWireError(ce.Code(), errors.New(ce.Message())))
		if !errors.Is(back, &CodeError{Code: codeOfGRPC(ce.Code())}) {
			t.Errorf("%s without detail: %v", code, back)
		}
		got := FromConnectError(ce)
		var out *CodeError
		if !errors.As(got, &out) || out.Code != code || out.Path != "/p" || out.OperationIndex != 3 || out.HolderSession != "s" || out.RetryAfter != 1500*time.Millisecond {
			t.Errorf("%s: came back as %#v", code, got)
		}
	}
	if err := FromConnectError(connect.NewError(connect.CodeCanceled, context.Canceled)); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled call must stay a context error: %v", err)
	}
	if err := FromConnectError(errors.New("dial tcp: refused")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a transport failure is UNAVAILABLE: %v", err)
	}
	if FromConnectError(nil) != nil {
		t.Error("nil")
	}
	if ce := ConnectError(errors.New("store down")); ce.Code() != connect.CodeUnavailable {
		t.Errorf("unclassified: %v", ce)
	}
}
