package storetest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// ownershipTests cover Acquire, Release and Holder: who may write a profile,
// and how ownership passes between nodes.
func ownershipTests() []contractTest {
	return []contractTest{
		{name: "AcquireAbsentCreates", run: testAcquireAbsentCreates},
		{name: "AcquireExistingNeverSaved", run: testAcquireExistingNeverSaved},
		{name: "ReacquireFencesOldEpoch", run: testReacquireFencesOldEpoch},
		{name: "AcquireReturnsNewestSnapshot", run: testAcquireReturnsSnapshot},
		{name: "AcquireUnregisteredNode", run: testAcquireUnregistered},
		{name: "AcquireWithLapsedOwnLease", run: testAcquireLapsedOwnLease},
		{name: "HeldRefusalChangesNothing", run: testHeldRefusalChangesNothing},
		{name: "AcquireRaceSameAndOtherNodes", run: testAcquireRaceMixed},
		{name: "AcquireRaceDistinctNodes", run: testAcquireRaceDistinct},
		{name: "TakeoverAfterLeaseLapse", run: testTakeoverAfterLapse},
		{name: "TakeoverAfterRelease", run: testTakeoverAfterRelease},
		{name: "TakeoverAfterReleaseNode", run: testTakeoverAfterReleaseNode},
		{name: "HolderAbsentNotFound", run: testHolderAbsent},
		{name: "ReleaseFencing", run: testReleaseFencing},
	}
}

