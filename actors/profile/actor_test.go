package profile

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

const (
	durable = hearthv1.Durability_DURABILITY_DURABLE
	memory  = hearthv1.Durability_DURABILITY_MEMORY
)

// getJSON reads a path and decodes it.
func getJSON(t *testing.T, n *node, r *hearthv1.ProfileRef, path string) any {
	t.Helper()
	res := call[*hearthv1.GetResponse](t, n, &hearthv1.GetRequest{Profile: r, Path: path})
	mustOK(t, res)
	var v any
	if err := json.Unmarshal([]byte(res.GetValue()), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// storedDoc reads the newest committed document straight from the store.
func storedDoc(t *testing.T, s persistence.Store, r *hearthv1.ProfileRef) map[string]any {
	t.Helper()
	vs, err := s.Versions(context.Background(), mustKey(t, r))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		return nil
	}
	snap, err := s.Version(context.Background(), mustKey(t, r), vs[0].Seq)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := activation.DecodeStored(snap.Document)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestMemoryUpdateIsAcknowledgedBeforeSave(t *testing.T) {
	eachStore(t, func(t *testing.T, k storeKind) {
		f := newFixture(t, k)
		n := f.node("n1", nil)
		r := ref("p1")
		f.store.hold() // no save can commit
		res := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Operations: []*hearthv1.Operation{incr("/coins", "5")}})
		mustOK(t, res)
		if res.GetDurable() || res.GetVersion() != 1 {
			t.Fatalf("memory update: %v", res)
		}
		if got := getJSON(t, n, r, "/coins"); got != float64(5) {
			t.Fatalf("coins = %v", got)
		}
		st := call[*hearthv1.StatusResponse](t, n, &hearthv1.StatusRequest{Profile: r})
		if !st.GetDirty() || st.GetSavedVersion() != 0 {
			t.Fatalf("status: %v", st)
		}
	})
}

// TestDurableUpdateWaitsForCommit proves the durable lane: the answer does
// not come while the store holds the save, comes after it commits, and a
// failing store answers UNAVAILABLE instead of acknowledging.
func TestDurableUpdateWaitsForCommit(t *testing.T) {
	eachStore(t, func(t *testing.T, k storeKind) {
		f := newFixture(t, k)
		n := f.node("n1", nil)
		r := ref("p1")
		call[*hearthv1.StatusResponse](t, n, &hearthv1.StatusRequest{Profile: r})

		gate := f.store.hold()
		ch := async(n, &hearthv1.UpdateRequest{Profile: r, Durability: durable, Operations: []*hearthv1.Operation{incr("/gems", "3")}})
		rows := f.store.nextSave(t)
		if len(rows) != 1 || rows[0].Key != mustKey(t, r) {
			t.Fatalf("save rows: %+v", rows)
		}
		select {
		case res := <-ch:
			t.Fatalf("durable update answered before its save committed: %v", res)
		default:
		}
		if doc := storedDoc(t, f.store, r); doc != nil {
			t.Fatalf("store already has %v", doc)
		}
		close(gate)
		res := receive[*hearthv1.UpdateResponse](t, ch)
		mustOK(t, res)
		if !res.GetDurable() {
			t.Fatalf("durable update not marked durable: %v", res)
		}
		if doc := storedDoc(t, f.store, r); doc["gems"] != float64(3) {
			t.Fatalf("store has %v after the durable ack", doc)
		}

		// A failing store: the durable update is not acknowledged; a memory
		// update still is.
		f.store.setFail(errStoreDown)
		f.store.mu.Lock()
		f.store.gate = nil
		f.store.mu.Unlock()
		bad := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Durability: durable, Operations: []*hearthv1.Operation{incr("/gems", "1")}})
		if codeOf(bad) != codeUnavailable || bad.GetDurable() {
			t.Fatalf("durable update on a failing store: %v", bad)
		}
		ok := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Operations: []*hearthv1.Operation{incr("/gems", "1")}})
		mustOK(t, ok)
		if doc := storedDoc(t, f.store, r); doc["gems"] != float64(3) {
			t.Fatalf("store changed while failing: %v", doc)
		}
		// The store recovers: a Save commits everything held in memory.
		f.store.setFail(nil)
		sv := call[*hearthv1.SaveResponse](t, n, &hearthv1.SaveRequest{Profile: r})
		mustOK(t, sv)
		if doc := storedDoc(t, f.store, r); doc["gems"] != float64(5) {
			t.Fatalf("store after recovery: %v", doc)
		}
	})
}

