package storetest

import (
	"errors"

	"github.com/hearth-profiles/hearth/persistence"
)

// deleteTests cover Delete: fenced like a save, and erasing the profile with
// its snapshots and records.
func deleteTests() []contractTest {
	return []contractTest{
		{name: "OwnerDeleteErasesEverything", run: testDeleteErases},
		{name: "RecreateAfterDeleteIsFresh", run: testRecreateAfterDelete},
		{name: "StaleWritersFencedAfterRecreate", run: testStaleWritersAfterRecreate},
		{name: "SameNodeStaleEpochAfterRecreate", run: testSameNodeStaleAfterRecreate},
		{name: "StaleEpochDeleteFenced", run: testDeleteStaleEpoch},
		{name: "DeleteAbsentNotFound", run: testDeleteAbsent},
	}
}

// saveAndDelete creates p owned by node, saves two snapshots with records,
// deletes it, and returns the epoch it was deleted at.
func (f *fixture) saveAndDelete(node string, p persistence.ProfileKey) int64 {
	f.t.Helper()
	a := f.mustAcquire(node, p)
	f.mustSaved(node, row(p, a.Epoch, 1, "one", rec("k1", "v1")))
	f.mustSaved(node, row(p, a.Epoch, 2, "two", rec("k2", "v2")))
	if err := f.s.Delete(f.ctx, node, p, a.Epoch); err != nil {
		f.t.Fatalf("Delete(%s): %v", p, err)
	}
	return a.Epoch
}

// wantNoRecords checks a profile lists no records. Whether Records of an
// absent profile is an empty page or ErrNotFound is not specified; either
// way nothing of the deleted profile may show.
func (f *fixture) wantNoRecords(p persistence.ProfileKey) {
	f.t.Helper()
	recs, err := f.s.Records(f.ctx, p, persistence.RecordQuery{})
	if len(recs) != 0 || (err != nil && !errors.Is(err, persistence.ErrNotFound)) {
		f.t.Errorf("Records(%s) = %v, %v; want none", p, recordKeys(recs), err)
	}
}

func testDeleteErases(f *fixture) {
	f.mustRegister("a", longTTL)
	p, q := key("p"), key("q")
	aq := f.mustAcquire("a", q) // a neighbour that must survive
	rq := row(q, aq.Epoch, 1, "q", rec("k1", "q1"))
	f.mustSaved("a", rq)
	epoch := f.saveAndDelete("a", p)

	_, err := f.s.Holder(f.ctx, p)
	wantErr(f.t, err, persistence.ErrNotFound, "Holder after Delete")
	_, err = f.s.Versions(f.ctx, p)
	wantErr(f.t, err, persistence.ErrNotFound, "Versions after Delete")
	for _, seq := range []int64{1, 2} {
		_, err = f.s.Version(f.ctx, p, seq)
		wantErr(f.t, err, persistence.ErrNotFound, "Version after Delete")
	}
	f.wantNoRecord(p, "k1")
	f.wantNoRecord(p, "k2")
	f.wantNoRecords(p)
	wantResult(f.t, f.saveOne("a", row(p, epoch, 3, "after delete", rec("k3", "v3"))),
		persistence.SaveResult{Key: p, Outcome: persistence.SaveGone})
	_, err = f.s.Holder(f.ctx, p)
	wantErr(f.t, err, persistence.ErrNotFound, "Holder after a gone save (it must not recreate the profile)")
	wantErr(f.t, f.s.Release(f.ctx, "a", p, epoch), persistence.ErrNotFound, "Release after Delete")
	wantErr(f.t, f.s.Delete(f.ctx, "a", p, epoch), persistence.ErrNotFound, "Delete after Delete")

	f.wantOwned(q, "a", aq.Epoch, 1)
	f.wantVersion(q, rq)
	f.wantRecord(q, "k1", "q1", 1)
}

