package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// Scope is what a bearer token may do. Each scope allows everything the
// ones below it allow.
type Scope int

const (
	// ScopeRead reads profiles: a dashboard, an analytics job.
	ScopeRead Scope = iota + 1
	// ScopeGame is a game server: sessions, updates, purchases, saves.
	ScopeGame
	// ScopeAdmin is everything, Delete and Restore included, and pprof.
	ScopeAdmin
)

func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeGame:
		return "game"
	case ScopeAdmin:
		return "admin"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// ParseScope reads a scope's name as the config writes it.
func ParseScope(name string) (Scope, error) {
	for s := ScopeRead; s <= ScopeAdmin; s++ {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("gateway: unknown token scope %q (read, game or admin)", name)
}

// MethodScope is the least scope that may call a ProfileService method. A
// method missing here needs admin, so a method added to the service is
// closed until it is given a scope (a test checks every method has one).
// Batch needs the scope of its most demanding item (BatchScope); read is
// only its floor.
func MethodScope(method string) Scope {
	switch method {
	case "Get", "Status", "ListVersions", "GetVersion", "ListPurchases", "Watch", "PollEvents", "Batch":
		return ScopeRead
	case "Acquire", "Heartbeat", "Release", "Update", "Purchase", "Save":
		return ScopeGame
	}
	return ScopeAdmin
}

// BatchScope is the least scope that may run every item of req: a batch
// is allowed only if each of its items would be on its own.
func BatchScope(req *hearthv1.BatchRequest) Scope {
	need := ScopeRead
	for _, item := range req.GetItems() {
		need = max(need, MethodScope(batchItemMethod(item)))
	}
	return need
}

// batchItemMethod is the method an item runs as; "" (admin) for a kind of
// item added later, until it is decided here.
func batchItemMethod(item *hearthv1.BatchItem) string {
	switch item.GetRequest().(type) {
	case *hearthv1.BatchItem_Get:
		return "Get"
	case *hearthv1.BatchItem_Acquire:
		return "Acquire"
	case *hearthv1.BatchItem_Update:
		return "Update"
	case *hearthv1.BatchItem_Release:
		return "Release"
	case *hearthv1.BatchItem_Purchase:
		return "Purchase"
	case *hearthv1.BatchItem_Save:
		return "Save"
	case *hearthv1.BatchItem_Heartbeat:
		return "Heartbeat"
	}
	return ""
}

// Token is one bearer token the gateway accepts.
type Token struct {
	// Name identifies the token in refusals; the secret is never shown.
	Name   string
	Secret string
	Scope  Scope
}

// Auth checks "Authorization: Bearer <token>" against the configured
// tokens and their scopes. With no tokens it lets everything through (the
// node allows that on loopback only; see config.Validate).
type Auth struct {
	tokens []knownToken
}

// knownToken keeps a token's SHA-256, so that comparing a presented
// token takes the same time whatever its length and content.
type knownToken struct {
	name   string
	digest [sha256.Size]byte
	scope  Scope
}

// NewAuth returns the checker for tokens.
func NewAuth(tokens []Token) (*Auth, error) {
	a := &Auth{}
	for _, t := range tokens {
		if t.Secret == "" || t.Scope < ScopeRead || t.Scope > ScopeAdmin {
			return nil, fmt.Errorf("gateway: token %q needs a secret and a scope", t.Name)
		}
		a.tokens = append(a.tokens, knownToken{name: t.Name, digest: sha256.Sum256([]byte(t.Secret)), scope: t.Scope})
	}
	return a, nil
}

// Open reports whether no token is required.
func (a *Auth) Open() bool { return len(a.tokens) == 0 }

// authenticate finds the token header carries: its name and scope, or an
// UNAUTHENTICATED error saying why not.
func (a *Auth) authenticate(header string) (string, Scope, error) {
	unauth := func(msg string) error {
		return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED, "%s", msg)
	}
	scheme, cred, _ := strings.Cut(strings.TrimSpace(header), " ")
	switch {
	case header == "":
		return "", 0, unauth("this gateway needs Authorization: Bearer <token>")
	case !strings.EqualFold(scheme, "Bearer"):
		return "", 0, unauth("the Authorization scheme must be Bearer")
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	// Every known token is compared, so the time taken does not say which
	// one (if any) matched.
	var name string
	var scope Scope
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(got[:], t.digest[:]) == 1 {
			name, scope = t.name, t.scope
		}
	}
	if scope == 0 {
		return "", 0, unauth("the bearer token is wrong")
	}
	return name, scope, nil
}

// denied is the PERMISSION_DENIED error of a token whose scope is short
// of need for what.
func denied(name string, have, need Scope, what string) error {
	return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_PERMISSION_DENIED,
		"the token %q has scope %s; %s needs scope %s", name, have, what, need)
}

// Require wraps h so every request carries a token of at least scope need:
// a missing or wrong token is UNAUTHENTICATED (HTTP 401, gRPC
// Unauthenticated), a token short of need PERMISSION_DENIED (403,
// PermissionDenied), both answered on the request's transport before any
// of the body is read.
func (a *Auth) Require(need Scope, h http.Handler) http.Handler {
	return a.wrap(func(*http.Request) (Scope, string) { return need, "this endpoint" }, nil, h)
}

// wrap authenticates each request, checks the scope needFor asks for it,
// and passes the caller's scope on in the request's context (Batch checks
// its items with it). refused, if set, counts each refusal.
func (a *Auth) wrap(needFor func(*http.Request) (Scope, string), refused func(r *http.Request, code hearthv1.ErrorCode), h http.Handler) http.Handler {
	if a.Open() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, scope, err := a.authenticate(r.Header.Get("Authorization"))
		if err == nil {
			if need, what := needFor(r); scope < need {
				err = denied(name, scope, need, what)
			}
		}
		if err != nil {
			if refused != nil {
				refused(r, messages.ToProto(err).GetCode())
			}
			writeError(w, r, 0, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{name: name, scope: scope})))
	})
}

// caller is the authenticated token of a request.
type caller struct {
	name  string
	scope Scope
}

type callerKey struct{}

// checkBatch refuses a batch with an item the caller's token may not run.
// A request without a caller came through an open gateway.
func checkBatch(ctx context.Context, req *hearthv1.BatchRequest) error {
	c, ok := ctx.Value(callerKey{}).(caller)
	if !ok {
		return nil
	}
	if need := BatchScope(req); c.scope < need {
		return denied(c.name, c.scope, need, "a Batch with these items")
	}
	return nil
}
