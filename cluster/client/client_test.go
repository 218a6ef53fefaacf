package client

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/cluster"
	"github.com/hearth-profiles/hearth/cluster/nodestore"
	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// scripted answers requests from a list of responses (or errors), in order,
// and records what it was sent.
type scripted struct {
	mu   sync.Mutex
	out  []any
	sent []proto.Message
}

func (s *scripted) Request(_ context.Context, m proto.Message) (proto.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, proto.Clone(m))
	if len(s.out) == 0 {
		return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "script ran out")
	}
	next := s.out[0]
	s.out = s.out[1:]
	if err, ok := next.(error); ok {
		return nil, err
	}
	return next.(proto.Message), nil
}

func (s *scripted) Watch(context.Context, *hearthv1.ProfileRef, func(*hearthv1.WatchEvent) error) error {
	return nil
}

var ref = &hearthv1.ProfileRef{Namespace: "game", Id: "p"}

func fast() Options {
	return Options{BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
}

func TestUpdateRetriesWithOneGeneratedKey(t *testing.T) {
	s := &scripted{out: []any{
		messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node down"),
		&hearthv1.UpdateResponse{Error: &hearthv1.Error{Code: hearthv1.ErrorCode_ERROR_CODE_FENCED}},
		&hearthv1.UpdateResponse{Version: 7},
	}}
	c := New(s, fast())
	res, err := c.Update(context.Background(), &hearthv1.UpdateRequest{Profile: ref})
	if err != nil || res.GetVersion() != 7 {
		t.Fatalf("%v %v", res, err)
	}
	if len(s.sent) != 3 {
		t.Fatalf("%d attempts", len(s.sent))
	}
	key := s.sent[0].(*hearthv1.UpdateRequest).GetIdempotencyKey()
	if key == "" {
		t.Fatal("no idempotency key generated")
	}
	for _, m := range s.sent {
		if m.(*hearthv1.UpdateRequest).GetIdempotencyKey() != key {
			t.Fatal("retries must reuse the first key")
		}
	}
}

func TestTypedErrorsAreNotRetried(t *testing.T) {
	s := &scripted{out: []any{&hearthv1.GetResponse{Error: &hearthv1.Error{Code: hearthv1.ErrorCode_ERROR_CODE_INVALID_PATH, Path: "x"}}}}
	_, err := New(s, fast()).Get(context.Background(), &hearthv1.GetRequest{Profile: ref, Path: "x"})
	var ce *messages.CodeError
	if !errors.Is(err, messages.ErrInvalidPath) || !errors.As(err, &ce) || ce.Path != "x" || len(s.sent) != 1 {
		t.Fatalf("%v after %d attempts", err, len(s.sent))
	}
}

func TestGivesUpAtTheDeadline(t *testing.T) {
	s := &scripted{}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := New(s, fast()).Status(ctx, &hearthv1.StatusRequest{Profile: ref})
	if !errors.Is(err, messages.ErrUnavailable) || len(s.sent) < 2 {
		t.Fatalf("%v after %d attempts", err, len(s.sent))
	}
}

// TestGatewayTransport runs the client against an embedded node.
func TestGatewayTransport(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.Listen = "127.0.0.1:0"
	cfg.Gateway.Token = "tok"
	n, err := cluster.Start(context.Background(), cfg, nodestore.Open, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = n.Drain(context.Background()); _ = n.Close() }()
	c := New(NewGateway(nil, "http://"+n.Addr(), "tok"), Options{})
	ctx := context.Background()
	a, err := c.Acquire(ctx, &hearthv1.AcquireRequest{Profile: ref, SessionId: "srv-1"})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan *hearthv1.WatchEvent, 10)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = c.Watch(wctx, ref, func(ev *hearthv1.WatchEvent) error { events <- ev; return nil })
	}()
	if ev := <-events; ev.GetKind() != hearthv1.WatchEventKind_WATCH_EVENT_KIND_WATCH_STARTED {
		t.Fatalf("first event %v", ev)
	}
	if _, err := c.Update(ctx, &hearthv1.UpdateRequest{Profile: ref, SessionToken: a.GetSessionToken(),
		Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: "/coins", Value: "3"}}}); err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.GetKind() != hearthv1.WatchEventKind_WATCH_EVENT_KIND_UPDATED {
		t.Fatalf("update event %v", ev)
	}
	g, err := c.Get(ctx, &hearthv1.GetRequest{Profile: ref, Path: "/coins"})
	if err != nil || g.GetValue() != "3" {
		t.Fatalf("%v %v", g, err)
	}
	_, err = c.Update(ctx, &hearthv1.UpdateRequest{Profile: ref, SessionToken: "forged",
		Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/coins", Value: "0"}}})
	if !errors.Is(err, messages.ErrStaleSession) {
		t.Fatalf("forged token: %v", err)
	}
	bad := New(NewGateway(nil, "http://"+n.Addr(), "wrong"), Options{})
	if _, err := bad.Get(ctx, &hearthv1.GetRequest{Profile: ref}); err == nil || retryable(err) {
		t.Fatalf("wrong token: %v", err)
	}
}