func TestPurchaseAppliedOnceAcrossRetriesAndReactivation(t *testing.T) {
	eachStore(t, func(t *testing.T, k storeKind) {
		f := newFixture(t, k)
		n := f.node("n1", nil)
		r := ref("buyer")
		buy := &hearthv1.PurchaseRequest{
			Profile: r, ReceiptId: "receipt-1", ProductId: "gems_100",
			Grant: []*hearthv1.Operation{incr("/gems", "100")}, Metadata: `{"store":"apple"}`,
		}
		first := call[*hearthv1.PurchaseResponse](t, n, buy)
		mustOK(t, first)
		if first.GetDuplicate() || first.GetPurchase().GetVersion() != 1 {
			t.Fatalf("first purchase: %v", first)
		}
		if doc := storedDoc(t, f.store, r); doc["gems"] != float64(100) {
			t.Fatalf("purchase answered before its grant was stored: %v", doc)
		}
		again := call[*hearthv1.PurchaseResponse](t, n, buy)
		mustOK(t, again)
		if !again.GetDuplicate() || again.GetPurchase().GetVersion() != 1 {
			t.Fatalf("retry: %v", again)
		}

		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := n.host.Passivate(ctx, r, "test"); err != nil {
			t.Fatal(err)
		}
		later := call[*hearthv1.PurchaseResponse](t, n, buy)
		mustOK(t, later)
		if !later.GetDuplicate() || later.GetPurchase().GetMetadata() != `{"store":"apple"}` {
			t.Fatalf("retry after reactivation: %v", later)
		}
		if got := getJSON(t, n, r, "/gems"); got != float64(100) {
			t.Fatalf("gems = %v, want 100 (granted once)", got)
		}
		list := call[*hearthv1.ListPurchasesResponse](t, n, &hearthv1.ListPurchasesRequest{Profile: r})
		mustOK(t, list)
		if len(list.GetPurchases()) != 1 || list.GetPurchases()[0].GetReceiptId() != "receipt-1" {
			t.Fatalf("purchase history: %v", list)
		}
		if got := testutil.ToFloat64(n.metrics.Duplicates); got != 2 {
			t.Fatalf("duplicates counted %v", got)
		}
	})
}

func TestIdempotentMemoryUpdateAppliesOnce(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	n := f.node("n1", nil)
	r := ref("p")
	req := &hearthv1.UpdateRequest{Profile: r, IdempotencyKey: "req-7", Operations: []*hearthv1.Operation{incr("/xp", "10")}}
	for i := range 3 {
		res := call[*hearthv1.UpdateResponse](t, n, req)
		mustOK(t, res)
		if res.GetVersion() != 1 || res.GetDuplicate() != (i > 0) {
			t.Fatalf("attempt %d: %v", i, res)
		}
	}
	// A durable repeat of a key first applied in memory waits for the save.
	res := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, IdempotencyKey: "req-7", Durability: durable, Operations: req.Operations})
	mustOK(t, res)
	if !res.GetDuplicate() || !res.GetDurable() {
		t.Fatalf("durable repeat: %v", res)
	}
	if doc := storedDoc(t, f.store, r); doc["xp"] != float64(10) {
		t.Fatalf("stored %v", doc)
	}
}

