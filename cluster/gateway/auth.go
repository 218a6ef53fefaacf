package gateway

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// RequireToken wraps h so every request must carry "Authorization: Bearer
// <token>" (the scheme in any case, as RFC 7235 has it). A refusal is the
// UNAUTHENTICATED error on the request's transport (HTTP 401 with the JSON
// error, or gRPC Unauthenticated), sent before any of the body is read. An
// empty token leaves h open (the node only allows that on loopback; see
// config.Validate).
func RequireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := checkBearer(r.Header.Get("Authorization"), want); msg != "" {
			writeError(w, r, 0, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED, "%s", msg))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// checkBearer returns why header does not carry the token, or "".
func checkBearer(header string, want []byte) string {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(header), " ")
	switch {
	case header == "":
		return "this gateway needs Authorization: Bearer <gateway.token>"
	case !strings.EqualFold(scheme, "Bearer"):
		return "the Authorization scheme must be Bearer"
	case subtle.ConstantTimeCompare([]byte(strings.TrimSpace(cred)), want) != 1:
		return "the bearer token is wrong"
	}
	return ""
}
