package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/cluster/gateway"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// The wire contract at the edge, tried on real node processes the way a
// careless or hostile client would: each request must get its documented
// status and hearth code within a bound, and leave the node healthy and
// every profile and row as it was.

const wireToken = "s3cret"

// wireEnv is the nodes' edge configuration for these tests: a token, and
// a short body read timeout so a stalled client is cut off quickly.
var wireEnv = []string{"HEARTH_GATEWAY__TOKEN=" + wireToken, "HEARTH_GATEWAY__READ_TIMEOUT=1s"}

// edgeAnswer is what a raw HTTP exchange returned.
type edgeAnswer struct {
	status int
	code   string // error.code of the JSON body, "" on success
	body   string
	took   time.Duration
}

// exchange sends head (the request line and headers, ending in a blank
// line) and then body on a fresh connection to addr, and reads the answer
// within bound. The body is written concurrently: a server that answers
// early (413) must not need the client to finish sending first.
func exchange(t *testing.T, addr, head string, body io.Reader, bound time.Duration) edgeAnswer {
	t.Helper()
	a, err := tryExchange(addr, head, body, bound)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tryExchange is exchange for goroutines other than the test's.
func tryExchange(addr, head string, body io.Reader, bound time.Duration) (edgeAnswer, error) {
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return edgeAnswer{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(start.Add(bound))
	go func() {
		if _, err := io.WriteString(conn, head); err != nil {
			return
		}
		if body != nil {
			_, _ = io.Copy(conn, body) // fails once the server has answered and closed: fine
		}
	}()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return edgeAnswer{}, fmt.Errorf("no answer within %v: %w", bound, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return edgeAnswer{}, fmt.Errorf("reading the answer: %w", err)
	}
	a := edgeAnswer{status: res.StatusCode, body: string(raw), took: time.Since(start)}
	var eb struct {
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &eb); err != nil {
		return a, fmt.Errorf("status %d: the body is not JSON: %.300q", res.StatusCode, raw)
	}
	if eb.Error != nil {
		a.code = eb.Error.Code
	}
	return a, nil
}

// post is the head of a JSON POST to method with the given extra header
// lines (each ending in \r\n); auth is the Authorization value, "" for
// none.
func post(method, auth, extra string) string {
	h := "POST /hearth.v1.ProfileService/" + method + " HTTP/1.1\r\nHost: hearth\r\n" + extra
	if auth != "" {
		h += "Authorization: " + auth + "\r\n"
	}
	return h
}

// jsonBody is a complete JSON request: the head with Content-Type and
// Content-Length, and the body.
func jsonBody(method, auth, body string) (string, io.Reader) {
	return post(method, auth, "Content-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n") + "\r\n", strings.NewReader(body)
}

// bigValue is an Update of profile id setting /blob to a string of n bytes.
func bigValue(id string, n int) string {
	return `{"profile":{"namespace":"game","id":"` + id + `"},"operations":[{"kind":"OPERATION_KIND_SET","path":"/blob","value":"\"` +
		strings.Repeat("x", n) + `\""}],"durability":"DURABILITY_DURABLE"}`
}

// repeatReader yields s n times without holding it all.
func repeatReader(s string, n int) io.Reader {
	rs := make([]io.Reader, n)
	for i := range rs {
		rs[i] = strings.NewReader(s)
	}
	return io.MultiReader(rs...)
}

// edgeClient calls a gateway with the token.
type edgeClient struct {
	t    *testing.T
	addr string
}

func (e edgeClient) call(method, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.addr+"/hearth.v1.ProfileService/"+method, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+wireToken)
	c := &http.Client{Timeout: 20 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s: %v", method, err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		e.t.Fatalf("%s: %v", method, err)
	}
	return res.StatusCode, out
}

// version is the profile's document version, read with Get.
func (e edgeClient) version(id string) string {
	e.t.Helper()
	status, out := e.call("Get", `{"profile":{"namespace":"game","id":"`+id+`"},"path":"/n"}`)
	if status != 200 {
		e.t.Fatalf("Get %s: %d %v", id, status, out)
	}
	return fmt.Sprint(out["version"])
}

// healthy asserts the node answers /healthz and an ordinary read, and
// that the profile is still at version want.
func (e edgeClient) healthy(id, want string) {
	e.t.Helper()
	res, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + e.addr + "/healthz")
	if err != nil || res.StatusCode != 200 {
		e.t.Fatalf("/healthz: %v %v", res, err)
	}
	res.Body.Close()
	if got := e.version(id); got != want {
		e.t.Fatalf("profile %s is at version %s, was %s: a refused request changed it", id, got, want)
	}
}

