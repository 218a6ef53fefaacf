package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/internal/testenv/nodetest"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// TestNodeDrainAndNodesList runs two node processes in one Consul service.
// nodes list shows both live with their gateways, profiles and Consul
// registrations. node drain is refused without the token (the node keeps
// serving); with it the node drains as on SIGTERM: it saves every profile
// (memory-acknowledged changes included, the autosave being an hour away),
// releases them and its lease, and exits 0; the other node then serves
// those changes. Draining a node that is not live is refused.
func TestNodeDrainAndNodesList(t *testing.T) {
	e := newEnv(t)
	service := "hearthctl-" + strings.ToLower(t.Name())
	c := nodetest.Start(t, 0, nodetest.Options{DatabaseURL: e.db, ConsulAddr: consul.HTTPAddr(), Service: service,
		Token: testToken, Env: []string{"HEARTH_PROFILES__AUTOSAVE_INTERVAL=1h"}})
	a, b := c.Add("node-a"), c.Add("node-b")
	c.WaitMembers(2)

	// Memory updates through b: each lands on its owner, a or b.
	cb := clientAt(b.Gateway)
	ctx := context.Background()
	const profiles = 8
	for i := range profiles {
		_, err := cb.Update(ctx, &hearthv1.UpdateRequest{Profile: ref("game", fmt.Sprintf("p%d", i)),
			Operations: []*hearthv1.Operation{setOp("/coins", fmt.Sprint(i))}})
		if err != nil {
			t.Fatal(err)
		}
	}

	var list nodeList
	deadline := time.Now().Add(30 * time.Second)
	for {
		list = decodeJSON[nodeList](t, e.ctl("--json", "nodes", "list", "--consul", consul.HTTPAddr(), "--consul-service", service))
		if len(list.Nodes) == 2 && list.Nodes[0].Consul != nil && list.Nodes[1].Consul != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	owned := 0
	for i, want := range []*nodetest.Node{a, b} {
		n := list.Nodes[i]
		if n.ID != want.ID || n.State != "live" || n.Address != want.Gateway || n.Consul == nil || n.Consul.Status != "passing" || n.Consul.Node != want.ID {
			t.Errorf("node %s: %+v consul %+v", want.ID, n, n.Consul)
		}
		owned += n.Profiles
	}
	if owned != profiles || len(list.Unmatched) != 0 {
		t.Errorf("the nodes own %d profiles, want %d; unmatched %v", owned, profiles, list.Unmatched)
	}
	text := e.ctl("nodes", "list")
	wantCode(t, text, 0, "nodes list")
	if !strings.Contains(text.stdout, "node-a") || !strings.Contains(text.stdout, b.Gateway) {
		t.Errorf("nodes list table:\n%s", text)
	}

	// Refused: a wrong token, and a node id that does not match the address.
	r := e.ctl("--token", "wrong", "node", "drain", "node-b")
	wantCode(t, r, exitError, "drain with a wrong token")
	if !strings.Contains(r.stderr, "401") {
		t.Errorf("wrong token:\n%s", r)
	}
	r = e.ctl("node", "drain", "node-a", "--address", b.Gateway)
	wantCode(t, r, exitError, "drain of node-a at node-b's address")
	if !strings.Contains(r.stderr, "409") {
		t.Errorf("mismatched node id:\n%s", r)
	}
	if !ready(b.Gateway) {
		t.Fatalf("node-b is not ready after refused drains:\n%s", b.Logs())
	}

	r = e.ctl("--json", "node", "drain", "node-b")
	wantCode(t, r, 0, "drain node-b")
	res := decodeJSON[drainResult](t, r)
	if res.Node != "node-b" || res.Address != b.Gateway || !res.Finished {
		t.Errorf("drain: %+v", res)
	}
	if code, exited := b.ExitCode(30 * time.Second); !exited || code != 0 {
		t.Fatalf("node-b exited %v with %d after an admin drain:\n%s", exited, code, b.Logs())
	}
	if logs := b.Logs(); !strings.Contains(logs, "draining (admin request)") || !strings.Contains(logs, "drained") {
		t.Errorf("node-b's log does not show the drain:\n%s", logs)
	}
	if ready(b.Gateway) {
		t.Error("node-b still answers /readyz")
	}

	// Nothing lost: a serves every memory update.
	ca := clientAt(a.Gateway)
	for i := range profiles {
		got, err := ca.Get(ctx, &hearthv1.GetRequest{Profile: ref("game", fmt.Sprintf("p%d", i)), Path: "/coins"})
		if err != nil || got.GetValue() != fmt.Sprint(i) {
			t.Errorf("p%d after node-b's drain: %v %v", i, got.GetValue(), err)
		}
	}
	list = decodeJSON[nodeList](t, e.ctl("--json", "nodes", "list"))
	if len(list.Nodes) != 2 || list.Nodes[1].State != "released" || list.Nodes[1].Profiles != 0 || list.Nodes[0].Profiles != profiles {
		t.Errorf("after the drain: %+v", list.Nodes)
	}

	r = e.ctl("node", "drain", "node-b")
	wantCode(t, r, exitError, "drain of a released node")
	if !strings.Contains(r.stderr, "not live") {
		t.Errorf("released node:\n%s", r)
	}
	wantCode(t, e.ctl("node", "drain"), exitUsage, "drain without a node")
}
