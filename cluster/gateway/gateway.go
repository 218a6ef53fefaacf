// Package gateway serves the hearth.v1 ProfileService over HTTP with
// ConnectRPC: one handler speaks gRPC, gRPC-Web and the Connect protocol,
// whose unary form is plain JSON over HTTP POST, so a Roblox server (HTTP
// only), a Unity or Unreal server (gRPC) and curl all reach the same API.
// Each request goes to a Router, which delivers it to the profile's
// activation wherever it lives.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

// Router delivers requests to profiles: profile.Host on a single node, the
// cluster's router on many.
type Router interface {
	Request(ctx context.Context, msg proto.Message) (proto.Message, error)
	Watch(ctx context.Context, ref *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error
	// Batch runs independent items on their owning nodes, one result each.
	Batch(ctx context.Context, req *hearthv1.BatchRequest) (*hearthv1.BatchResponse, error)
	// PollEvents long-polls the events of many profiles on their owners.
	PollEvents(ctx context.Context, req *hearthv1.PollEventsRequest) (*hearthv1.PollEventsResponse, error)
}

// Metrics are the gateway's request metrics.
type Metrics struct {
	Requests *prometheus.CounterVec   // operation, outcome (OK or an error code)
	Latency  *prometheus.HistogramVec // operation
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_gateway_requests_total", Help: "Gateway requests by operation and outcome (OK or an error code).",
		}, []string{"operation", "outcome"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hearth_gateway_request_seconds", Help: "Gateway request latency by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"operation"}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Latency)
	}
	return m
}

// Service implements hearthv1connect.ProfileServiceHandler over a Router.
type Service struct {
	router  Router
	metrics *Metrics
}

var _ hearthv1connect.ProfileServiceHandler = (*Service)(nil)

// New returns the service; Handler mounts it.
func New(router Router, metrics *Metrics) *Service {
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Service{router: router, metrics: metrics}
}

// Handler returns the path prefix and handler to mount, with bearer-token
// auth when token is non-empty.
func (s *Service) Handler(token string) (string, http.Handler) {
	// Compressing the small messages of a game API costs more CPU than the
	// bytes it saves (gzip's reset alone was 15% of a loaded node's CPU);
	// only documents of some size are worth it.
	path, h := hearthv1connect.NewProfileServiceHandler(s, connect.WithCompressMinBytes(4096))
	return path, RequireToken(token, h)
}

// call routes one unary request and records its metrics.
func call[Req, Res any](ctx context.Context, s *Service, op string, req *connect.Request[Req]) (*connect.Response[Res], error) {
	start := time.Now()
	out, err := route[Req, Res](ctx, s, req.Msg)
	outcome := "OK"
	switch {
	case err != nil:
		outcome = connect.CodeOf(err).String()
	case out != nil:
		if e, ok := any(out).(interface{ GetError() *hearthv1.Error }); ok && e.GetError() != nil {
			outcome = e.GetError().GetCode().String()
		}
	}
	s.metrics.Requests.WithLabelValues(op, outcome).Inc()
	s.metrics.Latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}

func route[Req, Res any](ctx context.Context, s *Service, msg *Req) (*Res, error) {
	pm, ok := any(msg).(proto.Message)
	if !ok || msg == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("empty request"))
	}
	res, err := s.router.Request(ctx, pm)
	if err != nil {
		return nil, connectError(err)
	}
	typed, ok := any(res).(*Res)
	if !ok {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("profile answered %T", res))
	}
	return typed, nil
}

// connectError maps a delivery failure (not a response's Error, which
// travels in the response body) to a Connect/gRPC status.
func connectError(err error) error {
	var ce *messages.CodeError
	if !errors.As(err, &ce) {
		return connect.NewError(connect.CodeUnavailable, err)
	}
	code := connect.CodeUnavailable
	switch ce.Code {
	case hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, hearthv1.ErrorCode_ERROR_CODE_INVALID_PATH:
		code = connect.CodeInvalidArgument
	case hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND:
		code = connect.CodeNotFound
	case hearthv1.ErrorCode_ERROR_CODE_FENCED:
		code = connect.CodeAborted
	}
	return connect.NewError(code, err)
}

func (s *Service) Acquire(ctx context.Context, r *connect.Request[hearthv1.AcquireRequest]) (*connect.Response[hearthv1.AcquireResponse], error) {
	return call[hearthv1.AcquireRequest, hearthv1.AcquireResponse](ctx, s, "Acquire", r)
}

func (s *Service) Heartbeat(ctx context.Context, r *connect.Request[hearthv1.HeartbeatRequest]) (*connect.Response[hearthv1.HeartbeatResponse], error) {
	return call[hearthv1.HeartbeatRequest, hearthv1.HeartbeatResponse](ctx, s, "Heartbeat", r)
}