// rowCounts counts the store's rows per table.
func rowCounts(t *testing.T, dbURL string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	out := map[string]int{}
	for _, table := range []string{"hearth_profiles", "hearth_snapshots", "hearth_records"} {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// rssBytes is a process's resident memory.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// hostileCase is one malformed or hostile request.
type hostileCase struct {
	name   string
	req    func() (string, io.Reader)
	status int
	code   hearthv1.ErrorCode // 0: success expected
	bound  time.Duration      // 0: 3 s
}

// hostileCases aims every case at profile id (which must exist): were any
// of them applied, its version would change.
func hostileCases(id string) []hostileCase {
	ref := `"profile":{"namespace":"game","id":"` + id + `"}`
	set := `"operations":[{"kind":"OPERATION_KIND_SET","path":"/hacked","value":"true"}]`
	bearer := "Bearer " + wireToken
	j := func(method, body string) func() (string, io.Reader) {
		return func() (string, io.Reader) { return jsonBody(method, bearer, body) }
	}
	const invalid = hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT
	return []hostileCase{
		{name: "misspelt durability field", req: j("Update", `{`+ref+`,`+set+`,"durabilty":"DURABILITY_DURABLE"}`), status: 400, code: invalid},
		{name: "short enum name", req: j("Update", `{`+ref+`,`+set+`,"durability":"DURABLE"}`), status: 400, code: invalid},
		{name: "made-up enum name", req: j("Update", `{`+ref+`,`+set+`,"durability":"DURABILITY_FOREVER"}`), status: 400, code: invalid},
		{name: "enum number", req: j("Update", `{`+ref+`,`+set+`,"durability":7}`), status: 400, code: invalid},
		{name: "unknown operation kind", req: j("Update", `{`+ref+`,"operations":[{"kind":"OPERATION_KIND_STEAL","path":"/hacked","value":"1"}]}`), status: 400, code: invalid},
		{name: "acquire mode STEAL", req: j("Acquire", `{`+ref+`,"sessionId":"thief","mode":"STEAL"}`), status: 400, code: invalid},
		{name: "misspelt path on Get", req: j("Get", `{`+ref+`,"pth":"/n"}`), status: 400, code: invalid},
		{name: "operations as an object", req: j("Update", `{`+ref+`,"operations":{"kind":"OPERATION_KIND_SET"}}`), status: 400, code: invalid},
		{name: "value as a number", req: j("Update", `{`+ref+`,"operations":[{"kind":"OPERATION_KIND_SET","path":"/hacked","value":5}]}`), status: 400, code: invalid},
		{name: "not JSON", req: j("Update", `{`+ref+`,`), status: 400, code: invalid},
		{name: "deep nesting in the request", req: func() (string, io.Reader) {
			return jsonBody("Update", bearer, strings.Repeat("[", 1<<20)+strings.Repeat("]", 1<<20))
		}, status: 400, code: invalid},
		{name: "deep nesting in a value", req: j("Update", `{`+ref+`,"operations":[{"kind":"OPERATION_KIND_SET","path":"/hacked","value":"`+
			strings.Repeat("[", 100000)+strings.Repeat("]", 100000)+`"}]}`), status: 413, code: hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE},
		{name: "50 MiB body by Content-Length", req: func() (string, io.Reader) {
			return post("Update", bearer, "Content-Type: application/json\r\nContent-Length: "+strconv.Itoa(50<<20)+"\r\n") + "\r\n",
				io.MultiReader(strings.NewReader(`{`+ref+`,"operations":[{"kind":"OPERATION_KIND_SET","path":"/b","value":"\"`), repeatReader(strings.Repeat("x", 1<<20), 50))
		}, status: 413, code: hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE},
		{name: "200 MiB chunked body", req: func() (string, io.Reader) {
			chunk := fmt.Sprintf("%x\r\n%s\r\n", 1<<20, strings.Repeat("x", 1<<20))
			return post("Update", bearer, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n") + "\r\n", repeatReader(chunk, 200)
		}, status: 413, code: hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE},
		{name: "bad chunked encoding", req: func() (string, io.Reader) {
			return post("Update", bearer, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n") + "\r\n", strings.NewReader("zz\r\n{}\r\n0\r\n\r\n")
		}, status: 400, code: invalid},
		{name: "half-sent body", req: func() (string, io.Reader) {
			return post("Update", bearer, "Content-Type: application/json\r\nContent-Length: 1000\r\n") + "\r\n", strings.NewReader(`{` + ref)
		}, status: 408, code: invalid, bound: 5 * time.Second},
		{name: "text/plain", req: func() (string, io.Reader) {
			b := `{` + ref + `,` + set + `}`
			return post("Update", bearer, "Content-Type: text/plain\r\nContent-Length: "+strconv.Itoa(len(b))+"\r\n") + "\r\n", strings.NewReader(b)
		}, status: 415, code: invalid},
		{name: "Watch over JSON", req: j("Watch", `{`+ref+`}`), status: 415, code: invalid},
		{name: "GET", req: func() (string, io.Reader) {
			return "GET /hearth.v1.ProfileService/Get HTTP/1.1\r\nHost: hearth\r\nAuthorization: " + bearer + "\r\n\r\n", nil
		}, status: 405, code: invalid},
		{name: "no token", req: func() (string, io.Reader) { return jsonBody("Update", "", `{`+ref+`,`+set+`}`) },
			status: 401, code: hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED},
		{name: "wrong token", req: func() (string, io.Reader) { return jsonBody("Update", "Bearer guess", `{`+ref+`,`+set+`}`) },
			status: 401, code: hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED},
		{name: "basic auth", req: func() (string, io.Reader) { return jsonBody("Update", "Basic "+wireToken, `{`+ref+`,`+set+`}`) },
			status: 401, code: hearthv1.ErrorCode_ERROR_CODE_UNAUTHENTICATED},
		{name: "lowercase bearer is accepted", req: func() (string, io.Reader) {
			return jsonBody("Get", "bearer "+wireToken, `{`+ref+`,"path":"/n"}`)
		}, status: 200},
	}
}

// runHostile sends every case to gateway and checks the answer, the bound
// and the node's health after it.
func runHostile(t *testing.T, gateway edgeClient, cases []hostileCase, id, version string) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bound := c.bound
			if bound == 0 {
				bound = 3 * time.Second
			}
			head, body := c.req()
			a := exchange(t, gateway.addr, head, body, bound)
			if a.status != c.status {
				t.Errorf("status %d, want %d: %.400s", a.status, c.status, a.body)
			}
			wantCode := ""
			if c.code != 0 {
				wantCode = c.code.String()
			}
			if a.code != wantCode {
				t.Errorf("code %q, want %q: %.400s", a.code, wantCode, a.body)
			}
			if a.took > bound {
				t.Errorf("answered after %v, bound %v", a.took, bound)
			}
			gateway.healthy(id, version)
		})
	}
}

