package profile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/actors/migration"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// seed writes a stored profile as an older node would have left it.
func seed(t *testing.T, f *fixture, r *hearthv1.ProfileRef, schema int64, doc string) {
	t.Helper()
	ctx := context.Background()
	old := "old-node-" + r.GetId()
	if _, err := f.store.RegisterNode(ctx, persistence.NodeInfo{ID: old}, time.Hour); err != nil {
		t.Fatal(err)
	}
	acq, err := f.store.Acquire(ctx, old, mustKey(t, r))
	if err != nil {
		t.Fatal(err)
	}
	env, err := activation.EncodeStored(7, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.store.Store.Save(ctx, old, []persistence.SaveRow{{
		Key: mustKey(t, r), Epoch: acq.Epoch, Seq: 1, SchemaVersion: schema, Document: env, Release: true,
	}})
	if err != nil || res[0].Outcome != persistence.SaveSaved {
		t.Fatalf("seed: %v %v", res, err)
	}
}

func TestMigrationAndReconcileOnLoad(t *testing.T) {
	eachStore(t, func(t *testing.T, k storeKind) {
		f := newFixture(t, k)
		plan, err := migration.NewPlan([]migration.Step{
			{Version: 2, Actions: []migration.Action{{Kind: "rename", Path: "/gold", To: "coins"}}},
			{Version: 3, Func: func(doc any) (any, error) {
				return document.Apply(doc, []document.Op{{Kind: document.OpIncrement, Path: "/coins", Value: json.Number("1000")}}, document.Limits{})
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		template, _ := document.Decode([]byte(`{"coins":0,"level":1,"settings":{"music":true,"sfx":true}}`))
		n := f.node("n1", func(c *Config) {
			c.Namespaces = map[string]Namespace{"game": {Template: template, Migrations: plan}}
			c.AllowUnknownNamespaces = false
		})
		r := ref("veteran")
		seed(t, f, r, 1, `{"gold":5,"level":9,"settings":{"music":false}}`)

		a := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "s"})
		mustOK(t, a)
		var doc map[string]any
		if err := json.Unmarshal([]byte(a.GetDocument()), &doc); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"coins": float64(1005), "level": float64(9), "settings": map[string]any{"music": false, "sfx": true}}
		if !document.Equal(toNumbers(doc), toNumbers(want)) {
			t.Fatalf("loaded %v, want %v", doc, want)
		}
		if a.GetSchemaVersion() != 3 || a.GetVersion() != 8 {
			t.Fatalf("schema %d version %d", a.GetSchemaVersion(), a.GetVersion())
		}
		// The migrated document is saved at the new schema.
		sv := call[*hearthv1.SaveResponse](t, n, &hearthv1.SaveRequest{Profile: r})
		mustOK(t, sv)
		vs, err := f.store.Versions(context.Background(), mustKey(t, r))
		if err != nil || vs[0].SchemaVersion != 3 {
			t.Fatalf("versions %v %v", vs, err)
		}

		// A profile from a newer schema is refused, not downgraded.
		newer := ref("from-the-future")
		seed(t, f, newer, 9, `{"coins":1}`)
		g := call[*hearthv1.GetResponse](t, n, &hearthv1.GetRequest{Profile: newer})
		if codeOf(g) != codeSchemaTooNew {
			t.Fatalf("newer schema: %v", g)
		}
		// Unknown namespaces are refused when the node is configured strictly.
		_, err = n.host.Request(context.Background(), &hearthv1.GetRequest{Profile: &hearthv1.ProfileRef{Namespace: "other", Id: "x"}})
		if !errors.Is(err, messages.ErrInvalidArgument) {
			t.Fatalf("unknown namespace: %v", err)
		}
	})
}

// toNumbers re-decodes a value so numbers compare as json.Number.
func toNumbers(v any) any {
	b, _ := json.Marshal(v)
	out, _ := document.Decode(b)
	return out
}

// holdFor makes node old hold r with a live lease and a saved snapshot.
func holdFor(t *testing.T, f *fixture, old string, r *hearthv1.ProfileRef) persistence.Acquired {
	t.Helper()
	ctx := context.Background()
	if _, err := f.store.RegisterNode(ctx, persistence.NodeInfo{ID: old}, time.Hour); err != nil {
		t.Fatal(err)
	}
	acq, err := f.store.Acquire(ctx, old, mustKey(t, r))
	if err != nil {
		t.Fatal(err)
	}
	env, _ := activation.EncodeStored(2, []byte(`{"saved_by":"old","at":1}`))
	if _, err := f.store.Store.Save(ctx, old, []persistence.SaveRow{{Key: mustKey(t, r), Epoch: acq.Epoch, Seq: 1, Document: env}}); err != nil {
		t.Fatal(err)
	}
	return acq
}

// waitingOnStore waits until n's activation asked the store at least asks
// times and has scheduled its next ask (it is waiting, not asking).
func waitingOnStore(t *testing.T, f *fixture, n *node, asks int64) {
	t.Helper()
	until(t, "the activation waits for the previous owner", func() bool {
		return f.store.acquires.Load() >= asks && n.host.sched.len() == 1
	})
}

// TestActivationWaitsForPreviousOwner: while another node holds the profile
// with a live lease, the activation does not read it; told of the release
// (handoff by notification) it loads at once, with no poll.
func TestActivationWaitsForPreviousOwner(t *testing.T) {
	for _, notify := range []bool{true, false} {
		name := map[bool]string{true: "notified", false: "fallback poll"}[notify]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, storeKinds()[0])
			ctx := context.Background()
			r := ref("moving")
			acq := holdFor(t, f, "old", r)
			n := f.node("n1", nil)
			ch := async(n, &hearthv1.GetRequest{Profile: r})
			waitingOnStore(t, f, n, 1)
			select {
			case res := <-ch:
				t.Fatalf("answered while another node held the profile: %v", res)
			default:
			}
			env, _ := activation.EncodeStored(3, []byte(`{"saved_by":"old"}`))
			if _, err := f.store.Store.Save(ctx, "old", []persistence.SaveRow{{Key: mustKey(t, r), Epoch: acq.Epoch, Seq: 2, Document: env, Release: true}}); err != nil {
				t.Fatal(err)
			}
			if notify {
				n.host.NotifyReleased(mustKey(t, r)) // the clock does not move
			} else {
				f.clock.Advance(n.host.Config().Timing.HandoffPoll)
			}
			res := receive[*hearthv1.GetResponse](t, ch)
			mustOK(t, res)
			if res.GetValue() != `{"saved_by":"old"}` || res.GetVersion() != 3 {
				t.Fatalf("loaded %s v%d", res.GetValue(), res.GetVersion())
			}
		})
	}
}

