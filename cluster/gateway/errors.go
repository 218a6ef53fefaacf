package gateway

import (
	"bytes"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// The gateway answers every failure as a transport error, never as a 2xx
// with an error inside (docs/API.md says why): HTTP JSON clients get the
// code's HTTP status and the body {"error": <hearth.v1.Error>}; gRPC,
// gRPC-Web and Connect clients get the code's gRPC code with the
// hearth.v1.Error as a detail. messages.StatusOf is the one table.

// binaryContentTypes are the content types connect-go serves: protobuf
// over gRPC, gRPC-Web and Connect. Every other request, plain JSON above
// all, is the JSON API's, which refuses what it does not speak with 415:
// JSON is served only as unary application/json, so connect-go's lenient
// JSON codec (it drops unknown fields) is never reached.
var binaryContentTypes = map[string]bool{
	"application/proto":          true,
	"application/grpc":           true,
	"application/grpc+proto":     true,
	"application/grpc-web":       true,
	"application/grpc-web+proto": true,
	"application/connect+proto":  true,
}

// mediaType is the request's lowercased media type without parameters.
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
		mt = strings.TrimSpace(mt)
	}
	return strings.ToLower(mt)
}

// isBinaryRPC reports whether connect-go serves r.
func isBinaryRPC(r *http.Request) bool {
	return r.Method == http.MethodPost && binaryContentTypes[mediaType(r)]
}

// writeError answers err on r's transport: connect-go's format for the
// binary protocols, the JSON API's otherwise. status overrides the code's
// HTTP status for refusals of the HTTP request itself (405, 408, 415); 0
// takes the table's.
func writeError(w http.ResponseWriter, r *http.Request, status int, err error) {
	if isBinaryRPC(r) {
		_ = connect.NewErrorWriter().Write(w, r, messages.ConnectError(err))
		return
	}
	writeJSONError(w, status, messages.ToProto(err))
}

// writeJSONError writes {"error": e} with the code's HTTP status (or
// status when non-zero), Retry-After on 503 and WWW-Authenticate on 401.
func writeJSONError(w http.ResponseWriter, status int, e *hearthv1.Error) {
	if status == 0 {
		status = messages.StatusOf(e.GetCode()).HTTP
	}
	inner, err := messages.MarshalJSON(e)
	if err != nil { // an Error always marshals; keep the contract if it did not
		inner = []byte(`{"code":"ERROR_CODE_UNAVAILABLE","message":"could not encode the error"}`)
	}
	var body bytes.Buffer
	body.WriteString(`{"error":`)
	body.Write(inner)
	body.WriteString("}\n")
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	switch status {
	case http.StatusServiceUnavailable:
		// Whole seconds, rounded up; retryAfterMs in the body is exact.
		h.Set("Retry-After", strconv.FormatInt((e.GetRetryAfterMs()+999)/1000, 10))
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="hearth"`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

func invalid(format string, args ...any) *messages.CodeError {
	return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, format, args...)
}
