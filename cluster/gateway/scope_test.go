package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// wantScope is the decision for every method of ProfileService: a method
// added to the .proto fails TestEveryMethodHasAScope until it is given one
// here (and in MethodScope).
var wantScope = map[string]Scope{
	"Get": ScopeRead, "Status": ScopeRead, "ListVersions": ScopeRead, "GetVersion": ScopeRead,
	"ListPurchases": ScopeRead, "Watch": ScopeRead, "PollEvents": ScopeRead,
	"Acquire": ScopeGame, "Heartbeat": ScopeGame, "Release": ScopeGame, "Update": ScopeGame,
	"Purchase": ScopeGame, "Save": ScopeGame,
	"Batch":  ScopeRead, // its floor: BatchScope decides by its items
	"Delete": ScopeAdmin, "Restore": ScopeAdmin,
}

func TestEveryMethodHasAScope(t *testing.T) {
	sd := hearthv1.File_hearth_v1_profile_proto.Services().ByName("ProfileService")
	for i := range sd.Methods().Len() {
		name := string(sd.Methods().Get(i).Name())
		want, ok := wantScope[name]
		if !ok {
			t.Errorf("%s has no scope decided: add it to wantScope and MethodScope", name)
			continue
		}
		if got := MethodScope(name); got != want {
			t.Errorf("%s needs scope %s, want %s", name, got, want)
		}
	}
	if MethodScope("NotAMethod") != ScopeAdmin {
		t.Error("an unknown method is not admin-only")
	}
	// Each kind of batch item needs what its method needs alone.
	oneof := (&hearthv1.BatchItem{}).ProtoReflect().Descriptor().Oneofs().ByName("request")
	for i := range oneof.Fields().Len() {
		f := oneof.Fields().Get(i)
		item := &hearthv1.BatchItem{}
		item.ProtoReflect().Set(f, protoreflect.ValueOfMessage(item.ProtoReflect().NewField(f).Message()))
		method := strings.ToUpper(string(f.Name())[:1]) + string(f.Name())[1:]
		if got, want := BatchScope(&hearthv1.BatchRequest{Items: []*hearthv1.BatchItem{item}}), MethodScope(method); got != want {
			t.Errorf("a batch of one %s item needs %s, want %s", f.Name(), got, want)
		}
	}
	// The scope names the config accepts are the ones the gateway parses.
	for _, name := range config.TokenScopes() {
		if s, err := ParseScope(name); err != nil || s.String() != name {
			t.Errorf("config scope %q: %v %v", name, s, err)
		}
	}
}

// scopedServer serves the gateway with a token of each scope: read,
// game, and admin (as gateway.token).
func scopedServer(t *testing.T, router Router, m *Metrics) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	path, h, err := New(router, m).Handler(Options{Token: "admin-secret", Tokens: []Token{
		{Name: "dashboard", Secret: "read-secret", Scope: ScopeRead},
		{Name: "game-servers", Secret: "game-secret", Scope: ScopeGame},
	}})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(path, h)
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

var tokenOf = map[Scope]string{ScopeRead: "read-secret", ScopeGame: "game-secret", ScopeAdmin: "admin-secret"}

// TestScopesOnJSON: every unary method, called with a token of each
// scope, is refused with 403 PERMISSION_DENIED exactly when the token's
// scope is short of the method's, before the router sees it; the refusal
// names the token, never its secret, and is counted.
func TestScopesOnJSON(t *testing.T) {
	router := &fakeRouter{}
	metrics := NewMetrics(prometheus.NewRegistry())
	srv := scopedServer(t, router, metrics)
	for method, need := range wantScope {
		if method == "Watch" { // streams: not served as JSON (TestScopesOnGRPC)
			continue
		}
		for scope := ScopeRead; scope <= ScopeAdmin; scope++ {
			before := router.count()
			a := postJSON(t, srv, method, "application/json", []byte(`{`+ref+`}`), map[string]string{"Authorization": "Bearer " + tokenOf[scope]})
			if scope < need {
				checkErrorShape(t, a, http.StatusForbidden, hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED)
				if msg, _ := a.errorField("message").(string); strings.Contains(msg, "secret") || !strings.Contains(msg, "scope "+need.String()) {
					t.Errorf("%s with %s: message %q", method, scope, msg)
				}
				if router.count() != before {
					t.Errorf("%s with %s: the refused request reached the router", method, scope)
				}
				continue
			}
			if a.status == http.StatusForbidden || a.status == http.StatusUnauthorized {
				t.Errorf("%s with a %s token: %d %s", method, scope, a.status, a.raw)
			}
		}
	}
	if n := testutil.ToFloat64(metrics.Requests.WithLabelValues("Delete", "ERROR_CODE_PERMISSION_DENIED")); n != 2 {
		t.Errorf("counted %v refused Deletes, want 2 (read and game)", n)
	}
	// A path that names no method is admin's, whatever it is.
	a := postJSON(t, srv, "Nope", "application/json", []byte(`{}`), map[string]string{"Authorization": "Bearer read-secret"})
	checkErrorShape(t, a, http.StatusForbidden, hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED)
	if n := testutil.ToFloat64(metrics.Requests.WithLabelValues("unknown", "ERROR_CODE_PERMISSION_DENIED")); n != 1 {
		t.Errorf("the unknown method counted %v times under unknown", n)
	}
	// No token, or one the gateway does not know: 401, not 403.
	for _, h := range []map[string]string{nil, {"Authorization": "Bearer read-secre"}} {
		checkErrorShape(t, postJSON(t, srv, "Get", "application/json", []byte(`{`+ref+`}`), h), 401, hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED)
	}
}