func (s *Service) Release(ctx context.Context, r *connect.Request[hearthv1.ReleaseRequest]) (*connect.Response[hearthv1.ReleaseResponse], error) {
	return call[hearthv1.ReleaseRequest, hearthv1.ReleaseResponse](ctx, s, "Release", r)
}

func (s *Service) Get(ctx context.Context, r *connect.Request[hearthv1.GetRequest]) (*connect.Response[hearthv1.GetResponse], error) {
	return call[hearthv1.GetRequest, hearthv1.GetResponse](ctx, s, "Get", r)
}

func (s *Service) Update(ctx context.Context, r *connect.Request[hearthv1.UpdateRequest]) (*connect.Response[hearthv1.UpdateResponse], error) {
	return call[hearthv1.UpdateRequest, hearthv1.UpdateResponse](ctx, s, "Update", r)
}

func (s *Service) Purchase(ctx context.Context, r *connect.Request[hearthv1.PurchaseRequest]) (*connect.Response[hearthv1.PurchaseResponse], error) {
	return call[hearthv1.PurchaseRequest, hearthv1.PurchaseResponse](ctx, s, "Purchase", r)
}

func (s *Service) ListPurchases(ctx context.Context, r *connect.Request[hearthv1.ListPurchasesRequest]) (*connect.Response[hearthv1.ListPurchasesResponse], error) {
	return call[hearthv1.ListPurchasesRequest, hearthv1.ListPurchasesResponse](ctx, s, "ListPurchases", r)
}

func (s *Service) Save(ctx context.Context, r *connect.Request[hearthv1.SaveRequest]) (*connect.Response[hearthv1.SaveResponse], error) {
	return call[hearthv1.SaveRequest, hearthv1.SaveResponse](ctx, s, "Save", r)
}

func (s *Service) Delete(ctx context.Context, r *connect.Request[hearthv1.DeleteRequest]) (*connect.Response[hearthv1.DeleteResponse], error) {
	return call[hearthv1.DeleteRequest, hearthv1.DeleteResponse](ctx, s, "Delete", r)
}

func (s *Service) Status(ctx context.Context, r *connect.Request[hearthv1.StatusRequest]) (*connect.Response[hearthv1.StatusResponse], error) {
	return call[hearthv1.StatusRequest, hearthv1.StatusResponse](ctx, s, "Status", r)
}

func (s *Service) ListVersions(ctx context.Context, r *connect.Request[hearthv1.ListVersionsRequest]) (*connect.Response[hearthv1.ListVersionsResponse], error) {
	return call[hearthv1.ListVersionsRequest, hearthv1.ListVersionsResponse](ctx, s, "ListVersions", r)
}

func (s *Service) GetVersion(ctx context.Context, r *connect.Request[hearthv1.GetVersionRequest]) (*connect.Response[hearthv1.GetVersionResponse], error) {
	return call[hearthv1.GetVersionRequest, hearthv1.GetVersionResponse](ctx, s, "GetVersion", r)
}

func (s *Service) Restore(ctx context.Context, r *connect.Request[hearthv1.RestoreRequest]) (*connect.Response[hearthv1.RestoreResponse], error) {
	return call[hearthv1.RestoreRequest, hearthv1.RestoreResponse](ctx, s, "Restore", r)
}

// Watch streams a profile's events until ENDED or the client goes away.
func (s *Service) Watch(ctx context.Context, r *connect.Request[hearthv1.WatchRequest], stream *connect.ServerStream[hearthv1.WatchEvent]) error {
	s.metrics.Requests.WithLabelValues("Watch", "started").Inc()
	err := s.router.Watch(ctx, r.Msg.GetProfile(), stream.Send)
	if err != nil && ctx.Err() == nil {
		return connectError(err)
	}
	return nil
}

// Batch runs many independent operations: per-item failures are in each
// item's result; only a batch refused as a whole is an error.
func (s *Service) Batch(ctx context.Context, r *connect.Request[hearthv1.BatchRequest]) (*connect.Response[hearthv1.BatchResponse], error) {
	return callWith(ctx, s, "Batch", r.Msg, s.router.Batch)
}

// PollEvents long-polls profiles' events.
func (s *Service) PollEvents(ctx context.Context, r *connect.Request[hearthv1.PollEventsRequest]) (*connect.Response[hearthv1.PollEventsResponse], error) {
	return callWith(ctx, s, "PollEvents", r.Msg, s.router.PollEvents)
}

// callWith runs a method that is not routed by one profile and records its
// metrics.
func callWith[Req, Res any](ctx context.Context, s *Service, op string, req *Req, run func(context.Context, *Req) (*Res, error)) (*connect.Response[Res], error) {
	start := time.Now()
	out, err := run(ctx, req)
	outcome := "OK"
	if err != nil {
		err = connectError(err)
		outcome = connect.CodeOf(err).String()
	}
	s.metrics.Requests.WithLabelValues(op, outcome).Inc()
	s.metrics.Latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}