func TestActivationGivesUpAfterActivationWait(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	r := ref("stuck")
	holdFor(t, f, "old", r)
	n := f.node("n1", func(c *Config) { c.Timing.ActivationWait = time.Second })
	ch := async(n, &hearthv1.GetRequest{Profile: r})
	for i := int64(1); i <= 2; i++ {
		waitingOnStore(t, f, n, i)
		f.clock.Advance(n.host.Config().Timing.HandoffPoll)
	}
	res := receive[*hearthv1.GetResponse](t, ch)
	if codeOf(res) != codeUnavailable || res.GetError().GetRetryAfterMs() <= 0 {
		t.Fatalf("after the activation wait: %v", res)
	}
}

// TestAWaitingActivationCanBeDrained: an activation waiting for another
// node blocks nothing: a drain stops it at once.
func TestAWaitingActivationCanBeDrained(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	r := ref("waiting")
	holdFor(t, f, "old", r)
	n := f.node("n1", nil)
	ch := async(n, &hearthv1.GetRequest{Profile: r})
	waitingOnStore(t, f, n, 1)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.host.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	res := <-ch
	if e, ok := res.(*hearthv1.Error); !ok || e.GetCode() != codeUnavailable {
		t.Fatalf("request of a drained waiting activation: %v", res)
	}
}