// TestScopesOnGRPC: the same refusals over gRPC (and Connect, gRPC-Web)
// are PermissionDenied carrying the hearth.v1.Error detail; Watch, a
// stream, is refused too.
func TestScopesOnGRPC(t *testing.T) {
	router := &fakeRouter{}
	srv := scopedServer(t, router, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	withToken := func(scope Scope, h http.Header) { h.Set("Authorization", "Bearer "+tokenOf[scope]) }
	for _, tr := range transports {
		c := binaryClient(srv, srv.URL, tr.opts)
		before := router.count()
		del := connect.NewRequest(&hearthv1.DeleteRequest{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: "p"}})
		withToken(ScopeGame, del.Header())
		_, err := c.Delete(ctx, del)
		if connect.CodeOf(err) != connect.CodePermissionDenied || hearthCode(t, err) != hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED {
			t.Errorf("%s: Delete with a game token: %v", tr.name, err)
		}
		upd := connect.NewRequest(&hearthv1.UpdateRequest{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: "p"}})
		withToken(ScopeRead, upd.Header())
		if _, err := c.Update(ctx, upd); connect.CodeOf(err) != connect.CodePermissionDenied || hearthCode(t, err) != hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED {
			t.Errorf("%s: Update with a read token: %v", tr.name, err)
		}
		if router.count() != before {
			t.Errorf("%s: a refused request reached the router", tr.name)
		}
		get := connect.NewRequest(&hearthv1.GetRequest{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: "p"}})
		withToken(ScopeRead, get.Header())
		if _, err := c.Get(ctx, get); err != nil {
			t.Errorf("%s: Get with a read token: %v", tr.name, err)
		}
		w := connect.NewRequest(&hearthv1.WatchRequest{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: "p"}})
		stream, err := c.Watch(ctx, w) // no token
		if err == nil {
			stream.Receive()
			err = stream.Err()
		}
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s: Watch without a token: %v", tr.name, err)
		}
	}
}

// TestBatchScopes: a batch is allowed only if the token may run each of
// its items alone; a refused batch does not reach the router.
func TestBatchScopes(t *testing.T) {
	router := &fakeRouter{}
	srv := scopedServer(t, router, nil)
	get := `{"get":{` + ref + `}}`
	update := `{"update":{` + ref + `,"operations":[{"kind":"OPERATION_KIND_SET","path":"/a","value":"1"}]}}`
	for _, c := range []struct {
		scope Scope
		items string
		ok    bool
	}{
		{ScopeRead, get + "," + get, true},
		{ScopeRead, get + "," + update, false},
		{ScopeGame, get + "," + update, true},
		{ScopeAdmin, update, true},
	} {
		before := router.count()
		a := postJSON(t, srv, "Batch", "application/json", []byte(`{"items":[`+c.items+`]}`), map[string]string{"Authorization": "Bearer " + tokenOf[c.scope]})
		if !c.ok {
			checkErrorShape(t, a, http.StatusForbidden, hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED)
			if router.count() != before {
				t.Errorf("a refused batch (%s: %s) reached the router", c.scope, c.items)
			}
			continue
		}
		if a.status != 200 || router.count() != before+1 {
			t.Errorf("batch with %s token (%s): %d %s", c.scope, c.items, a.status, a.raw)
		}
	}
	// Over gRPC the refusal is PermissionDenied with the detail.
	req := connect.NewRequest(&hearthv1.BatchRequest{Items: []*hearthv1.BatchItem{
		{Request: &hearthv1.BatchItem_Get{Get: &hearthv1.GetRequest{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: "p"}}}},
		{Request: &hearthv1.BatchItem_Save{Save: &hearthv1.SaveRequest{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: "p"}}}},
	}})
	req.Header().Set("Authorization", "Bearer read-secret")
	_, err := binaryClient(srv, srv.URL, transports[1].opts).Batch(context.Background(), req)
	if connect.CodeOf(err) != connect.CodePermissionDenied || hearthCode(t, err) != hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED {
		t.Errorf("gRPC batch with a Save under a read token: %v", err)
	}
}

// TestRequireScope: Require (pprof) lets admin through and refuses the
// rest; NewAuth refuses a token without a secret or a scope.
func TestRequireScope(t *testing.T) {
	auth, err := NewAuth([]Token{{Name: "ops", Secret: "admin-secret", Scope: ScopeAdmin}, {Name: "dashboard", Secret: "read-secret", Scope: ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	h := auth.Require(ScopeAdmin, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("profile")) }))
	for token, want := range map[string]int{"admin-secret": 200, "read-secret": 403, "nope": 401, "": 401} {
		r := httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("token %q: %d, want %d", token, w.Code, want)
		}
	}
	for _, bad := range []Token{{Name: "a", Scope: ScopeRead}, {Name: "b", Secret: "x"}} {
		if _, err := NewAuth([]Token{bad}); err == nil {
			t.Errorf("NewAuth accepted %+v", bad)
		}
	}
}
