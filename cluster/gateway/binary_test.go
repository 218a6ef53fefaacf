package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

// transports are the protobuf transports connect-go serves.
var transports = []struct {
	name string
	opts []connect.ClientOption
}{
	{"connect", nil},
	{"grpc", []connect.ClientOption{connect.WithGRPC()}},
	{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
}

func binaryClient(srv interface {
	Client() *http.Client
}, url string, opts []connect.ClientOption) hearthv1connect.ProfileServiceClient {
	return hearthv1connect.NewProfileServiceClient(srv.Client(), url, opts...)
}

// hearthCode is the hearth code a Connect error carries as its detail.
func hearthCode(t *testing.T, err error) hearthv1.ErrorCode {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("not a Connect error: %v", err)
	}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if e, ok := v.(*hearthv1.Error); ok {
				return e.GetCode()
			}
		}
	}
	t.Fatalf("%v carries no hearth.v1.Error detail", err)
	return 0
}

// TestBinaryTransportsAreStrict: over gRPC, gRPC-Web and Connect, an
// unknown field, an unknown enum number and a body over the cap are
// refused before the router sees them; the profile's own errors arrive as
// the table's gRPC code with the hearth code as a detail.
func TestBinaryTransportsAreStrict(t *testing.T) {
	router := &fakeRouter{answer: func(m proto.Message) (proto.Message, error) {
		if _, ok := m.(*hearthv1.HeartbeatRequest); ok {
			return &hearthv1.HeartbeatResponse{Error: &hearthv1.Error{Code: hearthv1.ErrorCode_ERROR_CODE_STALE_SESSION, Message: "stolen"}}, nil
		}
		return emptyResponse(m), nil
	}}
	srv := server(t, router, Options{MaxBodyBytes: 1 << 16}, time.Second)
	profile := &hearthv1.ProfileRef{Namespace: "game", Id: "p"}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c := binaryClient(srv, srv.URL, tr.opts)
			ctx := context.Background()
			before := router.count()

			withUnknown := &hearthv1.GetRequest{Profile: profile}
			withUnknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1))
			_, err := c.Get(ctx, connect.NewRequest(withUnknown))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || hearthCode(t, err) != hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT ||
				!strings.Contains(err.Error(), "unknown field number 9") {
				t.Errorf("unknown field: %v", err)
			}
			_, err = c.Update(ctx, connect.NewRequest(&hearthv1.UpdateRequest{Profile: profile, Durability: 7}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "DURABILITY_DURABLE") {
				t.Errorf("enum 7: %v", err)
			}
			_, err = c.Get(ctx, connect.NewRequest(&hearthv1.GetRequest{Profile: profile, Path: strings.Repeat("a", 1<<16)}))
			if connect.CodeOf(err) != connect.CodeResourceExhausted {
				t.Errorf("over the cap: %v", err)
			}
			if got := messages.FromConnectError(err); !errors.Is(got, messages.ErrTooLarge) {
				t.Errorf("over the cap reads back as %v", got)
			}
			if router.count() != before {
				t.Errorf("a refused request reached the router")
			}
			_, err = c.Heartbeat(ctx, connect.NewRequest(&hearthv1.HeartbeatRequest{Profile: profile}))
			if connect.CodeOf(err) != connect.CodeFailedPrecondition || hearthCode(t, err) != hearthv1.ErrorCode_ERROR_CODE_STALE_SESSION {
				t.Errorf("a response's error: %v", err)
			}
			if _, err := c.Get(ctx, connect.NewRequest(&hearthv1.GetRequest{Profile: profile})); err != nil {
				t.Errorf("a good request: %v", err)
			}
		})
	}
}

// TestAuth: the scheme in any case, the token exactly; refusals are 401
// with the JSON error, or Unauthenticated with the hearth code, and no
// request reaches the router.
func TestAuth(t *testing.T) {
	router := &fakeRouter{}
	srv := server(t, router, Options{Token: "s3cret"}, time.Second)
	for _, c := range []struct {
		header string
		ok     bool
	}{
		{"", false},
		{"Bearer wrong", false},
		{"Basic s3cret", false},
		{"Bearer", false},
		{"Bearers3cret", false},
		{"Bearer s3cret", true},
		{"bearer s3cret", true},
		{"BEARER  s3cret ", true},
	} {
		t.Run(c.header, func(t *testing.T) {
			h := map[string]string{}
			if c.header != "" {
				h["Authorization"] = c.header
			}
			a := postJSON(t, srv, "Get", "application/json", []byte(`{`+ref+`}`), h)
			if c.ok {
				if a.status != 200 {
					t.Fatalf("%d %s", a.status, a.raw)
				}
				return
			}
			checkErrorShape(t, a, 401, hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED)
			if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
			}
		})
	}
	before := router.count()
	for _, tr := range transports {
		_, err := binaryClient(srv, srv.URL, tr.opts).Get(context.Background(), connect.NewRequest(&hearthv1.GetRequest{}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated || hearthCode(t, err) != hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED {
			t.Errorf("%s: %v", tr.name, err)
		}
	}
	if router.count() != before {
		t.Error("an unauthenticated request reached the router")
	}
}

// TestWatchOutlivesReadTimeout: the server's ReadTimeout bounds reading
// the request (a stalled body gets 408, TestBodyLimits), not the answer:
// net/http lifts the connection's deadline once the body is in, so a
// Watch stream goes on past it, on HTTP/1.1 and HTTP/2 alike. The node
// relies on this instead of a deadline of its own.
func TestWatchOutlivesReadTimeout(t *testing.T) {
	const readTimeout = 200 * time.Millisecond
	router := &fakeRouter{watch: func(ctx context.Context, _ *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error {
		if err := fn(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_WATCH_STARTED}); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(4 * readTimeout):
		}
		return fn(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED})
	}}
	srv := server(t, router, Options{}, readTimeout)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			hc := srv.Client()
			if tr.name != "grpc" { // gRPC needs HTTP/2; the others are tried on HTTP/1.1
				tc := hc.Transport.(*http.Transport).Clone()
				tc.ForceAttemptHTTP2 = false
				tc.TLSClientConfig.NextProtos = []string{"http/1.1"}
				hc = &http.Client{Transport: tc}
			}
			c := hearthv1connect.NewProfileServiceClient(hc, srv.URL, tr.opts...)
			stream, err := c.Watch(context.Background(), connect.NewRequest(&hearthv1.WatchRequest{Profile: &hearthv1.ProfileRef{Namespace: "g", Id: "p"}}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			var kinds []hearthv1.WatchEventKind
			for stream.Receive() {
				kinds = append(kinds, stream.Msg().GetKind())
			}
			if err := stream.Err(); err != nil || len(kinds) != 2 || kinds[1] != hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED {
				t.Fatalf("events %v, err %v", kinds, err)
			}
		})
	}
}

// TestBinaryMalformedBody: a protobuf request with bad chunked encoding is
// the client's mistake: INVALID_ARGUMENT (HTTP 400 over Connect), never
// connect-go's "unknown" (500).
func TestBinaryMalformedBody(t *testing.T) {
	router := &fakeRouter{}
	srv := server(t, router, Options{}, time.Second)
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, "POST /hearth.v1.ProfileService/Get HTTP/1.1\r\nHost: h\r\nContent-Type: application/proto\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 400 || !strings.Contains(string(body), "invalid_argument") || !strings.Contains(string(body), "hearth.v1.Error") {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if router.count() != 0 {
		t.Fatal("reached the router")
	}
}