// TestHostileRequestsSingleNode: every case against one node with the SQL
// store; nothing may change a profile or a row, and a flood of oversized
// bodies may not grow the node's memory.
func TestHostileRequestsSingleNode(t *testing.T) {
	c := newTestCluster(t)
	c.env = wireEnv
	n := c.start("node-a")
	c.waitMembers(1)
	g := edgeClient{t: t, addr: n.gateway}
	if status, out := g.call("Update", `{"profile":{"namespace":"game","id":"victim"},"operations":[{"kind":"OPERATION_KIND_INCREMENT","path":"/n","value":"1"}],"durability":"DURABILITY_DURABLE"}`); status != 200 {
		t.Fatalf("setup: %d %v", status, out)
	}
	version := g.version("victim")
	rows := rowCounts(t, c.dbURL)
	rss := rssBytes(t, n.cmd.Process.Pid)

	runHostile(t, g, hostileCases("victim"), "victim", version)
	// Reading profiles that were never written answers NOT_FOUND and
	// writes nothing (issue 9: 300 Gets made 300 rows): Get, Status and
	// history reads of 100 made-up ids.
	for i := range 100 {
		ref := fmt.Sprintf(`{"profile":{"namespace":"game","id":"nobody-%d"}`, i)
		for _, c := range []struct{ method, body string }{
			{"Get", ref + `,"path":"/n"}`}, {"Status", ref + `}`}, {"ListVersions", ref + `}`},
		} {
			status, out := g.call(c.method, c.body)
			if c.method == "Get" && (status != 404 || fmt.Sprint(out["error"]) == "<nil>") {
				t.Fatalf("Get of a profile never written: %d %v", status, out)
			}
			if status >= 500 {
				t.Fatalf("%s of a profile never written: %d %v", c.method, status, out)
			}
		}
	}

	if grown := rssBytes(t, n.cmd.Process.Pid) - rss; grown > 100<<20 {
		t.Errorf("the node's memory grew by %d MiB over the hostile requests", grown>>20)
	}
	if after := rowCounts(t, c.dbURL); fmt.Sprint(after) != fmt.Sprint(rows) {
		t.Errorf("rows changed: %v, were %v", after, rows)
	}
}

