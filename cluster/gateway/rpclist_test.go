package gateway

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/hearth-profiles/hearth/actors/profile"
	"github.com/hearth-profiles/hearth/cluster/client"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

// knownMissing lists the methods of hearth.v1.ProfileService that are
// defined but not yet built end to end (issue 11 builds them). The test
// fails for any other method that is not complete, and fails for a method
// listed here once it is complete: remove it from the list then.
var knownMissing = []string{}

// TestEveryRPCIsComplete walks the service descriptor, the one source of
// truth for the RPC list, and checks for each method that the gateway
// serves it on every transport (JSON for unary methods; gRPC, gRPC-Web and
// Connect for all) with errors mapped to hearth codes, that
// profile.ErrorResponse answers it with the method's response type (so a
// failure can be routed back), and that the Go client has the method and
// its gateway transport sends it. Adding an RPC to the .proto without
// doing all of this fails here.
func TestEveryRPCIsComplete(t *testing.T) {
	probe := messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND, "probe")
	router := &fakeRouter{
		answer: func(m proto.Message) (proto.Message, error) { return profile.ErrorResponse(m, probe), nil },
		watch: func(context.Context, *hearthv1.ProfileRef, func(*hearthv1.WatchEvent) error) error {
			return probe
		},
	}
	srv := server(t, router, Options{}, time.Second)
	sd := hearthv1.File_hearth_v1_profile_proto.Services().ByName("ProfileService")
	clientType := reflect.TypeFor[*client.Client]()
	gw := client.NewGateway(srv.Client(), srv.URL, "")
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		name := string(md.Name())
		var gaps []string
		gap := func(format string, args ...any) { gaps = append(gaps, fmt.Sprintf(format, args...)) }

		in := newMessage(md.Input().FullName())
		if res := profile.ErrorResponse(in, probe); res == nil || res.ProtoReflect().Descriptor().FullName() != md.Output().FullName() {
			gap("profile.ErrorResponse answers %T, not %s", res, md.Output().FullName())
		}
		if _, ok := clientType.MethodByName(name); !ok {
			gap("cluster/client.Client has no method %s", name)
		}
		streaming := md.IsStreamingServer() || md.IsStreamingClient()

		// JSON: unary methods are served; streaming ones are refused with
		// 415 pointing elsewhere.
		a := postJSON(t, srv, name, "application/json", []byte(`{}`), nil)
		switch {
		case streaming && a.status != 415:
			gap("JSON: a streaming method answers %d, want 415", a.status)
		case !streaming && (a.status == 501 || a.status == 404 && a.errorField("code") != "ERROR_CODE_NOT_FOUND"):
			gap("JSON: not served (%d %s)", a.status, a.raw)
		case !streaming && a.status != 200 && a.errorField("code") == nil:
			gap("JSON: error without a hearth code: %s", a.raw)
		}

		for _, tr := range transports {
			err := callBinary(t, hearthv1connect.NewProfileServiceClient(srv.Client(), srv.URL, tr.opts...), md, in)
			switch {
			case connect.CodeOf(err) == connect.CodeUnimplemented:
				gap("%s: not served: %v", tr.name, err)
			case err != nil && !hasHearthDetail(err):
				gap("%s: error without a hearth.v1.Error detail: %v", tr.name, err)
			}
		}

		if !streaming {
			_, err := gw.Request(context.Background(), in)
			if err != nil && (strings.Contains(err.Error(), "has no method") || !errors.Is(err, messages.ErrNotFound)) {
				gap("client.Gateway does not send it: %v", err)
			}
		}

		listed := slices.Contains(knownMissing, name)
		switch {
		case listed && len(gaps) == 0:
			t.Errorf("%s is complete: remove it from knownMissing", name)
		case listed:
			t.Logf("%s (known missing): %s", name, strings.Join(gaps, "; "))
		default:
			for _, g := range gaps {
				t.Errorf("%s: %s", name, g)
			}
		}
	}
	for _, name := range knownMissing {
		if sd.Methods().ByName(protoreflect.Name(name)) == nil {
			t.Errorf("knownMissing lists %s, which the service does not define", name)
		}
	}
}

func newMessage(name protoreflect.FullName) proto.Message {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		panic(err)
	}
	return mt.New().Interface()
}

// callBinary calls md on the generated client with msg and returns its
// error (for a stream, the error after its first message or its end).
func callBinary(t *testing.T, c hearthv1connect.ProfileServiceClient, md protoreflect.MethodDescriptor, msg proto.Message) error {
	t.Helper()
	fn := reflect.ValueOf(c).MethodByName(string(md.Name()))
	if !fn.IsValid() {
		return connect.NewError(connect.CodeUnimplemented, errors.New("the generated client has no such method"))
	}
	req := reflect.New(fn.Type().In(1).Elem())
	req.Elem().FieldByName("Msg").Set(reflect.ValueOf(msg))
	out := fn.Call([]reflect.Value{reflect.ValueOf(context.Background()), req})
	if err, _ := out[1].Interface().(error); err != nil {
		return err
	}
	if !md.IsStreamingServer() {
		return nil
	}
	stream := out[0]
	defer stream.MethodByName("Close").Call(nil)
	stream.MethodByName("Receive").Call(nil)
	err, _ := stream.MethodByName("Err").Call(nil)[0].Interface().(error)
	return err
}

func hasHearthDetail(err error) bool {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return false
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if _, ok := v.(*hearthv1.Error); ok {
				return true
			}
		}
	}
	return false
}
