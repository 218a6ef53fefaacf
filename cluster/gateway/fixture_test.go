package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// fakeRouter answers requests with answer (default: an empty response of
// the right type) and counts them, so a test can tell that a refused
// request never reached a profile.
type fakeRouter struct {
	mu     sync.Mutex
	calls  int
	answer func(proto.Message) (proto.Message, error)
	watch  func(ctx context.Context, ref *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error
}

func (f *fakeRouter) Request(_ context.Context, m proto.Message) (proto.Message, error) {
	f.mu.Lock()
	f.calls++
	answer := f.answer
	f.mu.Unlock()
	if answer != nil {
		return answer(m)
	}
	return emptyResponse(m), nil
}

func (f *fakeRouter) Watch(ctx context.Context, ref *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error {
	f.mu.Lock()
	f.calls++
	watch := f.watch
	f.mu.Unlock()
	if watch != nil {
		return watch(ctx, ref, fn)
	}
	return fn(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED})
}

func (f *fakeRouter) Batch(ctx context.Context, m *hearthv1.BatchRequest) (*hearthv1.BatchResponse, error) {
	res, err := f.Request(ctx, m)
	if err != nil {
		return nil, err
	}
	out, _ := res.(*hearthv1.BatchResponse)
	return out, nil
}

func (f *fakeRouter) PollEvents(ctx context.Context, m *hearthv1.PollEventsRequest) (*hearthv1.PollEventsResponse, error) {
	res, err := f.Request(ctx, m)
	if err != nil {
		return nil, err
	}
	out, _ := res.(*hearthv1.PollEventsResponse)
	return out, nil
}

func (f *fakeRouter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// emptyResponse is the response type of req's method, empty.
func emptyResponse(req proto.Message) proto.Message {
	methods := hearthv1.File_hearth_v1_profile_proto.Services().ByName("ProfileService").Methods()
	for i := range methods.Len() {
		if m := methods.Get(i); m.Input().FullName() == req.ProtoReflect().Descriptor().FullName() {
			if mt, err := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName()); err == nil {
				return mt.New().Interface()
			}
		}
	}
	return &hearthv1.Error{}
}

// server runs the gateway over router with o, in a server with the
// node's read timeout.
func server(t *testing.T, router Router, o Options, readTimeout time.Duration) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	path, h, err := New(router, nil).Handler(o)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(path, h)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadTimeout = readTimeout
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// answer is a JSON API answer as an HTTP client sees it.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
	took   time.Duration
}

// errorField returns the error object's field (code, message, ...), or nil.
func (a answer) errorField(name string) any {
	e, ok := a.body["error"].(map[string]any)
	if !ok {
		return nil
	}
	return e[name]
}

func postJSON(t *testing.T, srv *httptest.Server, method, contentType string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/hearth.v1.ProfileService/"+method, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, srv.Client(), req)
}

func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	start := time.Now()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: res.StatusCode, header: res.Header, raw: string(raw), took: time.Since(start)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("status %d: body is not JSON: %q", res.StatusCode, raw)
	}
	return a
}

// checkErrorShape asserts the one error body shape: every field of
// hearth.v1.Error present, the code a known name.
func checkErrorShape(t *testing.T, a answer, wantStatus int, wantCode hearthv1.ErrorCode) {
	t.Helper()
	if a.status != wantStatus {
		t.Errorf("status %d, want %d: %s", a.status, wantStatus, a.raw)
	}
	if got := a.errorField("code"); got != wantCode.String() {
		t.Errorf("code %v, want %s: %s", got, wantCode, a.raw)
	}
	for _, f := range []string{"code", "message", "path", "operationIndex", "holderSession", "retryAfterMs"} {
		if a.errorField(f) == nil {
			t.Errorf("error lacks %s: %s", f, a.raw)
		}
	}
	if len(a.body) != 1 {
		t.Errorf("an error body has only the error: %s", a.raw)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}
