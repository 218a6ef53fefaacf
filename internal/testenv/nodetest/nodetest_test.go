package nodetest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/internal/testenv/consultest"
	"github.com/hearth-profiles/hearth/internal/testenv/pgtest"
)

var (
	consul *consultest.Agent
	pg     *pgtest.Server
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(consultest.Around(m, &consul), &pg)) }

func post(t *testing.T, base, method, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/hearth.v1.ProfileService/"+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(bytes.TrimSpace(out))
}

// TestTwoNodesServeEachOthersProfiles: Start brings up two real nodes that
// have joined one cluster: a write through one gateway reads back through
// the other, wherever the profile lives, and the token is required.
func TestTwoNodesServeEachOthersProfiles(t *testing.T) {
	c := Start(t, 2, Options{DatabaseURL: pg.NewDatabase(t), ConsulAddr: consul.HTTPAddr(), Token: "tok"})
	if len(c.Nodes) != 2 || len(c.URLs()) != 2 {
		t.Fatalf("nodes: %v", c.URLs())
	}
	for i := range 10 {
		ref := fmt.Sprintf(`{"namespace":"game","id":"p%d"}`, i)
		if status, out := post(t, c.Nodes[0].URL(), "Update",
			`{"profile":`+ref+`,"operations":[{"kind":"OPERATION_KIND_SET","path":"/n","value":"`+fmt.Sprint(i)+`"}],"durability":"DURABILITY_DURABLE"}`); status != http.StatusOK {
			t.Fatalf("update p%d: %d %s", i, status, out)
		}
		status, out := post(t, c.Nodes[1].URL(), "Get", `{"profile":`+ref+`,"path":"/n"}`)
		if status != http.StatusOK || !strings.Contains(out, fmt.Sprintf(`"value":"%d"`, i)) {
			t.Fatalf("get p%d through the other node: %d %s", i, status, out)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, c.Nodes[0].URL()+"/hearth.v1.ProfileService/Get", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a request without the token got %d", resp.StatusCode)
	}
	// Stopping a node is up to the test: SIGTERM drains and exits.
	if err := c.Nodes[1].Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if !c.Nodes[1].WaitExit(30 * time.Second) {
		t.Fatalf("node-2 did not exit:\n%s", c.Nodes[1].Logs())
	}
	if !strings.Contains(c.Nodes[1].Logs(), "drained") {
		t.Fatalf("node-2 did not drain:\n%s", c.Nodes[1].Logs())
	}
}
