// Package gateway serves the hearth.v1 ProfileService over HTTP: protobuf
// over gRPC, gRPC-Web and Connect through connect-go (Unity, Unreal, Go),
// and plain JSON over HTTP POST through its own strict handler (Roblox
// HttpService, curl). Every transport decodes strictly, caps request
// bodies as they arrive, and answers failures as transport errors carrying
// the hearth error code (docs/API.md). Each request goes to a Router,
// which delivers it to the profile's activation wherever it lives.
package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
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
// Every request is checked with messages.Validate whatever its transport,
// and every failure (a refused request, an undeliverable one, a response
// whose Error is set) is returned as a Connect error carrying the code's
// gRPC code and the hearth.v1.Error as a detail: a success never carries
// an error.
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

// Options configure the gateway's HTTP edge.
type Options struct {
	// Token, if set, is accepted as "Authorization: Bearer <token>" with
	// the admin scope (the node's gateway.token).
	Token string
	// Tokens are more accepted tokens, each with its scope. With neither
	// Token nor Tokens the gateway is open.
	Tokens []Token
	// MaxBodyBytes caps a request body (after decompression) on every
	// transport; larger ones are refused with TOO_LARGE as they arrive.
	// <= 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int
}

// DefaultMaxBodyBytes is the body cap when none is configured: twice the
// store's default 4 MiB document limit, since a document sent as a JSON
// string value is escaped, plus room for the rest of the request.
const DefaultMaxBodyBytes = 2*4<<20 + 64<<10

// AllTokens is Tokens plus Token as an admin token.
func (o Options) AllTokens() []Token {
	all := append([]Token(nil), o.Tokens...)
	if o.Token != "" {
		all = append(all, Token{Name: "gateway.token", Secret: o.Token, Scope: ScopeAdmin})
	}
	return all
}

// Handler returns the path prefix and handler to mount: bearer auth and
// the method's scope first (nothing is read for a refused request; a
// Batch's items are checked once it is decoded), then protobuf over
// gRPC, gRPC-Web and Connect to connect-go, and everything else to the
// JSON API (unary application/json, or a JSON error saying what is
// served). The server's ReadTimeout bounds slow clients: net/http lifts
// it once a request's body is in, so it does not cut long answers or
// Watch streams.
func (s *Service) Handler(o Options) (string, http.Handler, error) {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	// Compressing the small messages of a game API costs more CPU than the
	// bytes it saves (gzip's reset alone was 15% of a loaded node's CPU);
	// only documents of some size are worth it.
	path, binary := hearthv1connect.NewProfileServiceHandler(s,
		connect.WithCompressMinBytes(compressMin),
		connect.WithReadMaxBytes(o.MaxBodyBytes))
	api, err := newJSONAPI(s, o.MaxBodyBytes, s.observe)
	if err != nil {
		return "", nil, err
	}
	auth, err := NewAuth(o.AllTokens())
	if err != nil {
		return "", nil, err
	}
	// connect-go caps each message; this caps the whole body (framing
	// included) for every transport, in case a stream sends more.
	bodyCap := int64(o.MaxBodyBytes) + 64<<10
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isBinaryRPC(r) {
			r.Body = binaryBody{http.MaxBytesReader(w, r.Body, bodyCap)}
			binary.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
	method := func(r *http.Request) string { return strings.TrimPrefix(r.URL.Path, path) }
	needFor := func(r *http.Request) (Scope, string) {
		m := method(r)
		return MethodScope(m), strconv.Quote(m)
	}
	refused := func(r *http.Request, code hearthv1.ErrorCode) {
		op := method(r)
		if _, ok := api.methods[op]; !ok {
			op = "unknown" // any path: keep the metric's labels bounded
		}
		s.observe(op, code.String(), time.Now())
	}
	return path, auth.wrap(needFor, refused, h), nil
}

// binaryBody turns a failed body read (bad chunked encoding, a stalled
// client) into a Connect error carrying INVALID_ARGUMENT: connect-go
// passes such errors through, where it would call any other read error
// "unknown" (HTTP 500). A body over the cap is left to connect-go, which
// answers it RESOURCE_EXHAUSTED.
type binaryBody struct{ io.ReadCloser }

func (b binaryBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if err != nil && !errors.Is(err, io.EOF) && !errors.As(err, &mbe) {
		_, err = bodyError(err)
		err = messages.ConnectError(err)
	}
	return n, err
}

// observe records one request's outcome ("OK" or an error code name).
func (s *Service) observe(op, outcome string, start time.Time) {
	s.metrics.Requests.WithLabelValues(op, outcome).Inc()
	s.metrics.Latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// call serves one unary request and records its metrics.
func call[Req, Res any](ctx context.Context, s *Service, op string, req *connect.Request[Req]) (*connect.Response[Res], error) {
	start := time.Now()
	res, err := s.unary(ctx, req.Msg)
	if err != nil {
		s.observe(op, messages.ToProto(err).GetCode().String(), start)
		return nil, messages.ConnectError(err)
	}
	typed, ok := any(res).(*Res)
	if !ok {
		err := messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "the profile answered %s with %T", op, res)
		s.observe(op, hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE.String(), start)
		return nil, messages.ConnectError(err)
	}
	s.observe(op, "OK", start)
	return connect.NewResponse(typed), nil
}

// unary validates msg, routes it, and turns a response whose Error is set
// into an error.
func (s *Service) unary(ctx context.Context, msg any) (proto.Message, error) {
	pm, ok := msg.(proto.Message)
	if !ok || pm == nil || !pm.ProtoReflect().IsValid() {
		return nil, invalid("empty request")
	}
	if err := messages.Validate(pm); err != nil {
		return nil, err
	}
	var res proto.Message
	var err error
	switch m := pm.(type) {
	case *hearthv1.BatchRequest: // many profiles: routed per owning node
		if err := checkBatch(ctx, m); err != nil {
			return nil, err
		}
		res, err = s.router.Batch(ctx, m)
	case *hearthv1.PollEventsRequest:
		res, err = s.router.PollEvents(ctx, m)
	default:
		res, err = s.router.Request(ctx, pm)
	}
	if err != nil {
		return nil, err
	}
	if e, ok := res.(interface{ GetError() *hearthv1.Error }); ok {
		if err := messages.Err(e.GetError()); err != nil {
			return nil, err
		}
	}
	return res, nil
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
	if err := messages.Validate(r.Msg); err != nil {
		s.observe("Watch", messages.ToProto(err).GetCode().String(), time.Now())
		return messages.ConnectError(err)
	}
	s.metrics.Requests.WithLabelValues("Watch", "started").Inc()
	err := s.router.Watch(ctx, r.Msg.GetProfile(), stream.Send)
	if err != nil && ctx.Err() == nil {
		return messages.ConnectError(err)
	}
	return nil
}

// Batch runs many independent operations: per-item failures are in each
// item's result; only a batch refused as a whole is an error.
func (s *Service) Batch(ctx context.Context, r *connect.Request[hearthv1.BatchRequest]) (*connect.Response[hearthv1.BatchResponse], error) {
	return call[hearthv1.BatchRequest, hearthv1.BatchResponse](ctx, s, "Batch", r)
}

// PollEvents long-polls profiles' events.
func (s *Service) PollEvents(ctx context.Context, r *connect.Request[hearthv1.PollEventsRequest]) (*connect.Response[hearthv1.PollEventsResponse], error) {
	return call[hearthv1.PollEventsRequest, hearthv1.PollEventsResponse](ctx, s, "PollEvents", r)
}