func TestAutosaveAndIdlePassivation(t *testing.T) {
	eachStore(t, func(t *testing.T, k storeKind) {
		f := newFixture(t, k)
		n := f.node("n1", nil)
		r := ref("idler")
		mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Operations: []*hearthv1.Operation{set("/a", "1")}}))
		w := f.watch(t, n, r)

		// Autosave: within interval plus jitter.
		f.clock.Advance(33 * time.Second)
		rows := f.store.nextSave(t)
		if rows[0].Release {
			t.Fatal("autosave released ownership")
		}
		for {
			if st := call[*hearthv1.StatusResponse](t, n, &hearthv1.StatusRequest{Profile: r}); !st.GetDirty() {
				break
			}
		}
		// Idle: 5 minutes without requests (Status does not count, nor do
		// timer ticks) passivates, saving and releasing.
		for range 10 {
			f.clock.Advance(30 * time.Second)
		}
		w.next(t, hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED)
		n.stopped(t, r)
		h, err := f.store.Holder(context.Background(), mustKey(t, r))
		if err != nil || h.Node != "" {
			t.Fatalf("holder after idle passivation: %+v %v", h, err)
		}
		if got := testutil.ToFloat64(n.metrics.Passivations.WithLabelValues("idle")); got != 1 {
			t.Fatalf("idle passivations = %v", got)
		}
	})
}

func TestReleaseLingerThenPassivate(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	n := f.node("n1", nil)
	r := ref("leaver")
	a := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "s1"})
	mustOK(t, a)
	mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, SessionToken: a.GetSessionToken(), Operations: []*hearthv1.Operation{set("/x", "1")}}))
	w := f.watch(t, n, r)
	mustOK(t, call[*hearthv1.ReleaseResponse](t, n, &hearthv1.ReleaseRequest{Profile: r, SessionToken: a.GetSessionToken()}))
	// A quick rejoin inside the linger keeps the activation.
	f.clock.Advance(5 * time.Second)
	b := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "s1"})
	mustOK(t, b)
	st := call[*hearthv1.StatusResponse](t, n, &hearthv1.StatusRequest{Profile: r})
	if st.GetSessionHolder() != "s1" {
		t.Fatalf("status after rejoin: %v", st)
	}
	mustOK(t, call[*hearthv1.ReleaseResponse](t, n, &hearthv1.ReleaseRequest{Profile: r, SessionToken: b.GetSessionToken()}))
	f.clock.Advance(11 * time.Second)
	w.next(t, hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED)
	n.stopped(t, r)
	if doc := storedDoc(t, f.store, r); doc["x"] != float64(1) {
		t.Fatalf("stored %v", doc)
	}
}

func TestSessionLapsesWithoutHeartbeat(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	n := f.node("n1", nil)
	r := ref("afk")
	a := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "s1"})
	mustOK(t, a)
	w := f.watch(t, n, r)
	f.clock.Advance(40 * time.Second)
	mustOK(t, call[*hearthv1.HeartbeatResponse](t, n, &hearthv1.HeartbeatRequest{Profile: r, SessionToken: a.GetSessionToken()}))
	f.clock.Advance(40 * time.Second) // renewed: still held
	mustOK(t, call[*hearthv1.HeartbeatResponse](t, n, &hearthv1.HeartbeatRequest{Profile: r, SessionToken: a.GetSessionToken()}))
	f.clock.Advance(61 * time.Second)
	w.next(t, hearthv1.WatchEventKind_WATCH_EVENT_KIND_SESSION_LAPSED)
	res := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, SessionToken: a.GetSessionToken(), Operations: []*hearthv1.Operation{set("/x", "1")}})
	if codeOf(res) != codeStaleSession {
		t.Fatalf("write after lapse: %v", res)
	}
	b := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "s2"})
	mustOK(t, b)
}

func TestAcquireWaitsForRelease(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	n := f.node("n1", nil)
	r := ref("contested-session")
	a := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: "s1"})
	mustOK(t, a)
	ch := async(n, &hearthv1.AcquireRequest{Profile: r, SessionId: "s2", Mode: hearthv1.AcquireMode_ACQUIRE_MODE_WAIT, WaitMs: 20000})
	until(t, "the acquire waits", func() bool { return waitingAcquires(t, n, r) == 1 })
	select {
	case res := <-ch:
		t.Fatalf("wait mode answered while held: %v", res)
	default:
	}
	mustOK(t, call[*hearthv1.ReleaseResponse](t, n, &hearthv1.ReleaseRequest{Profile: r, SessionToken: a.GetSessionToken()}))
	b := receive[*hearthv1.AcquireResponse](t, ch)
	mustOK(t, b)
	if b.GetSessionToken() == "" {
		t.Fatalf("waiter: %v", b)
	}
	// A wait that runs out answers SESSION_CONFLICT.
	ch = async(n, &hearthv1.AcquireRequest{Profile: r, SessionId: "s3", Mode: hearthv1.AcquireMode_ACQUIRE_MODE_WAIT, WaitMs: 1000})
	until(t, "the second acquire waits", func() bool { return waitingAcquires(t, n, r) == 1 })
	f.clock.Advance(time.Second)
	c := receive[*hearthv1.AcquireResponse](t, ch)
	if codeOf(c) != codeSessionConflict {
		t.Fatalf("expired wait: %v", c)
	}
}