func testAcquireAbsentCreates(f *fixture) {
	l := f.mustRegister("a", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	if !a.Created || a.Epoch != 1 || a.Snapshot != nil || a.PreviousOwner != "" {
		f.t.Errorf("Acquire(absent) = {Created %v Epoch %d Snapshot %v PreviousOwner %q}, want {true 1 nil \"\"}",
			a.Created, a.Epoch, a.Snapshot, a.PreviousOwner)
	}
	h := f.wantOwned(p, "a", 1, 0)
	// The holder's lease is the owner node's lease.
	if d := h.LeaseExpiresAt.Sub(l.ExpiresAt); d < -ttlSlack || d > ttlSlack {
		f.t.Errorf("Holder.LeaseExpiresAt = %s, want the owner's lease expiry %s", h.LeaseExpiresAt, l.ExpiresAt)
	}
	vs, err := f.s.Versions(f.ctx, p)
	if err != nil || len(vs) != 0 {
		f.t.Errorf("Versions of a created, never saved profile = %v, %v; want none, nil", vs, err)
	}
}

// A profile that exists but was never saved is not Created again: the
// caller must not mistake it for a fresh profile, but there is no snapshot.
func testAcquireExistingNeverSaved(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	if err := f.s.Release(f.ctx, "a", p, a.Epoch); err != nil {
		f.t.Fatalf("Release: %v", err)
	}
	b := f.mustAcquire("b", p)
	if b.Created || b.Snapshot != nil || b.Epoch != a.Epoch+1 {
		f.t.Errorf("Acquire(existing, never saved) = {Created %v Epoch %d Snapshot %v}, want {false %d nil}",
			b.Created, b.Epoch, b.Snapshot, a.Epoch+1)
	}
}

// A node may re-acquire its own profile (a re-activation). The new epoch
// fences the old one: the previous activation can no longer write.
func testReacquireFencesOldEpoch(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	a1 := f.mustAcquire("a", p)
	r1 := row(p, a1.Epoch, 1, "one")
	f.mustSaved("a", r1)

	a2 := f.mustAcquire("a", p)
	if a2.Epoch != a1.Epoch+1 || a2.PreviousOwner != "a" || a2.Created {
		f.t.Errorf("re-acquire = {Epoch %d PreviousOwner %q Created %v}, want {%d \"a\" false}",
			a2.Epoch, a2.PreviousOwner, a2.Created, a1.Epoch+1)
	}
	wantSnapshot(f.t, "re-acquire snapshot", a2.Snapshot, r1)

	wantResult(f.t, f.saveOne("a", row(p, a1.Epoch, 2, "stale")),
		persistence.SaveResult{Key: p, Outcome: persistence.SaveFenced, Epoch: a2.Epoch, Seq: 1})
	wantErr(f.t, f.s.Release(f.ctx, "a", p, a1.Epoch), persistence.ErrFenced, "Release at the old epoch")
	wantErr(f.t, f.s.Delete(f.ctx, "a", p, a1.Epoch), persistence.ErrFenced, "Delete at the old epoch")

	// None of that touched the profile; the new epoch writes normally.
	f.wantOwned(p, "a", a2.Epoch, 1)
	f.mustSaved("a", row(p, a2.Epoch, 2, "two"))
}

// Acquire hands back the newest snapshot exactly as saved: document bytes,
// seq, schema version and the epoch that wrote it.
func testAcquireReturnsSnapshot(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	f.mustSaved("a", row(p, a.Epoch, 1, "first"))
	last := persistence.SaveRow{Key: p, Epoch: a.Epoch, Seq: 2, SchemaVersion: 7,
		Document: []byte{0, 1, 2, 0xff, '{', '}', 0}} // arbitrary bytes, not just text
	f.mustSaved("a", last)
	if err := f.s.Release(f.ctx, "a", p, a.Epoch); err != nil {
		f.t.Fatalf("Release: %v", err)
	}
	b := f.mustAcquire("b", p)
	if b.Created {
		f.t.Errorf("Acquire of a saved profile reported Created")
	}
	wantSnapshot(f.t, "Acquire snapshot", b.Snapshot, last)
}

// A node that is not registered may not take anything, and its attempt
// creates nothing.
func testAcquireUnregistered(f *fixture) {
	p := key("p")
	_, err := f.s.Acquire(f.ctx, "ghost", p)
	wantErr(f.t, err, persistence.ErrLeaseExpired, "Acquire by unregistered node")
	_, err = f.s.Holder(f.ctx, p)
	wantErr(f.t, err, persistence.ErrNotFound, "Holder after refused Acquire")
}

// A node whose own lease lapsed may not take ownership, not even of its own
// profiles: it must re-register. Its attempts change nothing.
func testAcquireLapsedOwnLease(f *fixture) {
	f.mustRegister("a", 10*time.Second)
	p, q := key("p"), key("q")
	a := f.mustAcquire("a", p)
	f.advance(11 * time.Second)

	_, err := f.s.Acquire(f.ctx, "a", q)
	wantErr(f.t, err, persistence.ErrLeaseExpired, "Acquire(absent) with lapsed lease")
	_, err = f.s.Holder(f.ctx, q)
	wantErr(f.t, err, persistence.ErrNotFound, "Holder of profile a lapsed node tried to create")

	_, err = f.s.Acquire(f.ctx, "a", p)
	wantErr(f.t, err, persistence.ErrLeaseExpired, "re-Acquire of own profile with lapsed lease")
	h := f.mustHolder(p)
	if h.Node != "a" || h.Epoch != a.Epoch || h.Live {
		f.t.Errorf("Holder = {Node %q Epoch %d Live %v}, want {\"a\" %d false}", h.Node, h.Epoch, h.Live, a.Epoch)
	}
}

// A refused Acquire changes nothing: the epoch stays, and the holder keeps
// writing.
func testHeldRefusalChangesNothing(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	for i := 0; i < 3; i++ {
		he := f.mustHeld("b", p, "a", a.Epoch)
		wantRemaining(f.t, he, longTTL)
	}
	f.wantOwned(p, "a", a.Epoch, 0)
	f.mustSaved("a", row(p, a.Epoch, 1, "still mine"))
}

// raceResult is what one racing goroutine got from Acquire.
type raceResult struct {
	node string
	a    persistence.Acquired
	err  error
}

// race runs Acquire(nodes[i], k) for every i at once and returns the
// results. All goroutines are released together so they really contend.
func (f *fixture) race(k persistence.ProfileKey, nodes []string) []raceResult {
	out := make([]raceResult, len(nodes))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a, err := f.s.Acquire(f.ctx, n, k)
			out[i] = raceResult{node: n, a: a, err: err}
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// checkRace asserts the outcome of a race for a fresh profile: exactly one
// node won (it may have succeeded several times, since a node may re-acquire
// its own profile), every loser got a *HeldError naming the winner, the
// winner's epochs are distinct, exactly one success created the profile, and
// the store agrees with the newest epoch handed out.
func (f *fixture) checkRace(k persistence.ProfileKey, results []raceResult) {
	f.t.Helper()
	winner := ""
	epochs := map[int64]bool{}
	var maxEpoch int64
	created := 0
	for _, r := range results {
		if r.err != nil {
			continue
		}
		if winner != "" && r.node != winner {
			f.t.Errorf("%s: both %q and %q acquired it", k, winner, r.node)
		}
		winner = r.node
		if epochs[r.a.Epoch] {
			f.t.Errorf("%s: epoch %d handed out twice", k, r.a.Epoch)
		}
		epochs[r.a.Epoch] = true
		maxEpoch = max(maxEpoch, r.a.Epoch)
		if r.a.Created {
			created++
		}
	}
	if winner == "" {
		f.t.Errorf("%s: no node acquired it; errors: %v", k, results[0].err)
		return
	}
	if created != 1 {
		f.t.Errorf("%s: %d successes reported Created, want exactly 1", k, created)
	}
	for _, r := range results {
		if r.err == nil {
			continue
		}
		var he *persistence.HeldError
		if !errors.As(r.err, &he) || he.Holder != winner {
			f.t.Errorf("%s: loser %q got %v, want a *HeldError naming %q", k, r.node, r.err, winner)
		}
	}
	f.wantOwned(k, winner, maxEpoch, 0)
}

// Goroutines of 2..4 nodes race for each fresh profile.
func testAcquireRaceMixed(f *fixture) {
	const rounds, goroutines = 8, 16
	nodes := []string{"n0", "n1", "n2", "n3"}
	for _, n := range nodes {
		f.mustRegister(n, longTTL)
	}
	for round := 0; round < rounds; round++ {
		k := key(fmt.Sprintf("race-%d", round))
		racers := make([]string, goroutines)
		for i := range racers {
			racers[i] = nodes[i%(2+round%3)]
		}
		f.checkRace(k, f.race(k, racers))
	}
}

// Many nodes, one goroutine each: exactly one succeeds.
func testAcquireRaceDistinct(f *fixture) {
	const n = 16
	nodes := make([]string, n)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("node-%02d", i)
		f.mustRegister(nodes[i], longTTL)
	}
	for round := 0; round < 4; round++ {
		k := key(fmt.Sprintf("race-%d", round))
		results := f.race(k, nodes)
		wins := 0
		for _, r := range results {
			if r.err == nil {
				wins++
			}
		}
		if wins != 1 {
			f.t.Errorf("%s: %d nodes acquired it, want exactly 1", k, wins)
		}
		f.checkRace(k, results)
	}
}

// The takeover rule, step by step: a profile is taken from a node only when
// that node's lease has lapsed by the store's clock; the taken-over node is
// fenced from then on.
func testTakeoverAfterLapse(f *fixture) {
	f.mustRegister("a", 10*time.Second)
	f.mustRegister("b", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	ra := row(p, a.Epoch, 1, "from a")
	f.mustSaved("a", ra)

	he := f.mustHeld("b", p, "a", a.Epoch)
	wantRemaining(f.t, he, 10*time.Second)
	f.wantOwned(p, "a", a.Epoch, 1)

	f.advance(9 * time.Second)
	he = f.mustHeld("b", p, "a", a.Epoch)
	wantRemaining(f.t, he, time.Second)
	f.wantOwned(p, "a", a.Epoch, 1)

	f.advance(2 * time.Second)
	h := f.mustHolder(p)
	if h.Node != "a" || h.Epoch != a.Epoch || h.Live {
		f.t.Errorf("Holder after A lapsed = {Node %q Epoch %d Live %v}, want {\"a\" %d false}", h.Node, h.Epoch, h.Live, a.Epoch)
	}
	if lapsed := h.Now.Sub(h.LeaseExpiresAt); !h.LeaseExpiresAt.IsZero() && lapsed < time.Second {
		f.t.Errorf("Holder: A's lease lapsed %s ago, want at least 1s", lapsed)
	}

	b := f.mustAcquire("b", p)
	if b.Epoch != a.Epoch+1 || b.PreviousOwner != "a" || b.Created {
		f.t.Errorf("takeover = {Epoch %d PreviousOwner %q Created %v}, want {%d \"a\" false}", b.Epoch, b.PreviousOwner, b.Created, a.Epoch+1)
	}
	wantSnapshot(f.t, "takeover snapshot", b.Snapshot, ra)
	rb := row(p, b.Epoch, 2, "from b")
	f.mustSaved("b", rb)

	// A, unaware, keeps going: every write is fenced and changes nothing.
	wantResult(f.t, f.saveOne("a", row(p, a.Epoch, 3, "stale a")),
		persistence.SaveResult{Key: p, Outcome: persistence.SaveFenced, Epoch: b.Epoch, Seq: 2})
	wantErr(f.t, f.s.Release(f.ctx, "a", p, a.Epoch), persistence.ErrFenced, "A Release after takeover")
	wantErr(f.t, f.s.Delete(f.ctx, "a", p, a.Epoch), persistence.ErrFenced, "A Delete after takeover")
	_, err := f.s.RenewNode(f.ctx, "a", 10*time.Second)
	wantErr(f.t, err, persistence.ErrLeaseExpired, "A Renew after lapse")
	_, err = f.s.Acquire(f.ctx, "a", p)
	wantErr(f.t, err, persistence.ErrLeaseExpired, "A Acquire after lapse")

	f.wantOwned(p, "b", b.Epoch, 2)
	f.wantVersion(p, rb)
	f.wantVersion(p, ra)
	_, err = f.s.Version(f.ctx, p, 3)
	wantErr(f.t, err, persistence.ErrNotFound, "Version of A's fenced seq 3")
}

// A released profile may be taken at once, without waiting for any lease.
func testTakeoverAfterRelease(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	ra := row(p, a.Epoch, 1, "from a")
	f.mustSaved("a", ra)
	if err := f.s.Release(f.ctx, "a", p, a.Epoch); err != nil {
		f.t.Fatalf("Release: %v", err)
	}
	f.wantUnowned(p, 1)

	b := f.mustAcquire("b", p)
	if b.Epoch != a.Epoch+1 || b.Created || b.PreviousOwner != "" {
		f.t.Errorf("acquire after release = {Epoch %d Created %v PreviousOwner %q}, want {%d false \"\"}",
			b.Epoch, b.Created, b.PreviousOwner, a.Epoch+1)
	}
	wantSnapshot(f.t, "acquire after release", b.Snapshot, ra)
	f.wantOwned(p, "b", b.Epoch, 1)
	// A released it, so it cannot write it any more either.
	wantResult(f.t, f.saveOne("a", row(p, a.Epoch, 2, "late a")),
		persistence.SaveResult{Key: p, Outcome: persistence.SaveFenced, Epoch: b.Epoch, Seq: 1})
}

// Releasing a node lets every profile it owns be taken at once.
func testTakeoverAfterReleaseNode(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	p, q := key("p"), key("q")
	ap := f.mustAcquire("a", p)
	aq := f.mustAcquire("a", q)
	f.mustHeld("b", p, "a", ap.Epoch)
	if err := f.s.ReleaseNode(f.ctx, "a"); err != nil {
		f.t.Fatalf("ReleaseNode: %v", err)
	}
	h := f.mustHolder(p)
	if h.Node != "a" || h.Live || (!h.LeaseExpiresAt.IsZero() && h.LeaseExpiresAt.After(h.Now)) {
		f.t.Errorf("Holder after ReleaseNode = {Node %q Live %v LeaseExpiresAt %s Now %s}, want {\"a\" false, not after Now}",
			h.Node, h.Live, h.LeaseExpiresAt, h.Now)
	}
	for _, tc := range []struct {
		k     persistence.ProfileKey
		epoch int64
	}{{p, ap.Epoch}, {q, aq.Epoch}} {
		b := f.mustAcquire("b", tc.k)
		if b.Epoch != tc.epoch+1 || b.PreviousOwner != "a" {
			f.t.Errorf("acquire %s after ReleaseNode = {Epoch %d PreviousOwner %q}, want {%d \"a\"}", tc.k, b.Epoch, b.PreviousOwner, tc.epoch+1)
		}
	}
}

func testHolderAbsent(f *fixture) {
	_, err := f.s.Holder(f.ctx, key("absent"))
	wantErr(f.t, err, persistence.ErrNotFound, "Holder(absent)")
}

func testReleaseFencing(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	p := key("p")
	wantErr(f.t, f.s.Release(f.ctx, "a", p, 1), persistence.ErrNotFound, "Release(absent)")

	a := f.mustAcquire("a", p)
	wantErr(f.t, f.s.Release(f.ctx, "b", p, a.Epoch), persistence.ErrFenced, "Release by a non-owner at the current epoch")
	wantErr(f.t, f.s.Release(f.ctx, "a", p, a.Epoch+1), persistence.ErrFenced, "Release at a future epoch")
	f.wantOwned(p, "a", a.Epoch, 0)

	if err := f.s.Release(f.ctx, "a", p, a.Epoch); err != nil {
		f.t.Fatalf("Release: %v", err)
	}
	f.wantUnowned(p, 0)
	// Once released the epoch is no longer owned by anyone.
	wantErr(f.t, f.s.Release(f.ctx, "a", p, a.Epoch), persistence.ErrFenced, "second Release")
	wantErr(f.t, f.s.Delete(f.ctx, "a", p, a.Epoch), persistence.ErrFenced, "Delete after Release")
	f.wantUnowned(p, 0)
}