// TestHostileRequestsForwarded: the same edge on a two-node cluster, aimed
// at a profile the other node owns, plus the sizes that used to tear down
// the connection between the nodes: a value over the body cap (refused at
// the gateway), values under it but over the document limit (forwarded;
// refused by the owner), several at once (one gRPC batch between the
// nodes), and a request too large to forward sent by a cluster client.
// Afterwards the nodes still talk to each other and nothing changed.
func TestHostileRequestsForwarded(t *testing.T) {
	c := newTestCluster(t)
	c.env = wireEnv
	a, b := c.start("node-a"), c.start("node-b")
	c.waitMembers(2)
	ga, gb := edgeClient{t: t, addr: a.gateway}, edgeClient{t: t, addr: b.gateway}

	// A profile node-b owns, found by writing through node-a and asking
	// (once node-a's view of the members includes node-b).
	far := ""
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; far == ""; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no profile landed on node-b")
		}
		id := fmt.Sprint("far-", i)
		if status, out := ga.call("Update", `{"profile":{"namespace":"game","id":"`+id+`"},"operations":[{"kind":"OPERATION_KIND_INCREMENT","path":"/n","value":"1"}],"durability":"DURABILITY_DURABLE"}`); status != 200 {
			t.Fatalf("setup: %d %v", status, out)
		}
		if _, st := ga.call("Status", `{"profile":{"namespace":"game","id":"`+id+`"}}`); st["node"] == "node-b" {
			far = id
		}
		time.Sleep(20 * time.Millisecond)
	}
	version := ga.version(far)
	rows := rowCounts(t, c.dbURL)

	runHostile(t, ga, hostileCases(far), far, version)

	bearer := "Bearer " + wireToken
	tooLarge := hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE.String()
	for _, s := range []struct {
		name    string
		gateway edgeClient
		size    int
	}{
		// Under the body cap (8 MiB + 64 KiB), so forwarded: it once tore
		// down the connection between the nodes and hung for 20 s.
		{"8 MiB value to the non-owner", ga, 8 << 20},
		{"8 MiB value to the owner", gb, 8 << 20},
		{"9 MiB value (over the body cap) to the non-owner", ga, 9 << 20},
		{"6 MiB value to the non-owner (forwarded, over the document limit)", ga, 6 << 20},
		{"6 MiB value to the owner", gb, 6 << 20},
	} {
		t.Run(s.name, func(t *testing.T) {
			head, body := jsonBody("Update", bearer, bigValue(far, s.size))
			got := exchange(t, s.gateway.addr, head, body, 10*time.Second)
			if got.status != 413 || got.code != tooLarge {
				t.Errorf("%d %.300s", got.status, got.body)
			}
			ga.healthy(far, version)
			gb.healthy(far, version)
		})
	}
	t.Run("four 6 MiB values at once to the non-owner", func(t *testing.T) {
		var wg sync.WaitGroup
		answers := make([]edgeAnswer, 4)
		errs := make([]error, 4)
		for i := range answers {
			wg.Go(func() {
				head, body := jsonBody("Update", bearer, bigValue(far, 6<<20))
				answers[i], errs[i] = tryExchange(ga.addr, head, body, 20*time.Second)
			})
		}
		wg.Wait()
		for i, got := range answers {
			if errs[i] != nil || got.status != 413 || got.code != tooLarge {
				t.Errorf("request %d: %v %d %.300s", i, errs[i], got.status, got.body)
			}
		}
		ga.healthy(far, version)
	})
	t.Run("cluster client over its forwarding limit", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A 1 MiB forwarding limit, so a 2 MiB value (which the owner
		// would accept: it is under the document limit) must be refused
		// by the size check, before it is sent.
		conn := dialUntilMembers(t, ctx, ClientConfig{ConsulAddress: consul.HTTPAddr(), Service: c.service, MaxRequestBytes: 1 << 20}, 2)
		defer conn.Close()
		ref := &hearthv1.ProfileRef{Namespace: "game", Id: far}
		start := time.Now()
		res, err := conn.Request(ctx, &hearthv1.UpdateRequest{Profile: ref, Operations: []*hearthv1.Operation{
			{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/blob", Value: `"` + strings.Repeat("x", 2<<20) + `"`}}})
		if err == nil {
			err = messages.Err(res.(*hearthv1.UpdateResponse).GetError())
		}
		if !errors.Is(err, messages.ErrTooLarge) || time.Since(start) > 2*time.Second {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
		res, err = conn.Request(ctx, &hearthv1.GetRequest{Profile: ref, Path: "/n"})
		if err != nil || res.(*hearthv1.GetResponse).GetError() != nil {
			t.Fatalf("the next request: %v %v", res, err)
		}
	})
	if after := rowCounts(t, c.dbURL); fmt.Sprint(after) != fmt.Sprint(rows) {
		t.Errorf("rows changed: %v, were %v", after, rows)
	}
	// The connection between the nodes was never torn down (the cluster
	// client's own, closed at its end, does not count).
	for _, pair := range [][2]*proc{{a, b}, {b, a}} {
		if line := linkBroken(pair[0], remoteAddr(t, pair[1])); line != "" {
			t.Errorf("%s's connection to %s broke: %s", pair[0].id, pair[1].id, line)
		}
	}
	// And an ordinary write still crosses it.
	if status, out := ga.call("Update", `{"profile":{"namespace":"game","id":"`+far+`"},"operations":[{"kind":"OPERATION_KIND_INCREMENT","path":"/n","value":"1"}]}`); status != 200 {
		t.Fatalf("a normal forwarded write: %d %v", status, out)
	}
}

// remoteAddr is the address p's actor remote listens on, from its log.
func remoteAddr(t *testing.T, p *proc) string {
	t.Helper()
	for _, line := range strings.Split(p.logs(), "\n") {
		if strings.Contains(line, `msg="Starting remote with address"`) {
			if _, addr, ok := strings.Cut(line, " address="); ok {
				return strings.Fields(addr)[0]
			}
		}
	}
	t.Fatalf("%s logged no remote address", p.id)
	return ""
}

// linkBroken returns the log line in which p lost its connection to the
// remote at addr, or "".
func linkBroken(p *proc, addr string) string {
	for _, line := range strings.Split(p.logs(), "\n") {
		if strings.Contains(line, "address="+addr) && (strings.Contains(line, "lost connection") || strings.Contains(line, "Failed to send")) {
			return line
		}
	}
	return ""
}

// TestWriterBatchFitsTheRemoteLimit: a full batch of the largest requests
// a node forwards fits in one gRPC message between nodes.
func TestWriterBatchFitsTheRemoteLimit(t *testing.T) {
	for _, maxForward := range []int{0, 1, 1 << 10, 64 << 10, 1 << 20, gateway.DefaultMaxBodyBytes, 64 << 20, 1 << 30, 4 << 30} {
		n := writerBatch(maxForward)
		if n < 1 || n > maxWriterBatch {
			t.Errorf("maxForward %d: batch %d", maxForward, n)
		}
		if maxForward > 0 && maxForward < remoteMessageLimit && int64(n)*int64(maxForward+1<<10) > remoteMessageLimit {
			t.Errorf("maxForward %d: %d of them are over the remote's limit", maxForward, n)
		}
	}
}