func TestDrainSavesAndReleasesEverything(t *testing.T) {
	eachStore(t, func(t *testing.T, k storeKind) {
		f := newFixture(t, k)
		n := f.node("n1", nil)
		const profiles = 20
		for i := range profiles {
			r := ref("d" + string(rune('a'+i)))
			mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Operations: []*hearthv1.Operation{incr("/n", "1")}}))
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := n.host.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if n.host.Loaded() != 0 {
			t.Fatalf("%d still loaded", n.host.Loaded())
		}
		for i := range profiles {
			r := ref("d" + string(rune('a'+i)))
			if doc := storedDoc(t, f.store, r); doc["n"] != float64(1) {
				t.Fatalf("%s: stored %v", r.GetId(), doc)
			}
			h, err := f.store.Holder(ctx, mustKey(t, r))
			if err != nil || h.Node != "" {
				t.Fatalf("%s still owned: %+v", r.GetId(), h)
			}
		}
		_, err := n.host.Request(ctx, &hearthv1.GetRequest{Profile: ref("da")})
		if !errors.Is(err, messages.ErrUnavailable) {
			t.Fatalf("request while draining: %v", err)
		}
	})
}

// TestDurableUpdatesAreGroupCommitted: durable updates on many profiles
// while a save is held go to the store together in the next batch.
func TestDurableUpdatesAreGroupCommitted(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	n := f.node("n1", nil)
	for i := range 11 {
		mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: ref("g" + string(rune('a'+i))), Operations: []*hearthv1.Operation{incr("/n", "0")}}))
	}
	gate := f.store.hold()
	first := async(n, &hearthv1.UpdateRequest{Profile: ref("ga"), Durability: durable, Operations: []*hearthv1.Operation{incr("/n", "1")}})
	f.store.nextSave(t) // the committer is busy with ga's save
	chans := make([]<-chan proto.Message, 0, 10)
	for i := 1; i < 11; i++ {
		chans = append(chans, async(n, &hearthv1.UpdateRequest{Profile: ref("g" + string(rune('a'+i))), Durability: durable, Operations: []*hearthv1.Operation{incr("/n", "1")}}))
	}
	until(t, "ten saves queue behind the held one", func() bool { return n.committer.Queued() == 10 })
	close(gate)
	mustOK(t, receive[*hearthv1.UpdateResponse](t, first))
	batch := f.store.nextSave(t)
	if len(batch) != 10 {
		t.Fatalf("second batch has %d rows, want the 10 queued profiles", len(batch))
	}
	for _, ch := range chans {
		res := receive[*hearthv1.UpdateResponse](t, ch)
		mustOK(t, res)
		if !res.GetDurable() {
			t.Fatalf("not durable: %v", res)
		}
	}
}

