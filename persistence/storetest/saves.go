package storetest

import (
	"fmt"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// saveTests cover Save: fencing, per-row outcomes of a batch, releasing in a
// save, and retried saves.
func saveTests() []contractTest {
	return []contractTest{
		{name: "StaleEpochSaveLeavesNewerSnapshot", run: testStaleSave},
		{name: "OtherNodeAtCurrentEpochFenced", run: testOtherNodeCurrentEpoch},
		{name: "MixedBatchOutcomes", run: testMixedBatch},
		{name: "ReleaseFlagLeavesUnowned", run: testReleaseFlag},
		{name: "SameSeqTwiceSuperseded", run: testSuperseded},
		{name: "LapsedOwnerSavesUntilTakenOver", run: testLapsedOwnerSaves},
		{name: "BatchOfFiftyEveryFifthFenced", run: testBatchEveryFifthFenced},
		{name: "EmptyBatch", run: testEmptyBatch},
	}
}

// A write at a stale epoch is refused even when its Seq is newer than the
// stored one, and the newer owner's snapshot stands.
func testStaleSave(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	f.mustSaved("a", row(p, a.Epoch, 1, "a1"))
	if err := f.s.Release(f.ctx, "a", p, a.Epoch); err != nil {
		f.t.Fatalf("Release: %v", err)
	}
	b := f.mustAcquire("b", p)
	f.mustSaved("b", row(p, b.Epoch, 2, "b2"))
	rb := row(p, b.Epoch, 3, "b3")
	f.mustSaved("b", rb)

	wantResult(f.t, f.saveOne("a", row(p, a.Epoch, 4, "stale a4", rec("stale-rec", "x"))),
		persistence.SaveResult{Key: p, Outcome: persistence.SaveFenced, Epoch: b.Epoch, Seq: 3})

	f.wantOwned(p, "b", b.Epoch, 3)
	f.wantVersion(p, rb)
	_, err := f.s.Version(f.ctx, p, 4)
	wantErr(f.t, err, persistence.ErrNotFound, "Version of the fenced seq")
	f.wantNoRecord(p, "stale-rec")
	b2 := f.mustAcquire("b", p)
	wantSnapshot(f.t, "Acquire after fenced save", b2.Snapshot, rb)
}

// Ownership is the pair (node, epoch): another node naming the current
// epoch is fenced too.
func testOtherNodeCurrentEpoch(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	wantResult(f.t, f.saveOne("b", row(p, a.Epoch, 1, "not b's")),
		persistence.SaveResult{Key: p, Outcome: persistence.SaveFenced, Epoch: a.Epoch, Seq: 0})
	f.wantOwned(p, "a", a.Epoch, 0)
	wantErr(f.t, f.s.Delete(f.ctx, "b", p, a.Epoch), persistence.ErrFenced, "Delete by non-owner at current epoch")
}

// One batch mixing every outcome: each row is judged on its own, results
// come back in input order with the documented Epoch/Seq, and only the
// saved rows' snapshots and records are written.
func testMixedBatch(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	var (
		pFenced  = key("fenced")
		pSaved   = key("saved")
		pGone    = key("gone")
		pSuper   = key("superseded")
		pNever   = key("never-existed")
		pSuper2  = key("superseded-older")
		pCreated = key("saved-first")
	)
	// fenced: A's epoch was taken over by B, who saved seq 2.
	af := f.mustAcquire("a", pFenced)
	f.mustSaved("a", row(pFenced, af.Epoch, 1, "a1"))
	if err := f.s.Release(f.ctx, "a", pFenced, af.Epoch); err != nil {
		f.t.Fatalf("Release: %v", err)
	}
	bf := f.mustAcquire("b", pFenced)
	rbFenced := row(pFenced, bf.Epoch, 2, "b2")
	f.mustSaved("b", rbFenced)
	// saved: A owns it with seq 1 stored.
	as := f.mustAcquire("a", pSaved)
	f.mustSaved("a", row(pSaved, as.Epoch, 1, "s1"))
	// gone: A owned and deleted it.
	ag := f.mustAcquire("a", pGone)
	f.mustSaved("a", row(pGone, ag.Epoch, 1, "g1"))
	if err := f.s.Delete(f.ctx, "a", pGone, ag.Epoch); err != nil {
		f.t.Fatalf("Delete: %v", err)
	}
	// superseded: A owns it with seq 5 stored; the rows carry seq 5 and 3.
	asu := f.mustAcquire("a", pSuper)
	rSuper := row(pSuper, asu.Epoch, 5, "u5")
	f.mustSaved("a", rSuper)
	asu2 := f.mustAcquire("a", pSuper2)
	rSuper2 := row(pSuper2, asu2.Epoch, 5, "v5")
	f.mustSaved("a", rSuper2)
	// saved-first: acquired, never saved.
	ac := f.mustAcquire("a", pCreated)

	rows := []persistence.SaveRow{
		row(pFenced, af.Epoch, 3, "a3", rec("r-fenced", "x")),
		row(pSaved, as.Epoch, 2, "s2", rec("r-saved", "ok")),
		row(pGone, ag.Epoch, 2, "g2", rec("r-gone", "x")),
		row(pSuper, asu.Epoch, 5, "u5 retried", rec("r-super", "x")),
		row(pNever, 1, 1, "n1", rec("r-never", "x")),
		row(pSuper2, asu2.Epoch, 3, "v3", rec("r-super2", "x")),
		row(pCreated, ac.Epoch, 1, "c1", rec("r-created", "ok")),
	}
	rows[0].Release = true // a fenced row's Release must not release B's ownership
	res := f.mustSave("a", rows...)
	want := []persistence.SaveResult{
		{Key: pFenced, Outcome: persistence.SaveFenced, Epoch: bf.Epoch, Seq: 2},
		{Key: pSaved, Outcome: persistence.SaveSaved, Epoch: as.Epoch, Seq: 2},
		{Key: pGone, Outcome: persistence.SaveGone, Epoch: 0, Seq: 0},
		{Key: pSuper, Outcome: persistence.SaveSuperseded, Epoch: asu.Epoch, Seq: 5},
		{Key: pNever, Outcome: persistence.SaveGone, Epoch: 0, Seq: 0},
		{Key: pSuper2, Outcome: persistence.SaveSuperseded, Epoch: asu2.Epoch, Seq: 5},
		{Key: pCreated, Outcome: persistence.SaveSaved, Epoch: ac.Epoch, Seq: 1},
	}
	for i := range want {
		wantResult(f.t, res[i], want[i])
	}

	// Exactly the saved rows were written.
	f.wantOwned(pFenced, "b", bf.Epoch, 2)
	f.wantVersion(pFenced, rbFenced)
	f.wantNoRecord(pFenced, "r-fenced")
	f.wantOwned(pSaved, "a", as.Epoch, 2)
	f.wantVersion(pSaved, rows[1])
	f.wantRecord(pSaved, "r-saved", "ok", 2)
	for _, k := range []persistence.ProfileKey{pGone, pNever} {
		_, err := f.s.Holder(f.ctx, k)
		wantErr(f.t, err, persistence.ErrNotFound, "Holder of a gone row's profile")
	}
	f.wantOwned(pSuper, "a", asu.Epoch, 5)
	f.wantVersion(pSuper, rSuper)
	f.wantNoRecord(pSuper, "r-super")
	f.wantOwned(pSuper2, "a", asu2.Epoch, 5)
	f.wantVersion(pSuper2, rSuper2)
	_, err := f.s.Version(f.ctx, pSuper2, 3)
	wantErr(f.t, err, persistence.ErrNotFound, "Version of a superseded row's seq")
	f.wantNoRecord(pSuper2, "r-super2")
	f.wantOwned(pCreated, "a", ac.Epoch, 1)
	f.wantVersion(pCreated, rows[6])
	f.wantRecord(pCreated, "r-created", "ok", 1)
}

// A save with Release gives up ownership in the same write: the profile is
// unowned, the saver is fenced, and another node acquires it at once.
func testReleaseFlag(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	r := row(p, a.Epoch, 1, "passivated", rec("k", "v"))
	r.Release = true
	f.mustSaved("a", r)
	f.wantUnowned(p, 1)
	f.wantRecord(p, "k", "v", 1)

	if res := f.saveOne("a", row(p, a.Epoch, 2, "after release")); res.Outcome != persistence.SaveFenced {
		f.t.Errorf("save after releasing save: outcome %s, want fenced", res.Outcome)
	}
	b := f.mustAcquire("b", p)
	if b.Epoch != a.Epoch+1 || b.Created {
		f.t.Errorf("acquire after releasing save = {Epoch %d Created %v}, want {%d false}", b.Epoch, b.Created, a.Epoch+1)
	}
	wantSnapshot(f.t, "acquire after releasing save", b.Snapshot, r)
}

// A retried save (same or older Seq) is superseded: the caller still owns
// the profile, nothing is written, and the result names the stored Seq.
func testSuperseded(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	r1 := row(p, a.Epoch, 1, "one", rec("k1", "first"))
	f.mustSaved("a", r1)
	wantResult(f.t, f.saveOne("a", row(p, a.Epoch, 1, "one again", rec("k1", "second"), rec("k1b", "x"))),
		persistence.SaveResult{Key: p, Outcome: persistence.SaveSuperseded, Epoch: a.Epoch, Seq: 1})
	f.wantVersion(p, r1)
	f.wantRecord(p, "k1", "first", 1)
	f.wantNoRecord(p, "k1b")

	// Seqs need not be contiguous, but an older one is superseded.
	r3 := row(p, a.Epoch, 3, "three")
	f.mustSaved("a", r3)
	wantResult(f.t, f.saveOne("a", row(p, a.Epoch, 2, "two, late")),
		persistence.SaveResult{Key: p, Outcome: persistence.SaveSuperseded, Epoch: a.Epoch, Seq: 3})
	f.wantOwned(p, "a", a.Epoch, 3)
	f.wantVersion(p, r3)
	_, err := f.s.Version(f.ctx, p, 2)
	wantErr(f.t, err, persistence.ErrNotFound, "Version of superseded seq 2")
}

// Saves are fenced by epoch, not by lease: an owner whose lease lapsed may
// keep saving until another node actually takes the profile (no write can be
// lost to a takeover that never happened), and is fenced from then on.
func testLapsedOwnerSaves(f *fixture) {
	f.mustRegister("a", 10*time.Second)
	f.mustRegister("b", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	f.advance(11 * time.Second)
	f.mustSaved("a", row(p, a.Epoch, 1, "late but unopposed"))
	b := f.mustAcquire("b", p)
	wantResult(f.t, f.saveOne("a", row(p, a.Epoch, 2, "too late")),
		persistence.SaveResult{Key: p, Outcome: persistence.SaveFenced, Epoch: b.Epoch, Seq: 1})
}

// A 50-row batch where every 5th profile was taken over: exactly those rows
// are fenced, every other row is saved and readable.
func testBatchEveryFifthFenced(f *fixture) {
	const n = 50
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	keys := make([]persistence.ProfileKey, n)
	epochs := make([]int64, n)
	bEpochs := make([]int64, n)
	for i := range keys {
		keys[i] = key(fmt.Sprintf("p%02d", i))
		epochs[i] = f.mustAcquire("a", keys[i]).Epoch
		if i%5 == 0 {
			if err := f.s.Release(f.ctx, "a", keys[i], epochs[i]); err != nil {
				f.t.Fatalf("Release: %v", err)
			}
			bEpochs[i] = f.mustAcquire("b", keys[i]).Epoch
		}
	}
	rows := make([]persistence.SaveRow, n)
	for i := range rows {
		rows[i] = row(keys[i], epochs[i], 1, fmt.Sprintf("doc %d", i), rec(fmt.Sprintf("r%d", i), "v"))
	}
	res := f.mustSave("a", rows...)
	for i := range rows {
		if i%5 == 0 {
			wantResult(f.t, res[i], persistence.SaveResult{Key: keys[i], Outcome: persistence.SaveFenced, Epoch: bEpochs[i], Seq: 0})
			f.wantOwned(keys[i], "b", bEpochs[i], 0)
			f.wantNoRecord(keys[i], rows[i].Records[0].Key)
			continue
		}
		wantResult(f.t, res[i], persistence.SaveResult{Key: keys[i], Outcome: persistence.SaveSaved, Epoch: epochs[i], Seq: 1})
		f.wantOwned(keys[i], "a", epochs[i], 1)
		f.wantVersion(keys[i], rows[i])
		f.wantRecord(keys[i], rows[i].Records[0].Key, "v", 1)
	}
}

func testEmptyBatch(f *fixture) {
	f.mustRegister("a", longTTL)
	for _, rows := range [][]persistence.SaveRow{nil, {}} {
		res, err := f.s.Save(f.ctx, "a", rows)
		if err != nil || len(res) != 0 {
			f.t.Errorf("Save(%#v) = %v, %v; want no results, nil", rows, res, err)
		}
	}
}
