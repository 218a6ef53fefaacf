package main

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// TestProfileCommands: get, status, history, get-version and restore read
// and change a profile through the gateway; delete and restore are
// refused while a session holds it, naming the session, until --force.
func TestProfileCommands(t *testing.T) {
	e := newEnv(t)
	e.node()
	e.write("game", "p1", `{"coins":1,"name":"ann"}`, "u-1")
	e.write("game", "p1", `{"coins":2,"name":"ann"}`)

	r := e.ctl("profile", "get", "game/p1")
	wantCode(t, r, 0, "get")
	if !strings.Contains(r.stdout, `"coins": 2`) || !strings.Contains(r.stdout, "game/p1 version 2") {
		t.Errorf("get:\n%s", r)
	}
	v := decodeJSON[profileValue](t, e.ctl("--json", "profile", "get", "game/p1", "--path", "/coins"))
	if string(v.Value) != "2" || v.Version != 2 || v.Profile != "game/p1" {
		t.Errorf("get --path --json: %+v", v)
	}

	st := decodeJSON[profileStatus](t, e.ctl("--json", "profile", "status", "game/p1"))
	if !st.Loaded || st.Node != e.node().ID() || st.SessionHolder != "" || !sameStrings(st.UserIDs, []string{"u-1"}) {
		t.Errorf("status: %+v", st)
	}

	hist := decodeJSON[[]versionInfo](t, e.ctl("--json", "profile", "history", "game/p1"))
	if len(hist) != 2 || hist[0].Seq <= hist[1].Seq {
		t.Fatalf("history (newest first): %+v", hist)
	}
	r = e.ctl("profile", "history", "game/p1")
	wantCode(t, r, 0, "history")
	if !strings.Contains(r.stdout, "SEQ") {
		t.Errorf("history table:\n%s", r)
	}
	first := hist[1].Seq
	r = e.ctl("--json", "profile", "get-version", "game/p1", itoa(first))
	wantCode(t, r, 0, "get-version")
	if !strings.Contains(r.stdout, `"coins": 1`) {
		t.Errorf("get-version of the first snapshot:\n%s", r)
	}

	// A session holds it: delete and restore are refused and say by whom.
	token := e.acquire("game", "p1", "eu-west:match-7")
	for _, argv := range [][]string{{"profile", "delete", "game/p1"}, {"profile", "restore", "game/p1", itoa(first)}} {
		r = e.ctl(argv...)
		wantCode(t, r, exitError, strings.Join(argv, " ")+" while held")
		if !strings.Contains(r.stderr, `session "eu-west:match-7" holds it`) || !strings.Contains(r.stderr, "--force") {
			t.Errorf("%v while held does not name the holder:\n%s", argv, r)
		}
	}
	r = e.ctl("--json", "profile", "delete", "game/p1")
	if je := decodeJSON[map[string]jsonError](t, r)["error"]; je.Code != "ERROR_CODE_SESSION_CONFLICT" || je.HolderSession != "eu-west:match-7" {
		t.Errorf("--json refusal: %+v", je)
	}
	if got, _ := e.doc("game", "p1"); got != `{"coins":2,"name":"ann"}` {
		t.Fatalf("a refused command changed the profile: %s", got)
	}

	// The holder's token works; --force works without it.
	wantCode(t, e.ctl("profile", "restore", "game/p1", itoa(first), "--session-token", token), 0, "restore with the token")
	if got, _ := e.doc("game", "p1"); got != `{"coins":1,"name":"ann"}` {
		t.Fatalf("after restore: %s", got)
	}
	wantCode(t, e.ctl("profile", "delete", "game/p1", "--force"), 0, "delete --force")
	r = e.ctl("profile", "get", "game/p1")
	wantCode(t, r, exitError, "get after delete")
	if !strings.Contains(r.stderr, "NOT_FOUND") {
		t.Errorf("get after delete:\n%s", r)
	}

	// Usage errors.
	wantCode(t, e.ctl("profile", "get", "p1"), exitUsage, "a profile without namespace")
	wantCode(t, e.ctl("profile", "get-version", "game/p1", "x"), exitUsage, "a bad seq")
}

// TestGatewayRefusesWithoutToken: the token matters (and is sent).
func TestGatewayRefusesWithoutToken(t *testing.T) {
	e := newEnv(t)
	e.write("game", "p1", `{}`)
	r := e.ctl("--token", "wrong", "profile", "get", "game/p1")
	wantCode(t, r, exitError, "get with a wrong token")
	if !strings.Contains(r.stderr, "UNAUTHENTICATED") {
		t.Errorf("wrong token:\n%s", r)
	}
}

func TestPurchasesList(t *testing.T) {
	e := newEnv(t)
	for _, receipt := range []string{"R-1", "R-2", "R-3"} {
		_, err := e.client().Purchase(context.Background(), &hearthv1.PurchaseRequest{Profile: ref("game", "p1"), ReceiptId: receipt,
			ProductId: "gems", Grant: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: "/gems", Value: "10"}},
			Metadata: `{"price":99}`})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := decodeJSON[[]purchase](t, e.ctl("--json", "purchases", "list", "game/p1", "--page-size", "2"))
	if len(got) != 3 || got[0].ReceiptID != "R-1" || got[2].ReceiptID != "R-3" || got[1].Metadata != `{"price":99}` {
		t.Errorf("purchases across pages: %+v", got)
	}
	r := e.ctl("purchases", "list", "game/p1")
	wantCode(t, r, 0, "purchases list")
	if strings.Count(r.stdout, "gems") != 3 {
		t.Errorf("purchases table:\n%s", r)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