func TestTypedErrors(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	n := f.node("n1", func(c *Config) { c.Limits.MaxDocumentBytes = 2000 })
	r := ref("errs")
	mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Operations: []*hearthv1.Operation{set("/name", `"x"`), set("/coins", "1")}}))
	cases := []struct {
		name string
		ops  []*hearthv1.Operation
		exp  int64
		code hearthv1.ErrorCode
	}{
		{"bad pointer", []*hearthv1.Operation{set("coins", "1")}, 0, codeInvalidPath},
		{"type mismatch", []*hearthv1.Operation{incr("/name", "1")}, 0, codeTypeMismatch},
		{"bad json", []*hearthv1.Operation{set("/a", "{")}, 0, codeInvalidArgument},
		{"no ops", nil, 0, codeInvalidArgument},
		{"too large", []*hearthv1.Operation{set("/big", `"`+stringOf('x', 3000)+`"`)}, 0, codeTooLarge},
		{"version conflict", []*hearthv1.Operation{set("/a", "1")}, 99, codeVersionConflict},
		{"remove missing", []*hearthv1.Operation{set("/inv", "[]"), op(hearthv1.OperationKind_OPERATION_KIND_REMOVE, "/inv", `"sword"`)}, 0, codeNotFound},
		{"overflow", []*hearthv1.Operation{incr("/coins", "9223372036854775807")}, 0, codeOutOfRange},
		{"path too deep", []*hearthv1.Operation{set(stringRepeat("/a", 40), "1")}, 0, codeInvalidPath},
		{"unknown kind", []*hearthv1.Operation{{Kind: 42, Path: "/a", Value: "1"}}, 0, codeInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Operations: c.ops, ExpectedVersion: c.exp})
			if codeOf(res) != c.code || res.GetError().GetMessage() == "" {
				t.Fatalf("got %v, want %v", res.GetError(), c.code)
			}
		})
	}
	// Nothing above changed the document: all-or-nothing.
	g := call[*hearthv1.GetResponse](t, n, &hearthv1.GetRequest{Profile: r})
	if g.GetValue() != `{"coins":1,"name":"x"}` || g.GetVersion() != 1 {
		t.Fatalf("document after refused updates: %s v%d", g.GetValue(), g.GetVersion())
	}
	if res := call[*hearthv1.GetResponse](t, n, &hearthv1.GetRequest{Profile: r, Path: "/missing"}); codeOf(res) != codeNotFound {
		t.Fatalf("get missing: %v", res)
	}
	_, err := n.host.Request(context.Background(), &hearthv1.GetRequest{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: ""}})
	if !errors.Is(err, messages.ErrInvalidArgument) {
		t.Fatalf("empty id: %v", err)
	}
	if res := call[*hearthv1.AcquireResponse](t, n, &hearthv1.AcquireRequest{Profile: r, SessionId: ""}); codeOf(res) != codeInvalidArgument {
		t.Fatalf("empty session id: %v", res)
	}
}

func stringOf(c byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func stringRepeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func TestRestoreAndDelete(t *testing.T) {
	eachStore(t, func(t *testing.T, k storeKind) {
		f := newFixture(t, k)
		// Keep every snapshot (no interval thinning) so both saves stay.
		n := f.node("n1", func(c *Config) {
			c.Namespaces = map[string]Namespace{"game": {History: persistence.Retention{Keep: 10}}}
		})
		r := ref("history")
		mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Durability: durable, Operations: []*hearthv1.Operation{set("/coins", "10")}}))
		mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Durability: durable, Operations: []*hearthv1.Operation{set("/coins", "0")}}))
		vs := call[*hearthv1.ListVersionsResponse](t, n, &hearthv1.ListVersionsRequest{Profile: r})
		mustOK(t, vs)
		if len(vs.GetVersions()) != 2 {
			t.Fatalf("versions: %v", vs)
		}
		oldest := vs.GetVersions()[1].GetSeq()
		gv := call[*hearthv1.GetVersionResponse](t, n, &hearthv1.GetVersionRequest{Profile: r, Seq: oldest})
		mustOK(t, gv)
		if gv.GetDocument() != `{"coins":10}` || gv.GetInfo().GetVersion() != 1 {
			t.Fatalf("get version: %v", gv)
		}
		rs := call[*hearthv1.RestoreResponse](t, n, &hearthv1.RestoreRequest{Profile: r, Seq: oldest})
		mustOK(t, rs)
		if rs.GetVersion() != 3 {
			t.Fatalf("restore: %v", rs)
		}
		if doc := storedDoc(t, f.store, r); doc["coins"] != float64(10) {
			t.Fatalf("restored doc not stored: %v", doc)
		}
		if res := call[*hearthv1.GetVersionResponse](t, n, &hearthv1.GetVersionRequest{Profile: r, Seq: 999}); codeOf(res) != codeNotFound {
			t.Fatalf("missing version: %v", res)
		}

		mustOK(t, call[*hearthv1.DeleteResponse](t, n, &hearthv1.DeleteRequest{Profile: r}))
		n.stopped(t, r)
		// Reads of an erased profile create nothing.
		if g := call[*hearthv1.GetResponse](t, n, &hearthv1.GetRequest{Profile: r}); codeOf(g) != codeNotFound {
			t.Fatalf("get after delete: %v", g)
		}
		if vs := call[*hearthv1.ListVersionsResponse](t, n, &hearthv1.ListVersionsRequest{Profile: r}); codeOf(vs) != codeNotFound {
			t.Fatalf("versions after delete: %v", vs)
		}
		// A write re-creates it, with versions above every earlier one.
		u := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Operations: []*hearthv1.Operation{set("/coins", "1")}})
		mustOK(t, u)
		if u.GetVersion() <= 3 {
			t.Fatalf("re-created profile reuses version %d", u.GetVersion())
		}
	})
}

