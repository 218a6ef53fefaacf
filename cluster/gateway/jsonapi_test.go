package gateway

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

const ref = `"profile":{"namespace":"game","id":"p"}`

// TestJSONAnswers: a success is the response alone (no error field, zero
// values present); a failure is {"error": ...} with the code's HTTP
// status, whether the profile answered it in its response or the router
// could not deliver the request.
func TestJSONAnswers(t *testing.T) {
	router := &fakeRouter{answer: func(m proto.Message) (proto.Message, error) {
		switch r := m.(type) {
		case *hearthv1.UpdateRequest:
			return &hearthv1.UpdateResponse{Version: 3}, nil
		case *hearthv1.GetRequest:
			return &hearthv1.GetResponse{Error: &hearthv1.Error{Code: hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND, Message: "no such path", Path: r.GetPath(), OperationIndex: -1}}, nil
		case *hearthv1.AcquireRequest:
			return &hearthv1.AcquireResponse{Error: &hearthv1.Error{Code: hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT, HolderSession: "srv-1", RetryAfterMs: 2500}}, nil
		case *hearthv1.SaveRequest:
			e := messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node draining")
			e.RetryAfter = 1200 * time.Millisecond
			return nil, e
		}
		return emptyResponse(m), nil
	}}
	srv := server(t, router, Options{}, time.Second)

	a := postJSON(t, srv, "Update", "application/json", []byte(`{`+ref+`}`), nil)
	if a.status != 200 || a.body["version"] != "3" || a.body["durable"] != false || a.body["error"] != nil {
		t.Fatalf("success: %d %s", a.status, a.raw)
	}
	a = postJSON(t, srv, "Get", "application/json; charset=utf-8", []byte(`{`+ref+`,"path":"/x"}`), nil)
	checkErrorShape(t, a, 404, hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND)
	if a.errorField("path") != "/x" || a.errorField("message") == "" {
		t.Errorf("details lost: %s", a.raw)
	}
	a = postJSON(t, srv, "Acquire", "application/json", []byte(`{`+ref+`}`), nil)
	checkErrorShape(t, a, 409, hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT)
	if a.errorField("holderSession") != "srv-1" || a.errorField("retryAfterMs") != "2500" {
		t.Errorf("details lost: %s", a.raw)
	}
	a = postJSON(t, srv, "Save", "application/json", []byte(`{`+ref+`}`), nil)
	checkErrorShape(t, a, 503, hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE)
	if a.header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After %q, want 2 (1200 ms rounded up)", a.header.Get("Retry-After"))
	}
}

