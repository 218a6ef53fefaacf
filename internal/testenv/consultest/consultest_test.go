package consultest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/internal/testenv/consultest"
)

// consul is the agent shared by this package's tests. It is package-level
// because TestMain is the only once-per-binary hook; consultest.Main sets it
// before any test runs and tests only read it.
var consul *consultest.Agent

func TestMain(m *testing.M) { os.Exit(consultest.Main(m, &consul)) }

// do sends one request to the agent's HTTP API and returns status and body.
func do(t *testing.T, method, addr, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("build %s %s: %v", method, path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

func leader(t *testing.T, addr string) string {
	t.Helper()
	status, body := do(t, http.MethodGet, addr, "/v1/status/leader", "")
	if status != http.StatusOK {
		t.Fatalf("GET /v1/status/leader: %d %s", status, body)
	}
	var l string
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("decode leader %q: %v", body, err)
	}
	return l
}

func TestAgentHasLeader(t *testing.T) {
	if !strings.HasPrefix(consul.HTTPAddr(), "127.0.0.1:") && os.Getenv(consultest.EnvAddr) == "" {
		t.Fatalf("HTTPAddr() = %q, want 127.0.0.1:PORT", consul.HTTPAddr())
	}
	l := leader(t, consul.HTTPAddr())
	if l == "" {
		t.Fatal("agent reports no leader")
	}
	t.Logf("agent %s, leader %s", consul.HTTPAddr(), l)
}

func TestAgentServesKV(t *testing.T) {
	key := "/v1/kv/consultest/" + t.Name()
	if status, body := do(t, http.MethodPut, consul.HTTPAddr(), key, "hello"); status != http.StatusOK || body != "true" {
		t.Fatalf("PUT %s: %d %s", key, status, body)
	}
	if status, body := do(t, http.MethodGet, consul.HTTPAddr(), key+"?raw", ""); status != http.StatusOK || body != "hello" {
		t.Fatalf("GET %s: %d %q", key, status, body)
	}
}

func TestRestartKeepsAddressAndDropsState(t *testing.T) {
	if os.Getenv(consultest.EnvAddr) != "" {
		t.Skipf("%s is set, so this run may have no consul binary to start an agent of its own", consultest.EnvAddr)
	}
	// An agent of its own: restarting the shared one would break tests
	// running alongside.
	a, err := consultest.Start(t.Context(), consultest.Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer func() {
		if err := a.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()
	addr := a.HTTPAddr()
	key := "/v1/kv/restart-marker"
	if status, body := do(t, http.MethodPut, addr, key, "before"); status != http.StatusOK {
		t.Fatalf("PUT %s: %d %s", key, status, body)
	}
	before := leader(t, addr)

	began := time.Now()
	if err := a.Restart(t.Context()); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	t.Logf("restart took %v", time.Since(began))

	if a.HTTPAddr() != addr {
		t.Fatalf("HTTPAddr changed across Restart: %s -> %s", addr, a.HTTPAddr())
	}
	// Same server port, so the leader address is the same too.
	if after := leader(t, addr); after != before {
		t.Fatalf("leader after restart = %q, want %q", after, before)
	}
	if status, body := do(t, http.MethodGet, addr, key, ""); status != http.StatusNotFound {
		t.Fatalf("GET %s after restart: %d %s, want 404: state should be empty", key, status, body)
	}

	if err := a.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/status/leader", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("agent still answers after Stop")
	}
	if err := a.Restart(t.Context()); err == nil {
		t.Fatal("Restart after Stop succeeded")
	}
}

func TestExternalAgentFromEnv(t *testing.T) {
	t.Setenv(consultest.EnvAddr, consul.HTTPAddr())
	ext, err := consultest.Start(t.Context(), consultest.Options{})
	if err != nil {
		t.Fatalf("Start with %s set: %v", consultest.EnvAddr, err)
	}
	if ext.HTTPAddr() != consul.HTTPAddr() {
		t.Fatalf("HTTPAddr() = %s, want %s", ext.HTTPAddr(), consul.HTTPAddr())
	}
	err = ext.Restart(t.Context())
	if err == nil || !strings.Contains(err.Error(), "started by the harness") {
		t.Fatalf("Restart of an external agent: got %v, want an error saying it needs a harness-owned agent", err)
	}
	if err := ext.Stop(); err != nil {
		t.Fatalf("Stop of an external agent: %v", err)
	}
	// Stop must not have touched the external agent.
	if leader(t, consul.HTTPAddr()) == "" {
		t.Fatal("external agent lost its leader after Stop")
	}
}

func TestStartFailsFastOnUnreachableExternalAgent(t *testing.T) {
	// Nothing listens on port 1; Start must give up within its deadline
	// rather than hand back an agent that does not exist.
	t.Setenv(consultest.EnvAddr, "127.0.0.1:1")
	_, err := consultest.Start(t.Context(), consultest.Options{StartTimeout: 500 * time.Millisecond})
	if err == nil {
		t.Fatal("Start succeeded against 127.0.0.1:1")
	}
}

func TestStartReportsBadBinary(t *testing.T) {
	t.Setenv(consultest.EnvAddr, "") // an external agent would bypass Bin
	_, err := consultest.Start(t.Context(), consultest.Options{Bin: "/bin/false"})
	if err == nil {
		t.Fatal("Start with /bin/false as consul succeeded")
	}
	if !strings.Contains(err.Error(), "exited before it was ready") {
		t.Fatalf("error does not say the agent exited: %v", err)
	}
}