// TestSizeLimitHoldsAcrossManySmallUpdates: the size check skips encoding
// while a bound says the document is far from the limit; many small
// appends must still stop exactly at the limit.
func TestSizeLimitHoldsAcrossManySmallUpdates(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	n := f.node("n1", func(c *Config) { c.Limits.MaxDocumentBytes = 3000 })
	r := ref("growing")
	item := `"` + stringOf('x', 90) + `"`
	refused := false
	for i := 0; i < 100 && !refused; i++ {
		res := call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r,
			Operations: []*hearthv1.Operation{op(hearthv1.OperationKind_OPERATION_KIND_APPEND, "/items", item)}})
		switch codeOf(res) {
		case 0:
		case codeTooLarge:
			refused = true
		default:
			t.Fatalf("append %d: %v", i, res)
		}
	}
	if !refused {
		t.Fatal("never refused")
	}
	// Refused neither late (over the limit) nor early (with room left).
	g := call[*hearthv1.GetResponse](t, n, &hearthv1.GetRequest{Profile: r})
	if size := len(g.GetValue()); size > 3000 || size+len(item)+1 <= 3000 {
		t.Fatalf("refused at %d bytes; limit 3000, an item adds %d", size, len(item)+1)
	}
}

// TestStatusDoesNotLoad: asking about a profile answers from the store and
// does not activate it.
func TestStatusDoesNotLoad(t *testing.T) {
	f := newFixture(t, storeKinds()[0])
	n := f.node("n1", nil)
	r := ref("asked-about")
	if res := call[*hearthv1.StatusResponse](t, n, &hearthv1.StatusRequest{Profile: r}); codeOf(res) != codeNotFound {
		t.Fatalf("unknown profile: %v", res)
	}
	mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Durability: durable, Operations: []*hearthv1.Operation{set("/a", "1")}}))
	live := call[*hearthv1.StatusResponse](t, n, &hearthv1.StatusRequest{Profile: r})
	if !live.GetLoaded() || live.GetVersion() != 1 {
		t.Fatalf("loaded: %v", live)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.host.Passivate(ctx, r, "test"); err != nil {
		t.Fatal(err)
	}
	st := call[*hearthv1.StatusResponse](t, n, &hearthv1.StatusRequest{Profile: r})
	if st.GetLoaded() || st.GetNode() != "" || st.GetEpoch() != live.GetEpoch() || st.GetSavedSeq() != live.GetSavedSeq() {
		t.Fatalf("unloaded: %v (was %v)", st, live)
	}
	if n.host.Loaded() != 0 {
		t.Fatal("Status loaded the profile")
	}
}

