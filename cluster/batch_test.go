package cluster

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

func batchItems(ids ...string) []*hearthv1.BatchItem {
	var items []*hearthv1.BatchItem
	for _, id := range ids {
		ref := &hearthv1.ProfileRef{Namespace: "game", Id: id}
		items = append(items,
			&hearthv1.BatchItem{Request: &hearthv1.BatchItem_Acquire{Acquire: &hearthv1.AcquireRequest{Profile: ref, SessionId: "server-1"}}},
			&hearthv1.BatchItem{Request: &hearthv1.BatchItem_Update{Update: &hearthv1.UpdateRequest{Profile: ref, Operations: []*hearthv1.Operation{
				{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: "/coins", Value: "5"}}}}},
			&hearthv1.BatchItem{Request: &hearthv1.BatchItem_Get{Get: &hearthv1.GetRequest{Profile: ref, Path: "/coins"}}},
		)
	}
	return items
}

// checkBatch asserts a batch built by batchItems answered every item in
// order: each profile acquired, incremented and read back.
func checkBatch(t *testing.T, res *hearthv1.BatchResponse, profiles int) {
	t.Helper()
	if len(res.GetResults()) != 3*profiles+1 {
		t.Fatalf("%d results for %d items", len(res.GetResults()), 3*profiles+1)
	}
	for p := range profiles {
		a, u, g := res.GetResults()[3*p].GetAcquire(), res.GetResults()[3*p+1].GetUpdate(), res.GetResults()[3*p+2].GetGet()
		if a.GetSessionToken() == "" || u.GetError() != nil || g.GetValue() != "5" {
			t.Fatalf("profile %d: acquire %v, update %v, get %v", p, a, u, g)
		}
	}
	if last := res.GetResults()[3*profiles].GetGet(); last.GetError().GetCode() != hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
		t.Fatalf("a bad item must fail alone: %v", last)
	}
}

// badItem names an invalid profile: it fails alone.
var badItem = &hearthv1.BatchItem{Request: &hearthv1.BatchItem_Get{Get: &hearthv1.GetRequest{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: "no spaces allowed"}}}}

// TestBatchAndPollOnOneNode: Batch answers every item in order, a bad item
// failing alone; PollEvents returns another server's change and waits when
// there is none.
func TestBatchAndPollOnOneNode(t *testing.T) {
	n := startNode(t, embeddedConfig(t, t.TempDir()))
	defer stopNode(t, n)
	c := hearthv1connect.NewProfileServiceClient(http.DefaultClient, "http://"+n.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids := []string{"b1", "b2", "b3"}
	res, err := c.Batch(ctx, connect.NewRequest(&hearthv1.BatchRequest{Items: append(batchItems(ids...), badItem)}))
	if err != nil {
		t.Fatal(err)
	}
	checkBatch(t, res.Msg, len(ids))

	pollAll := func(cursors []*hearthv1.EventCursor, waitMs uint32) *hearthv1.PollEventsResponse {
		t.Helper()
		r, err := c.PollEvents(ctx, connect.NewRequest(&hearthv1.PollEventsRequest{Cursors: cursors, WaitMs: waitMs}))
		if err != nil {
			t.Fatal(err)
		}
		return r.Msg
	}
	var cursors []*hearthv1.EventCursor
	for _, id := range ids {
		cursors = append(cursors, &hearthv1.EventCursor{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: id}})
	}
	first := pollAll(cursors, 1)
	for i, p := range first.GetProfiles() {
		if !p.GetLoaded() || p.GetCursor() == "" || p.GetResync() {
			t.Fatalf("first poll of %s: %v", ids[i], p)
		}
		cursors[i].Cursor = p.GetCursor()
	}
	// Nothing new: the poll waits its full time.
	start := time.Now()
	if quiet := pollAll(cursors, 300); hasNews(quiet, nil) || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("a quiet poll answered %v after %v", quiet, time.Since(start))
	}
	// A change by another server ends a waiting poll with the event.
	done := make(chan *hearthv1.PollEventsResponse, 1)
	go func() { done <- pollAll(cursors, 20000) }()
	for n.Host().PollsWaiting() == 0 { // the change must wake a waiting poll
		if ctx.Err() != nil {
			t.Fatal("the poll never waited")
		}
		runtime.Gosched()
	}
	if _, err := c.Update(ctx, connect.NewRequest(&hearthv1.UpdateRequest{Profile: cursors[1].Profile,
		Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/gift", Value: `"sword"`}}})); err != nil {
		t.Fatal(err)
	}
	var got *hearthv1.PollEventsResponse
	select {
	case got = <-done:
	case <-ctx.Done():
		t.Fatal("the poll did not end on a change")
	}
	evs := got.GetProfiles()[1].GetEvents()
	if len(evs) != 1 || evs[0].GetKind() != hearthv1.WatchEventKind_WATCH_EVENT_KIND_UPDATED || evs[0].GetOperations()[0].GetValue() != `"sword"` {
		t.Fatalf("events of b2: %v", got.GetProfiles()[1])
	}
	if len(got.GetProfiles()[0].GetEvents()) != 0 || got.GetProfiles()[0].GetCursor() != cursors[0].Cursor {
		t.Fatalf("b1 had no news: %v", got.GetProfiles()[0])
	}
	// A cursor from an activation that is gone asks for a resync.
	stale := []*hearthv1.EventCursor{{Profile: cursors[0].Profile, Cursor: "999.3"}}
	if p := pollAll(stale, 1).GetProfiles()[0]; !p.GetResync() {
		t.Fatalf("stale cursor: %v", p)
	}
}
