package profile

import (
	"context"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// poll answers at once when there is news and otherwise when its short
// (real) deadline passes: the fixture's clock never moves by itself.
func poll(t *testing.T, n *node, cursors ...*hearthv1.EventCursor) []*hearthv1.ProfileEvents {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := n.host.PollEvents(ctx, &hearthv1.PollEventsRequest{Cursors: cursors, WaitMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetProfiles()
}

func kinds(evs []*hearthv1.WatchEvent) []hearthv1.WatchEventKind {
	var out []hearthv1.WatchEventKind
	for _, e := range evs {
		out = append(out, e.GetKind())
	}
	return out
}

// TestPollingFromAnAcquireMissesNothing: the cursor an Acquire hands out
// starts the events right after it, so a change made before the first poll
// is not lost; the version tells the poller it is current.
func TestPollingFromAnAcquireMissesNothing(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	n := f.node("n1", nil)
	r := ref("followed")
	a := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "s1"})
	mustOK(t, a)
	if a.GetEventCursor() == "" {
		t.Fatal("Acquire handed out no cursor")
	}
	// Another server changes the profile before the holder's first poll.
	mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Operations: []*hearthv1.Operation{set("/gift", `"sword"`)}}))
	p := poll(t, n, &hearthv1.EventCursor{Profile: r, Cursor: a.GetEventCursor()})[0]
	if got := kinds(p.GetEvents()); len(got) != 1 || got[0] != hearthv1.WatchEventKind_WATCH_EVENT_KIND_UPDATED || p.GetResync() {
		t.Fatalf("events after the acquire: %v (resync %v)", got, p.GetResync())
	}
	if p.GetVersion() != a.GetVersion()+1 {
		t.Fatalf("version as of the cursor %d, want %d", p.GetVersion(), a.GetVersion()+1)
	}
	// A Get's cursor works the same way.
	g := call[*hearthv1.GetResponse](t, n, &hearthv1.GetRequest{Profile: r})
	if q := poll(t, n, &hearthv1.EventCursor{Profile: r, Cursor: g.GetEventCursor()})[0]; len(q.GetEvents()) != 0 || q.GetResync() || q.GetVersion() != g.GetVersion() {
		t.Fatalf("poll right after a Get: %v", q)
	}
}

// TestPollingSeesTheEndOfAnActivation: a poller following a profile that
// passivates gets ENDED, then follows the next activation from its start
// with cursor "" and no resync.
func TestPollingSeesTheEndOfAnActivation(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	n := f.node("n1", nil)
	r := ref("ending")
	g := call[*hearthv1.GetResponse](t, n, &hearthv1.GetRequest{Profile: r})
	if codeOf(g) != codeNotFound {
		t.Fatalf("never written: %v", g)
	}
	mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Operations: []*hearthv1.Operation{set("/a", "1")}}))
	g = call[*hearthv1.GetResponse](t, n, &hearthv1.GetRequest{Profile: r})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.host.Passivate(ctx, r, "test"); err != nil {
		t.Fatal(err)
	}
	p := poll(t, n, &hearthv1.EventCursor{Profile: r, Cursor: g.GetEventCursor()})[0]
	if got := kinds(p.GetEvents()); len(got) != 1 || got[0] != hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED || p.GetResync() || p.GetLoaded() || p.GetCursor() != "" {
		t.Fatalf("after passivation: %v", p)
	}
	if q := poll(t, n, &hearthv1.EventCursor{Profile: r})[0]; q.GetResync() || q.GetLoaded() {
		t.Fatalf("following an unloaded profile from the start: %v", q)
	}
	// A cursor nobody can serve asks for a resync.
	if q := poll(t, n, &hearthv1.EventCursor{Profile: r, Cursor: "77.3"})[0]; !q.GetResync() {
		t.Fatalf("unknown cursor: %v", q)
	}
}

// TestRetriedReleaseIsAnsweredAsTheFirst: a Release whose answer was lost is
// retried with the same token and answered like the first.
func TestRetriedReleaseIsAnsweredAsTheFirst(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	n := f.node("n1", nil)
	r := ref("leaving")
	a := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "s1"})
	first := call[*hearthv1.ReleaseResponse](t, n, &hearthv1.ReleaseRequest{Profile: r, SessionToken: a.GetSessionToken()})
	mustOK(t, first)
	again := call[*hearthv1.ReleaseResponse](t, n, &hearthv1.ReleaseRequest{Profile: r, SessionToken: a.GetSessionToken()})
	mustOK(t, again)
	if again.GetSavedSeq() != first.GetSavedSeq() {
		t.Fatalf("retried release %v, first %v", again, first)
	}
	// Other stale tokens are still refused.
	if res := call[*hearthv1.ReleaseResponse](t, n, &hearthv1.ReleaseRequest{Profile: r, SessionToken: "made-up"}); codeOf(res) != codeStaleSession {
		t.Fatalf("made-up token: %v", res)
	}
}