func TestSessionStealAndStaleToken(t *testing.T) {
	eachStore(t, func(t *testing.T, k storeKind) {
		f := newFixture(t, k)
		n := f.node("n1", nil)
		r := ref("player")
		a := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "server-a"})
		mustOK(t, a)
		w := f.watch(t, n, r)

		again := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "server-a"})
		if !again.GetReused() || again.GetSessionToken() != a.GetSessionToken() {
			t.Fatalf("re-acquire by the holder: %v", again)
		}
		conflict := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "server-b"})
		if codeOf(conflict) != codeSessionConflict || conflict.GetError().GetHolderSession() != "server-a" {
			t.Fatalf("fail mode: %v", conflict)
		}
		b := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "server-b", Mode: hearthv1.AcquireMode_ACQUIRE_MODE_STEAL})
		mustOK(t, b)
		if b.GetPreviousSession() != "server-a" || b.GetSessionToken() == a.GetSessionToken() {
			t.Fatalf("steal: %v", b)
		}
		ev := w.next(t, hearthv1.WatchEventKind_WATCH_EVENT_KIND_SESSION_STOLEN)
		if ev.GetSessionId() != "server-b" || ev.GetPreviousSession() != "server-a" {
			t.Fatalf("stolen event: %v", ev)
		}
		stale := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, SessionToken: a.GetSessionToken(), Operations: []*hearthv1.Operation{set("/name", `"old server"`)}})
		if codeOf(stale) != codeStaleSession {
			t.Fatalf("write with a stolen token: %v", stale)
		}
		ok := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, SessionToken: b.GetSessionToken(), Operations: []*hearthv1.Operation{set("/name", `"new server"`)}})
		mustOK(t, ok)
		if got := getJSON(t, n, r, "/name"); got != "new server" {
			t.Fatalf("name = %v", got)
		}
		// A change from another server (no session) reaches the holder
		// through Watch, with its operations.
		gift := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, IdempotencyKey: "gift-1", Operations: []*hearthv1.Operation{incr("/gifts", "1")}})
		mustOK(t, gift)
		upd := w.next(t, hearthv1.WatchEventKind_WATCH_EVENT_KIND_UPDATED)
		for upd.GetIdempotencyKey() == "" { // skip the holder's own update
			upd = w.next(t, hearthv1.WatchEventKind_WATCH_EVENT_KIND_UPDATED)
		}
		if upd.GetIdempotencyKey() != "gift-1" || upd.GetSessionId() != "" || upd.GetVersion() != gift.GetVersion() || len(upd.GetOperations()) != 1 || upd.GetOperations()[0].GetPath() != "/gifts" {
			t.Fatalf("cross-server update event: %v", upd)
		}
		// After release the token is stale too, and the release saved.
		rel := call[*hearthv1.ReleaseResponse](t, n, &hearthv1.ReleaseRequest{Profile: r, SessionToken: b.GetSessionToken()})
		mustOK(t, rel)
		if doc := storedDoc(t, f.store, r); doc["name"] != "new server" {
			t.Fatalf("release did not save: %v", doc)
		}
		after := call[*hearthv1.HeartbeatResponse](t, n, &hearthv1.HeartbeatRequest{Profile: r, SessionToken: b.GetSessionToken()})
		if codeOf(after) != codeStaleSession {
			t.Fatalf("heartbeat after release: %v", after)
		}
	})
}

