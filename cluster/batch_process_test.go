package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// TestBatchAndPollAcrossNodes: one Batch through one gateway reaches
// profiles owned by both nodes (one forward per owner), and one long poll
// through that gateway returns a change made through the other gateway to
// a profile the other node owns.
func TestBatchAndPollAcrossNodes(t *testing.T) {
	c := newTestCluster(t)
	a, b := c.start("node-a"), c.start("node-b")
	c.waitMembers(2)
	ca, cb := a.client(), b.client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("x-%02d", i))
	}
	res, err := ca.Batch(ctx, connect.NewRequest(&hearthv1.BatchRequest{Items: append(batchItems(ids...), badItem)}))
	if err != nil {
		t.Fatal(err)
	}
	checkBatch(t, res.Msg, len(ids))
	owners := map[string]int{}
	var cursors []*hearthv1.EventCursor
	for _, id := range ids {
		ref := &hearthv1.ProfileRef{Namespace: "game", Id: id}
		st, err := ca.Status(ctx, connect.NewRequest(&hearthv1.StatusRequest{Profile: ref}))
		if err != nil {
			t.Fatal(err)
		}
		owners[st.Msg.GetNode()]++
		cursors = append(cursors, &hearthv1.EventCursor{Profile: ref})
	}
	if len(owners) != 2 {
		t.Fatalf("the batch's profiles are loaded on %v; want both nodes", owners)
	}

	poll := func(waitMs uint32) *hearthv1.PollEventsResponse {
		t.Helper()
		r, err := ca.PollEvents(ctx, connect.NewRequest(&hearthv1.PollEventsRequest{Cursors: cursors, WaitMs: waitMs}))
		if err != nil {
			t.Fatal(err)
		}
		return r.Msg
	}
	for i, p := range poll(1).GetProfiles() {
		if !p.GetLoaded() || p.GetCursor() == "" {
			t.Fatalf("%s: %v", ids[i], p)
		}
		cursors[i].Cursor = p.GetCursor()
	}
	// Change every profile through the other gateway; a poll through the
	// first sees the events, whichever node owns each profile.
	done := make(chan *hearthv1.PollEventsResponse, 1)
	go func() { done <- poll(20000) }()
	var items []*hearthv1.BatchItem
	for _, cur := range cursors {
		items = append(items, &hearthv1.BatchItem{Request: &hearthv1.BatchItem_Update{Update: &hearthv1.UpdateRequest{Profile: cur.Profile,
			Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/gift", Value: `"sword"`}}}}})
	}
	if _, err := cb.Batch(ctx, connect.NewRequest(&hearthv1.BatchRequest{Items: items})); err != nil {
		t.Fatal(err)
	}
	got := <-done
	seen := 0
	for _, p := range got.GetProfiles() {
		seen += len(p.GetEvents())
	}
	if seen == 0 {
		t.Fatalf("the poll ended without events: %v", got)
	}
	// Whatever the first poll missed, the next one (from its cursors) has:
	// every profile's UPDATED event arrives exactly once over the polls.
	counts := map[string]int{}
	for round := 0; round < 10; round++ {
		for i, p := range got.GetProfiles() {
			for _, ev := range p.GetEvents() {
				if ev.GetKind() == hearthv1.WatchEventKind_WATCH_EVENT_KIND_UPDATED {
					counts[ids[i]]++
				}
			}
			if p.GetResync() {
				t.Fatalf("%s asked to resync", ids[i])
			}
			cursors[i].Cursor = p.GetCursor()
		}
		if len(counts) == len(ids) {
			break
		}
		got = poll(2000)
	}
	for _, id := range ids {
		if counts[id] != 1 {
			t.Fatalf("UPDATED events per profile: %v", counts)
		}
	}
}
