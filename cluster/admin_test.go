package cluster

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/config"
)

// TestAdminDrainDrainsLikeSIGTERM: POST /admin/drain with the token makes
// Run drain and return as a signal does: a memory-acknowledged change (the
// autosave is far away) is saved, so a node started on the same store
// reads it; without the token, with the wrong one or with GET nothing
// happens.
func TestAdminDrainDrainsLikeSIGTERM(t *testing.T) {
	dir := t.TempDir()
	cfg := embeddedConfig(t, dir)
	cfg.Gateway.Token = "adm1n"
	cfg.Gateway.Tokens = []config.GatewayToken{{Name: "game-servers", Scope: "game", Secret: "g4me"}}
	cfg.Profiles.AutosaveInterval = time.Hour
	n := startNode(t, cfg)
	ran := make(chan error, 1)
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	go func() { ran <- n.Run(runCtx) }()
	base := "http://" + n.Addr()

	code, body := postJSON(t, base+"/hearth.v1.ProfileService/Update", "adm1n",
		`{"profile":{"namespace":"game","id":"p1"},"operations":[{"kind":"OPERATION_KIND_SET","path":"/coins","value":"7"}]}`)
	if code != 200 || !strings.Contains(body, `"durable":false`) {
		t.Fatalf("memory update: %d %s", code, body)
	}

	for _, tc := range []struct {
		method, token string
		want          int
	}{
		{http.MethodPost, "", http.StatusUnauthorized},
		{http.MethodPost, "wrong", http.StatusUnauthorized},
		{http.MethodPost, "g4me", http.StatusForbidden}, // a game server's token may not stop a node
		{http.MethodGet, "adm1n", http.StatusMethodNotAllowed},
		{http.MethodPost + "?node=another", "adm1n", http.StatusConflict},
	} {
		method, query, _ := strings.Cut(tc.method, "?")
		if query != "" {
			query = "?" + query
		}
		req, _ := http.NewRequest(method, base+AdminDrainPath+query, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s %s with token %q: %d, want %d", tc.method, AdminDrainPath, tc.token, res.StatusCode, tc.want)
		}
	}
	select {
	case err := <-ran:
		t.Fatalf("Run returned after refused drain requests: %v", err)
	default:
	}
	if r, err := http.Get(base + "/readyz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("still ready after refused requests: %v %v", r, err)
	}

	code, body = postJSON(t, base+AdminDrainPath+"?node="+n.ID(), "adm1n", "")
	if code != http.StatusAccepted || body != `{"node":"`+n.ID()+`","draining":true}` {
		t.Fatalf("drain: %d %s", code, body)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run after an admin drain: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after an admin drain")
	}
	if _, err := http.Get(base + "/readyz"); err == nil {
		t.Error("the gateway still answers after the drain finished")
	}

	n2 := startNode(t, embeddedConfig(t, dir))
	defer stopNode(t, n2)
	code, body = postJSON(t, "http://"+n2.Addr()+"/hearth.v1.ProfileService/Get", "", `{"profile":{"namespace":"game","id":"p1"},"path":"/coins"}`)
	if code != 200 || !strings.Contains(body, `"value":"7"`) {
		t.Fatalf("the drained node did not save the memory update: %d %s", code, body)
	}
}

// TestAdminDrainNeedsAToken: a node without gateway.token (loopback only)
// serves no admin endpoint.
func TestAdminDrainNeedsAToken(t *testing.T) {
	n := startNode(t, embeddedConfig(t, t.TempDir()))
	defer stopNode(t, n)
	code, _ := postJSON(t, "http://"+n.Addr()+AdminDrainPath, "", "")
	if code != http.StatusForbidden {
		t.Fatalf("drain on a node without a token: %d, want 403", code)
	}
	select {
	case <-n.drainRequested:
		t.Fatal("a refused request asked for a drain")
	default:
	}
}