// TestFencedActivationStopsWithoutWriting: another node takes the profile
// (this node's lease is gone); the next save is refused by the store, the
// activation stops at once, answers FENCED, counts it, and writes nothing.
func TestFencedActivationStopsWithoutWriting(t *testing.T) {
	eachStore(t, func(t *testing.T, k storeKind) {
		f := newFixture(t, k)
		n1 := f.node("n1", nil)
		r := ref("contested")
		first := call[*hearthv1.UpdateResponse](t, n1, &hearthv1.UpdateRequest{Profile: r, Durability: durable, Operations: []*hearthv1.Operation{set("/owner", `"n1"`)}})
		mustOK(t, first)

		// n1's lease ends (as if it had been partitioned away); n2 takes
		// over and saves its own document.
		ctx := context.Background()
		if err := f.store.ReleaseNode(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.RegisterNode(ctx, persistence.NodeInfo{ID: "n2"}, 3600e9); err != nil {
			t.Fatal(err)
		}
		acq, err := f.store.Acquire(ctx, "n2", mustKey(t, r))
		if err != nil {
			t.Fatal(err)
		}
		doc2, _ := activation.EncodeStored(5, []byte(`{"owner":"n2"}`))
		if _, err := f.store.Store.Save(ctx, "n2", []persistence.SaveRow{{Key: mustKey(t, r), Epoch: acq.Epoch, Seq: acq.Snapshot.Seq + 1, Document: doc2}}); err != nil {
			t.Fatal(err)
		}

		w := f.watch(t, n1, r)
		mem := call[*hearthv1.UpdateResponse](t, n1, &hearthv1.UpdateRequest{Profile: r, Operations: []*hearthv1.Operation{set("/owner", `"stale n1"`)}})
		mustOK(t, mem) // memory lane: accepted in memory, not yet written
		sv := call[*hearthv1.SaveResponse](t, n1, &hearthv1.SaveRequest{Profile: r})
		if codeOf(sv) != codeFenced {
			t.Fatalf("save after takeover: %v", sv)
		}
		ended := w.next(t, hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED)
		if ended.GetError().GetCode() != codeFenced {
			t.Fatalf("ended: %v", ended)
		}
		n1.stopped(t, r)
		if got := testutil.ToFloat64(n1.metrics.Fenced); got != 1 {
			t.Fatalf("fenced counter = %v", got)
		}
		if doc := storedDoc(t, f.store, r); doc["owner"] != "n2" {
			t.Fatalf("the stale owner overwrote the profile: %v", doc)
		}
	})
}

// TestSameNodeReactivationFencesItsPredecessor: the store lets a node
// re-acquire its own profile at once, with a new epoch. An activation of an
// older epoch on the same node (here: ownership retaken behind its back,
// as a restarted Host of the same incarnation would) must be fenced at its
// next save, count it, and write nothing.
func TestSameNodeReactivationFencesItsPredecessor(t *testing.T) {
	eachStore(t, func(t *testing.T, k storeKind) {
		f := newFixture(t, k)
		n := f.node("n1", nil)
		r := ref("twice")
		mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Durability: durable, Operations: []*hearthv1.Operation{set("/by", `"first"`)}}))
		first := call[*hearthv1.StatusResponse](t, n, &hearthv1.StatusRequest{Profile: r})

		// The same node incarnation takes the profile again: a new epoch.
		ctx := context.Background()
		acq, err := f.store.Acquire(ctx, "n1", mustKey(t, r))
		if err != nil {
			t.Fatal(err)
		}
		if acq.Epoch <= first.GetEpoch() || acq.PreviousOwner != "n1" {
			t.Fatalf("re-acquire: epoch %d (was %d), previous owner %q", acq.Epoch, first.GetEpoch(), acq.PreviousOwner)
		}
		doc, _ := activation.EncodeStored(1<<32, []byte(`{"by":"second"}`))
		if _, err := f.store.Store.Save(ctx, "n1", []persistence.SaveRow{{Key: mustKey(t, r), Epoch: acq.Epoch, Seq: acq.Snapshot.Seq + 1, Document: doc}}); err != nil {
			t.Fatal(err)
		}

		// The older activation's next save is refused: it stops, writes
		// nothing, and counts the fence.
		res := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Durability: durable, Operations: []*hearthv1.Operation{set("/by", `"stale"`)}})
		if codeOf(res) != codeFenced {
			t.Fatalf("the predecessor's durable write: %v", res)
		}
		n.stopped(t, r)
		if got := testutil.ToFloat64(n.metrics.Fenced); got != 1 {
			t.Fatalf("fenced counter = %v", got)
		}
		if doc := storedDoc(t, f.store, r); doc["by"] != "second" {
			t.Fatalf("the fenced activation overwrote the profile: %v", doc)
		}
	})
}