// TestJSONRefusals: malformed and hostile requests get their documented
// status and code, never reach a profile, and never a 500.
func TestJSONRefusals(t *testing.T) {
	router := &fakeRouter{}
	srv := server(t, router, Options{MaxBodyBytes: 1 << 16}, time.Second)
	big := `{` + ref + `,"path":"` + strings.Repeat("a", 1<<16) + `"}`
	cases := []struct {
		name        string
		method      string
		contentType string
		body        string
		status      int
		code        hearthv1.ErrorCode
		want        string
	}{
		{"misspelt field", "Update", "application/json", `{` + ref + `,"durabilty":"DURABILITY_DURABLE"}`, 400, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, `unknown field "durabilty"`},
		{"short enum", "Update", "application/json", `{` + ref + `,"durability":"DURABLE"}`, 400, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "DURABILITY_DURABLE"},
		{"enum number", "Update", "application/json", `{` + ref + `,"durability":7}`, 400, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "7 is not a Durability"},
		{"bad mode", "Acquire", "application/json", `{` + ref + `,"mode":"STEAL"}`, 400, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "ACQUIRE_MODE_STEAL"},
		{"misspelt path", "Get", "application/json", `{` + ref + `,"pth":"/coins"}`, 400, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, `"pth"`},
		{"wrong type", "Get", "application/json", `{"profile":["game","p"]}`, 400, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "want a JSON object"},
		{"not JSON", "Get", "application/json", `{"profile":`, 400, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "not valid JSON"},
		{"deep nesting", "Get", "application/json", strings.Repeat(`{"profile":`, 5000), 400, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, ""},
		{"form content type", "Get", "application/x-www-form-urlencoded", `{` + ref + `}`, 415, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "application/json"},
		{"no content type", "Get", "", `{` + ref + `}`, 415, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "application/json"},
		{"JSON streaming", "Watch", "application/connect+json", `{` + ref + `}`, 415, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "application/json"},
		{"Watch over JSON", "Watch", "application/json", `{` + ref + `}`, 415, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "PollEvents"},
		{"unknown method", "Steal", "application/json", `{}`, 404, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "methods: Acquire"},
		{"over the cap", "Get", "application/json", big, 413, hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE, "gateway.max_body_bytes"},
		{"unknown encoding", "Get", "application/json", `{}`, 415, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "Content-Encoding"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var header map[string]string
			if c.name == "unknown encoding" {
				header = map[string]string{"Content-Encoding": "br"}
			}
			a := postJSON(t, srv, c.method, c.contentType, []byte(c.body), header)
			checkErrorShape(t, a, c.status, c.code)
			if msg, _ := a.errorField("message").(string); !strings.Contains(msg, c.want) {
				t.Errorf("message %q lacks %q", msg, c.want)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/hearth.v1.ProfileService/Get", nil)
		a := do(t, srv.Client(), req)
		checkErrorShape(t, a, 405, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
		if a.header.Get("Allow") != "POST" {
			t.Errorf("Allow %q", a.header.Get("Allow"))
		}
	})
	if n := router.count(); n != 0 {
		t.Fatalf("%d refused requests reached the router", n)
	}
}

// TestBodyLimits: the cap holds whatever the framing (Content-Length,
// chunked, gzip) and is enforced as the bytes arrive; malformed chunked
// encoding and a stalled body get 4xx within a bound.
func TestBodyLimits(t *testing.T) {
	router := &fakeRouter{}
	const limit = 1 << 16
	srv := server(t, router, Options{MaxBodyBytes: limit}, 300*time.Millisecond)

	t.Run("chunked over the cap", func(t *testing.T) {
		// An endless body: only a reader that stops at the cap answers.
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hearth.v1.ProfileService/Get", io.MultiReader(strings.NewReader(`{"path":"`), endless{}))
		req.Header.Set("Content-Type", "application/json")
		checkErrorShape(t, do(t, srv.Client(), req), 413, hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE)
	})
	t.Run("gzip bomb", func(t *testing.T) {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		_, _ = zw.Write([]byte(`{"path":"`))
		_, _ = zw.Write(bytes.Repeat([]byte("a"), 50<<20))
		_ = zw.Close()
		if zb.Len() > limit {
			t.Fatalf("the bomb is %d bytes compressed", zb.Len())
		}
		a := postJSON(t, srv, "Get", "application/json", zb.Bytes(), map[string]string{"Content-Encoding": "gzip"})
		checkErrorShape(t, a, 413, hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE)
	})
	t.Run("gzip accepted", func(t *testing.T) {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		_, _ = zw.Write([]byte(`{` + ref + `}`))
		_ = zw.Close()
		a := postJSON(t, srv, "Get", "application/json", zb.Bytes(), map[string]string{"Content-Encoding": "gzip"})
		if a.status != 200 {
			t.Fatalf("%d %s", a.status, a.raw)
		}
	})
	before := router.count()
	t.Run("bad chunked encoding", func(t *testing.T) {
		status, body := raw(t, srv, "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 0)
		if status != 400 || !strings.Contains(body, "ERROR_CODE_INVALID_ARGUMENT") {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("stalled body", func(t *testing.T) {
		start := time.Now()
		status, body := raw(t, srv, "Content-Length: 100\r\n\r\n{\"profile\":", 5*time.Second)
		if status != 408 || !strings.Contains(body, "gateway.read_timeout") {
			t.Fatalf("%d %s", status, body)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("a stalled body held its request %v (read timeout 300ms)", took)
		}
	})
	if router.count() != before {
		t.Fatal("a malformed request reached the router")
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// raw sends a hand-written HTTP/1.1 request to Get (the headers after
// Content-Type, then the body, as given in rest) and returns the status
// and body; it waits up to hold for the answer (a stalled client keeps
// its connection open).
func raw(t *testing.T, srv *httptest.Server, rest string, hold time.Duration) (int, string) {
	t.Helper()
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if hold == 0 {
		hold = 5 * time.Second
	}
	_ = conn.SetDeadline(time.Now().Add(hold))
	if _, err := io.WriteString(conn, "POST /hearth.v1.ProfileService/Get HTTP/1.1\r\nHost: hearth\r\nContent-Type: application/json\r\n"+rest); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}