// TestReceiptsAcrossRestoreAndDelete pins what docs/ARCHITECTURE.md says a
// replayed receipt does: after a Restore to a snapshot from before the
// purchase, the receipt is still known (a duplicate, nothing granted
// again); after a Delete, which erases the purchase history with the
// profile, it is granted again to the re-created profile.
func TestReceiptsAcrossRestoreAndDelete(t *testing.T) {
	eachStore(t, func(t *testing.T, k storeKind) {
		f := newFixture(t, k)
		n := f.node("n1", func(c *Config) {
			c.Namespaces = map[string]Namespace{"game": {History: persistence.Retention{Keep: 10}}}
		})
		r := ref("buyer")
		buy := func() *hearthv1.PurchaseResponse {
			res := call[*hearthv1.PurchaseResponse](t, n, &hearthv1.PurchaseRequest{Profile: r, ReceiptId: "r-1", ProductId: "gems-100",
				Grant: []*hearthv1.Operation{incr("/gems", "100")}})
			mustOK(t, res)
			return res
		}
		mustOK(t, call[*hearthv1.UpdateResponse](t, n, &hearthv1.UpdateRequest{Profile: r, Durability: durable, Operations: []*hearthv1.Operation{set("/gems", "0")}}))
		vs := call[*hearthv1.ListVersionsResponse](t, n, &hearthv1.ListVersionsRequest{Profile: r})
		mustOK(t, vs)
		before := vs.GetVersions()[0].GetSeq() // the snapshot without the purchase
		if buy().GetDuplicate() {
			t.Fatal("first delivery answered as a duplicate")
		}
		mustOK(t, call[*hearthv1.RestoreResponse](t, n, &hearthv1.RestoreRequest{Profile: r, Seq: before}))
		if !buy().GetDuplicate() {
			t.Fatal("a receipt replayed after a Restore was granted again")
		}
		if doc := storedDoc(t, f.store, r); doc["gems"] != float64(0) {
			t.Fatalf("after restore and replay: %v, want the restored gems 0", doc)
		}
		mustOK(t, call[*hearthv1.DeleteResponse](t, n, &hearthv1.DeleteRequest{Profile: r}))
		n.stopped(t, r)
		if buy().GetDuplicate() {
			t.Fatal("a receipt replayed after a Delete was answered from erased history")
		}
		if doc := storedDoc(t, f.store, r); doc["gems"] != float64(100) {
			t.Fatalf("after delete and replay: %v, want gems 100 granted to the re-created profile", doc)
		}
	})
}

// TestTurnedAwayRequestFollowsTheNewOwner: a request queued in an activation
// that a handoff passivates (here while it still acquires) is not applied;
// if the node no longer owns the profile by its routing view (Config.Owns)
// it comes back as a *MovedError for the router to send on, instead of
// starting the profile here again (which the new owner would then wait for
// until the next handoff pass). While the node owns it, it is served here.
func TestTurnedAwayRequestFollowsTheNewOwner(t *testing.T) {
	for _, owned := range []bool{false, true} {
		t.Run(fmt.Sprintf("owned=%v", owned), func(t *testing.T) {
			f := newFixture(t, storeKinds()[0])
			var owns atomic.Bool
			owns.Store(true)
			n := f.node("n1", func(c *Config) { c.Owns = func(persistence.ProfileKey) bool { return owns.Load() } })
			r := ref("moving")
			gate, started := f.store.holdAcquires()
			ch := async(n, &hearthv1.UpdateRequest{Profile: r, Operations: []*hearthv1.Operation{set("/a", "1")}})
			select {
			case <-started:
			case <-time.After(wait):
				t.Fatal("no acquisition started")
			}
			owns.Store(owned) // the view moves the profile (or not)
			passivated := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				passivated <- n.host.Passivate(ctx, r, "rebalance")
			}()
			// The passivation turns the queued update away (the activation
			// has stopped serving) before the acquisition it waits for
			// returns.
			key := mustKey(t, r)
			for deadline := time.Now().Add(wait); ; {
				n.host.mu.Lock()
				e := n.host.entries[key]
				ending := e != nil && e.ending
				n.host.mu.Unlock()
				if ending {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the passivation did not stop the activation serving")
				}
				time.Sleep(time.Millisecond) // polling a state, not timing
			}
			f.store.mu.Lock()
			f.store.acquireGate = nil
			f.store.mu.Unlock()
			close(gate)
			if err := <-passivated; err != nil {
				t.Fatal(err)
			}
			res := <-ch
			if !owned {
				e, ok := res.(*hearthv1.Error)
				if !ok || e.GetCode() != codeUnavailable || !strings.Contains(e.GetMessage(), "moved to another node") {
					t.Fatalf("a request turned away from a profile owned elsewhere: %v", res)
				}
				if doc := storedDoc(t, f.store, r); doc != nil {
					t.Fatalf("the moved request was applied: %v", doc)
				}
				return
			}
			mustOK(t, res.(*hearthv1.UpdateResponse))
		})
	}
}
