package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

// jsonAPI serves every unary method of ProfileService as plain JSON over
// HTTP POST (curl, Roblox HttpService): strict decoding, the method's
// response as JSON on success, {"error": ...} with the code's HTTP status
// on failure. It is the gateway's own handler rather than connect-go's
// JSON protocol, whose codec drops unknown fields and whose errors carry
// gRPC code names instead of hearth codes.
//
// Methods are found from the service descriptor and called through the
// ProfileServiceHandler, so a method added to the .proto is served here
// as soon as the handler implements it; no list to keep in step.
type jsonAPI struct {
	methods map[string]jsonMethod
	names   []string
	maxBody int
	observe func(op, outcome string, start time.Time)
}

// jsonMethod is one method of the service.
type jsonMethod struct {
	desc  protoreflect.MethodDescriptor
	input protoreflect.MessageType
	// call runs the handler's method; nil for streaming methods.
	call func(ctx context.Context, msg proto.Message, header http.Header) (proto.Message, error)
}

// compressMin is the smallest JSON answer worth gzipping (as for
// connect-go's binary answers): below it, CPU costs more than the bytes.
const compressMin = 4096

func newJSONAPI(h hearthv1connect.ProfileServiceHandler, maxBody int, observe func(op, outcome string, start time.Time)) (*jsonAPI, error) {
	sd := hearthv1.File_hearth_v1_profile_proto.Services().ByName("ProfileService")
	api := &jsonAPI{methods: map[string]jsonMethod{}, maxBody: maxBody, observe: observe}
	hv := reflect.ValueOf(h)
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		in, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
		if err != nil {
			return nil, fmt.Errorf("gateway: %s: %w", md.FullName(), err)
		}
		m := jsonMethod{desc: md, input: in}
		if !md.IsStreamingClient() && !md.IsStreamingServer() {
			if m.call, err = bindUnary(hv, md); err != nil {
				return nil, err
			}
		}
		api.methods[string(md.Name())] = m
		api.names = append(api.names, string(md.Name()))
	}
	slices.Sort(api.names)
	return api, nil
}

// bindUnary returns a function calling the handler's method named as md,
// of the shape every generated unary handler method has:
// func(context.Context, *connect.Request[In]) (*connect.Response[Out], error).
func bindUnary(hv reflect.Value, md protoreflect.MethodDescriptor) (func(context.Context, proto.Message, http.Header) (proto.Message, error), error) {
	fn := hv.MethodByName(string(md.Name()))
	bad := func(why string) error {
		return fmt.Errorf("gateway: the handler's %s method %s", md.Name(), why)
	}
	if !fn.IsValid() {
		return nil, bad("is missing")
	}
	ft := fn.Type()
	if ft.NumIn() != 2 || ft.NumOut() != 2 || ft.In(1).Kind() != reflect.Pointer || ft.Out(0).Kind() != reflect.Pointer {
		return nil, bad("has an unexpected signature " + ft.String())
	}
	reqType := ft.In(1).Elem() // connect.Request[In]
	msgField, ok := reqType.FieldByName("Msg")
	if !ok {
		return nil, bad("takes no connect.Request")
	}
	if _, ok := ft.Out(0).Elem().FieldByName("Msg"); !ok {
		return nil, bad("returns no connect.Response")
	}
	errType := reflect.TypeFor[error]()
	return func(ctx context.Context, msg proto.Message, header http.Header) (proto.Message, error) {
		req := reflect.New(reqType)
		mv := reflect.ValueOf(msg)
		if !mv.Type().AssignableTo(msgField.Type) {
			return nil, fmt.Errorf("gateway: %s takes %s, not %T", md.Name(), msgField.Type, msg)
		}
		req.Elem().FieldByIndex(msgField.Index).Set(mv)
		if hm := req.MethodByName("Header"); hm.IsValid() {
			if h, ok := hm.Call(nil)[0].Interface().(http.Header); ok {
				for k, v := range header {
					h[k] = v
				}
			}
		}
		out := fn.Call([]reflect.Value{reflect.ValueOf(ctx), req})
		if e := out[1]; e.Type().Implements(errType) && !e.IsNil() {
			return nil, e.Interface().(error)
		}
		if out[0].IsNil() {
			return nil, fmt.Errorf("gateway: %s returned no response", md.Name())
		}
		res, ok := out[0].Elem().FieldByName("Msg").Interface().(proto.Message)
		if !ok {
			return nil, fmt.Errorf("gateway: %s returned no message", md.Name())
		}
		return res, nil
	}, nil
}

