package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/cluster/gateway"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// codeRouter answers every Get with the error code named by the profile
// id, with every detail set.
type codeRouter struct{}

func (codeRouter) Request(_ context.Context, m proto.Message) (proto.Message, error) {
	id := m.(interface{ GetProfile() *hearthv1.ProfileRef }).GetProfile().GetId()
	code := hearthv1.ErrorCode(hearthv1.ErrorCode_value[id])
	return &hearthv1.GetResponse{Error: &hearthv1.Error{Code: code, Message: "m", Path: "/p", OperationIndex: 2, HolderSession: "h", RetryAfterMs: 700}}, nil
}

func (codeRouter) Watch(context.Context, *hearthv1.ProfileRef, func(*hearthv1.WatchEvent) error) error {
	return nil
}

func (codeRouter) Batch(context.Context, *hearthv1.BatchRequest) (*hearthv1.BatchResponse, error) {
	return &hearthv1.BatchResponse{}, nil
}

func (codeRouter) PollEvents(context.Context, *hearthv1.PollEventsRequest) (*hearthv1.PollEventsResponse, error) {
	return &hearthv1.PollEventsResponse{}, nil
}

// TestGatewayTransportDecodesEveryCode: every hearth code the gateway
// sends comes back from the Go client's gateway transport as the same
// *messages.CodeError, details included, so errors.Is works on it.
func TestGatewayTransportDecodesEveryCode(t *testing.T) {
	path, h, err := gateway.New(codeRouter{}, nil).Handler(gateway.Options{Token: "tok", MaxBodyBytes: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	g := NewGateway(srv.Client(), srv.URL, "tok")
	ctx := context.Background()
	for _, code := range messages.Codes() {
		_, err := g.Request(ctx, &hearthv1.GetRequest{Profile: &hearthv1.ProfileRef{Namespace: "g", Id: code.String()}})
		var ce *messages.CodeError
		if !errors.As(err, &ce) || !errors.Is(err, &messages.CodeError{Code: code}) {
			t.Errorf("%s came back as %v", code, err)
			continue
		}
		if ce.Path != "/p" || ce.OperationIndex != 2 || ce.HolderSession != "h" || ce.RetryAfter != 700*time.Millisecond {
			t.Errorf("%s lost details: %#v", code, ce)
		}
	}
	// Errors the transport makes itself, without a hearth detail.
	_, err = g.Request(ctx, &hearthv1.GetRequest{Profile: &hearthv1.ProfileRef{Namespace: "g", Id: "p"}, Path: strings.Repeat("a", 1<<13)})
	if !errors.Is(err, messages.ErrTooLarge) {
		t.Errorf("over the body cap: %v", err)
	}
	if _, err := NewGateway(srv.Client(), srv.URL, "wrong").Request(ctx, &hearthv1.GetRequest{}); !errors.Is(err, messages.ErrUnauthenticated) || retryable(err) {
		t.Errorf("wrong token: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.Request(cctx, &hearthv1.GetRequest{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	srv.Close()
	if _, err := g.Request(ctx, &hearthv1.GetRequest{}); !errors.Is(err, messages.ErrUnavailable) {
		t.Errorf("node gone: %v", err)
	}
}
