package messages

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

func TestErrRoundTrip(t *testing.T) {
	in := &hearthv1.Error{
		Code: hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT, Message: "held", Path: "/a",
		OperationIndex: 2, HolderSession: "srv", RetryAfterMs: 1500,
	}
	err := Err(in)
	if !errors.Is(err, ErrSessionConflict) || errors.Is(err, ErrFenced) {
		t.Fatalf("errors.Is: %v", err)
	}
	wrapped := fmt.Errorf("acquire: %w", err)
	var ce *CodeError
	if !errors.As(wrapped, &ce) || ce.HolderSession != "srv" || ce.RetryAfter != 1500*time.Millisecond || ce.OperationIndex != 2 {
		t.Fatalf("errors.As: %+v", ce)
	}
	back := ToProto(wrapped)
	if back.GetCode() != in.GetCode() || back.GetRetryAfterMs() != 1500 || back.GetPath() != "/a" {
		t.Fatalf("ToProto: %v", back)
	}
	if got := err.Error(); got != `SESSION_CONFLICT: held (path "/a")` {
		t.Fatalf("Error() = %q", got)
	}
}

func TestErrNilAndUnclassified(t *testing.T) {
	if Err(nil) != nil || Err(&hearthv1.Error{}) != nil || ToProto(nil) != nil {
		t.Fatal("nil and unspecified must be no error")
	}
	p := ToProto(errors.New("connection reset"))
	if p.GetCode() != hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE || p.GetMessage() != "connection reset" {
		t.Fatalf("unclassified: %v", p)
	}
	if !errors.Is(Err(p), ErrUnavailable) {
		t.Fatal("unavailable round trip")
	}
	if got := (&CodeError{Code: 999}).Error(); got != "error code 999" {
		t.Fatalf("unknown code: %q", got)
	}
}