func (api *jsonAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := strings.TrimPrefix(r.URL.Path, "/"+hearthv1connect.ProfileServiceName+"/")
	m, ok := api.methods[name]
	if !ok {
		api.refuse(w, "unknown", start, http.StatusNotFound,
			invalid("ProfileService has no method %s; methods: %s", strconv.Quote(name), strings.Join(api.names, ", ")))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		api.refuse(w, name, start, http.StatusMethodNotAllowed, invalid("%s takes POST, not %s", name, r.Method))
		return
	}
	if mt := mediaType(r); mt != "application/json" {
		api.refuse(w, name, start, http.StatusUnsupportedMediaType, invalid(
			"Content-Type %s is not served: send Content-Type: application/json (unary JSON), or protobuf over gRPC, gRPC-Web or Connect", strconv.Quote(mt)))
		return
	}
	if m.call == nil {
		api.refuse(w, name, start, http.StatusUnsupportedMediaType, invalid(
			"%s streams its answers, which plain JSON over HTTP cannot carry: poll with PollEvents, or call %s over gRPC, gRPC-Web or Connect (protobuf)", name, name))
		return
	}
	body, status, err := readBody(w, r, api.maxBody)
	if err != nil {
		w.Header().Set("Connection", "close") // the rest of the body is not worth reading
		api.refuse(w, name, start, status, err)
		return
	}
	msg := m.input.New().Interface()
	if err := messages.UnmarshalJSON(body, msg); err != nil {
		api.refuse(w, name, start, 0, err)
		return
	}
	ctx := r.Context()
	if ms, err := strconv.ParseInt(r.Header.Get("Connect-Timeout-Ms"), 10, 64); err == nil && ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	res, err := m.call(ctx, msg, r.Header)
	if err != nil {
		// The handler has counted it; only the answer is left. A method
		// the handler does not implement yet is 501, not a bad request.
		status := 0
		var ce *connect.Error
		if errors.As(err, &ce) && ce.Code() == connect.CodeUnimplemented && len(ce.Details()) == 0 {
			status = http.StatusNotImplemented
		}
		writeJSONError(w, status, messages.ToProto(messages.FromConnectError(err)))
		return
	}
	out, err := messages.MarshalJSON(res)
	if err != nil {
		writeJSONError(w, 0, messages.ToProto(messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "could not encode the answer: %v", err)))
		return
	}
	writeJSON(w, r, out)
}

// refuse answers a request the JSON API turned down before the service saw
// it, and counts it.
func (api *jsonAPI) refuse(w http.ResponseWriter, op string, start time.Time, status int, err error) {
	pe := messages.ToProto(err)
	api.observe(op, pe.GetCode().String(), start)
	writeJSONError(w, status, pe)
}

// readBody reads r's body, gunzipping it when Content-Encoding says gzip,
// refusing more than max bytes (compressed or not) as soon as they arrive
// rather than after reading them all, and telling a stalled body (read
// deadline) and a malformed one (bad chunked encoding) apart: all are the
// client's fault, so 4xx, never 500.
func readBody(w http.ResponseWriter, r *http.Request, max int) ([]byte, int, error) {
	tooLarge := func() error {
		return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE,
			"the request body is over %d bytes (gateway.max_body_bytes)", max)
	}
	if r.ContentLength > int64(max) {
		return nil, http.StatusRequestEntityTooLarge, tooLarge()
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, int64(max))
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			status, err := bodyError(err)
			return nil, status, err
		}
		src = zr
	default:
		return nil, http.StatusUnsupportedMediaType, invalid("Content-Encoding %s is not served; send identity or gzip", strconv.Quote(enc))
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(src, int64(max)+1))
	switch {
	case n > int64(max): // decompressed past the cap
		return nil, http.StatusRequestEntityTooLarge, tooLarge()
	case err != nil:
		status, err := bodyError(err)
		return nil, status, err
	}
	return buf.Bytes(), 0, nil
}

// bodyError classifies a failed body read, with the HTTP status to answer
// (0: the code's).
func bodyError(err error) (int, error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return 0, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE, "the request body is over %d bytes (gateway.max_body_bytes)", mbe.Limit)
	case isTimeout(err):
		return http.StatusRequestTimeout, invalid("the request body did not arrive in time (gateway.read_timeout)")
	}
	return 0, invalid("the request body could not be read: %v", err)
}

// isTimeout reports whether a body read failed on the server's read
// deadline (gateway.read_timeout).
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// writeJSON writes a successful answer, gzipped when the client accepts it
// and it is large enough to gain.
func writeJSON(w http.ResponseWriter, r *http.Request, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if len(body) >= compressMin && acceptsGzip(r) {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		_, _ = zw.Write(body)
		_ = zw.Close()
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		body = zb.Bytes()
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
