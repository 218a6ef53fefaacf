package client

import (
	"context"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

// Gateway is the transport over a node's HTTP gateway (the Connect
// protocol, binary protobuf). The gateway answers failures as Connect
// errors carrying a hearth.v1.Error detail; they come back as
// *messages.CodeError, so errors.Is(err, messages.ErrStaleSession) works
// as on the cluster transport.
type Gateway struct {
	c     hearthv1connect.ProfileServiceClient
	token string
}

// NewGateway returns a transport to baseURL ("http://127.0.0.1:8080"),
// sending the bearer token if one is given.
func NewGateway(httpClient *http.Client, baseURL, token string) *Gateway {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Gateway{c: hearthv1connect.NewProfileServiceClient(httpClient, baseURL), token: token}
}

func req[T any](g *Gateway, m *T) *connect.Request[T] {
	r := connect.NewRequest(m)
	if g.token != "" {
		r.Header().Set("Authorization", "Bearer "+g.token)
	}
	return r
}

func msg[T any](r *connect.Response[T], err error) (proto.Message, error) {
	if err != nil {
		return nil, messages.FromConnectError(err)
	}
	m, ok := any(r.Msg).(proto.Message)
	if !ok {
		return nil, fmt.Errorf("hearth: unexpected response %T", r.Msg)
	}
	return m, nil
}

// Request sends one request.
func (g *Gateway) Request(ctx context.Context, m proto.Message) (proto.Message, error) {
	switch r := m.(type) {
	case *hearthv1.AcquireRequest:
		return msg(g.c.Acquire(ctx, req(g, r)))
	case *hearthv1.HeartbeatRequest:
		return msg(g.c.Heartbeat(ctx, req(g, r)))
	case *hearthv1.ReleaseRequest:
		return msg(g.c.Release(ctx, req(g, r)))
	case *hearthv1.GetRequest:
		return msg(g.c.Get(ctx, req(g, r)))
	case *hearthv1.UpdateRequest:
		return msg(g.c.Update(ctx, req(g, r)))
	case *hearthv1.PurchaseRequest:
		return msg(g.c.Purchase(ctx, req(g, r)))
	case *hearthv1.ListPurchasesRequest:
		return msg(g.c.ListPurchases(ctx, req(g, r)))
	case *hearthv1.SaveRequest:
		return msg(g.c.Save(ctx, req(g, r)))
	case *hearthv1.DeleteRequest:
		return msg(g.c.Delete(ctx, req(g, r)))
	case *hearthv1.StatusRequest:
		return msg(g.c.Status(ctx, req(g, r)))
	case *hearthv1.ListVersionsRequest:
		return msg(g.c.ListVersions(ctx, req(g, r)))
	case *hearthv1.GetVersionRequest:
		return msg(g.c.GetVersion(ctx, req(g, r)))
	case *hearthv1.RestoreRequest:
		return msg(g.c.Restore(ctx, req(g, r)))
	case *hearthv1.BatchRequest:
		return msg(g.c.Batch(ctx, req(g, r)))
	case *hearthv1.PollEventsRequest:
		return msg(g.c.PollEvents(ctx, req(g, r)))
	default:
		return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "the gateway has no method for %T", m)
	}
}

// Watch streams a profile's events.
func (g *Gateway) Watch(ctx context.Context, ref *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error {
	stream, err := g.c.Watch(ctx, req(g, &hearthv1.WatchRequest{Profile: ref}))
	if err != nil {
		return messages.FromConnectError(err)
	}
	defer stream.Close()
	for stream.Receive() {
		if err := fn(stream.Msg()); err != nil {
			return err
		}
		if stream.Msg().GetKind() == hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED {
			return nil
		}
	}
	if err := stream.Err(); err != nil && ctx.Err() == nil {
		return messages.FromConnectError(err)
	}
	return ctx.Err()
}