// A deleted profile acquired again starts from nothing: Created, no
// snapshot, no records, and its Seqs start over.
func testRecreateAfterDelete(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	f.saveAndDelete("a", p)

	a := f.mustAcquire("a", p)
	if !a.Created || a.Snapshot != nil {
		f.t.Errorf("Acquire after Delete = {Created %v Snapshot %v}, want {true nil}", a.Created, a.Snapshot)
	}
	f.wantOwned(p, "a", a.Epoch, 0)
	vs, err := f.s.Versions(f.ctx, p)
	if err != nil || len(vs) != 0 {
		f.t.Errorf("Versions after re-create = %v, %v; want none", vs, err)
	}
	f.wantNoRecord(p, "k1")
	f.wantNoRecords(p)

	// The new incarnation saves from seq 1, and an old idempotency key is
	// applied afresh.
	r := row(p, a.Epoch, 1, "fresh", rec("k1", "fresh v1"))
	f.mustSaved("a", r)
	f.wantVersion(p, r)
	f.wantRecord(p, "k1", "fresh v1", 1)
}

// Writers from before the delete stay fenced after the profile is created
// again, whatever epoch the new incarnation starts at.
func testStaleWritersAfterRecreate(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	f.mustRegister("c", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	f.mustSaved("a", row(p, a.Epoch, 1, "a1"))
	if err := f.s.Release(f.ctx, "a", p, a.Epoch); err != nil {
		f.t.Fatalf("Release: %v", err)
	}
	b := f.mustAcquire("b", p)
	if err := f.s.Delete(f.ctx, "b", p, b.Epoch); err != nil {
		f.t.Fatalf("Delete: %v", err)
	}
	c := f.mustAcquire("c", p)
	if !c.Created {
		f.t.Errorf("Acquire after Delete: Created = false")
	}
	for _, stale := range []struct {
		node  string
		epoch int64
	}{{"a", a.Epoch}, {"b", b.Epoch}} {
		res := f.saveOne(stale.node, row(p, stale.epoch, 5, "stale "+stale.node))
		if res.Outcome != persistence.SaveFenced || res.Epoch != c.Epoch {
			f.t.Errorf("stale save by %s after re-create = {%s epoch %d}, want {fenced epoch %d}", stale.node, res.Outcome, res.Epoch, c.Epoch)
		}
		wantErr(f.t, f.s.Delete(f.ctx, stale.node, p, stale.epoch), persistence.ErrFenced, "stale Delete by "+stale.node)
	}
	f.wantOwned(p, "c", c.Epoch, 0)
}

// testSameNodeStaleAfterRecreate: activation X (epoch e1) is superseded by a
// re-activation Y on the same node, which deletes the profile; a new
// activation Z re-creates it. If epochs restarted at 1 after a delete, X's
// late save would match Z's owner and epoch and land in the new profile.
func testSameNodeStaleAfterRecreate(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	x := f.mustAcquire("a", p)
	y := f.mustAcquire("a", p)
	if err := f.s.Delete(f.ctx, "a", p, y.Epoch); err != nil {
		f.t.Fatalf("Delete: %v", err)
	}
	z := f.mustAcquire("a", p)
	if !z.Created || z.Snapshot != nil {
		f.t.Errorf("Acquire after Delete = {Created %v, Snapshot %v}, want a fresh profile", z.Created, z.Snapshot)
	}
	if z.Epoch <= y.Epoch {
		f.t.Errorf("epoch after re-create = %d, want above every earlier epoch (%d)", z.Epoch, y.Epoch)
	}
	for _, stale := range []int64{x.Epoch, y.Epoch} {
		res := f.saveOne("a", row(p, stale, 1, "stale"))
		if res.Outcome != persistence.SaveFenced {
			f.t.Errorf("save at stale epoch %d after re-create = %s, want fenced", stale, res.Outcome)
		}
	}
	f.wantOwned(p, "a", z.Epoch, 0)
}

func testDeleteStaleEpoch(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	p := key("p")
	a1 := f.mustAcquire("a", p)
	a2 := f.mustAcquire("a", p)
	r := row(p, a2.Epoch, 1, "kept", rec("k", "v"))
	f.mustSaved("a", r)
	wantErr(f.t, f.s.Delete(f.ctx, "a", p, a1.Epoch), persistence.ErrFenced, "Delete at stale epoch")
	wantErr(f.t, f.s.Delete(f.ctx, "b", p, a2.Epoch), persistence.ErrFenced, "Delete by non-owner")
	f.wantOwned(p, "a", a2.Epoch, 1)
	f.wantVersion(p, r)
	f.wantRecord(p, "k", "v", 1)
}

func testDeleteAbsent(f *fixture) {
	f.mustRegister("a", longTTL)
	wantErr(f.t, f.s.Delete(f.ctx, "a", key("absent"), 1), persistence.ErrNotFound, "Delete(absent)")
}
