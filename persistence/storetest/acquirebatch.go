package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// acquireBatchTests cover AcquireBatch: the ownership rules of Acquire for
// many profiles at once, the Create flag, PreviousOwner, and the refusals of
// the whole batch.
func acquireBatchTests() []contractTest {
	return []contractTest{
		{name: "MixedBatch", run: testAcquireBatchMixed},
		{name: "PreviousOwner", run: testAcquireBatchPreviousOwner},
		{name: "RaceOverlappingKeys", run: testAcquireBatchRace},
		{name: "AtAndOverLimit", limits: smallLimits, run: testAcquireBatchLimits},
		{name: "BadRequestWritesNothing", run: testAcquireBatchInvalid},
		{name: "LapsedOwnLeaseWritesNothing", run: testAcquireBatchLapsedLease},
		{name: "Empty", run: testAcquireBatchEmpty},
	}
}

// acquireBatch runs AcquireBatch and checks there is one result per request.
func (f *fixture) acquireBatch(node string, reqs ...persistence.AcquireRequest) []persistence.AcquireResult {
	f.t.Helper()
	res, err := f.s.AcquireBatch(f.ctx, node, reqs)
	if err != nil {
		f.t.Fatalf("AcquireBatch(%q, %d requests): %v", node, len(reqs), err)
	}
	if len(res) != len(reqs) {
		f.t.Fatalf("AcquireBatch(%q, %d requests) returned %d results", node, len(reqs), len(res))
	}
	return res
}

// create and load build requests with and without Create.
func create(k persistence.ProfileKey) persistence.AcquireRequest {
	return persistence.AcquireRequest{Key: k, Create: true}
}

func load(k persistence.ProfileKey) persistence.AcquireRequest {
	return persistence.AcquireRequest{Key: k}
}

// wantAcquired checks one result granted k with the given epoch, Created,
// PreviousOwner and snapshot (nil: none).
func wantAcquired(f *fixture, r persistence.AcquireResult, k persistence.ProfileKey, epoch int64, created bool, prev string, snap *persistence.SaveRow) {
	f.t.Helper()
	if r.Err != nil {
		f.t.Errorf("%s: err = %v, want acquired", k, r.Err)
		return
	}
	a := r.Acquired
	if a.Key != k || a.Epoch != epoch || a.Created != created || a.PreviousOwner != prev {
		f.t.Errorf("%s: Acquired{Key %s Epoch %d Created %v PreviousOwner %q}, want {%s %d %v %q}",
			k, a.Key, a.Epoch, a.Created, a.PreviousOwner, k, epoch, created, prev)
	}
	if snap == nil {
		if a.Snapshot != nil {
			f.t.Errorf("%s: snapshot seq %d, want none", k, a.Snapshot.Seq)
		}
		return
	}
	wantSnapshot(f.t, k.String(), a.Snapshot, *snap)
}

// wantNotFound checks one result is ErrNotFound and that nothing about k
// changed: Holder answers as before.
func wantNotFound(f *fixture, r persistence.AcquireResult, k persistence.ProfileKey, before persistence.Holder, beforeErr error) {
	f.t.Helper()
	wantErr(f.t, r.Err, persistence.ErrNotFound, k.String())
	if r.Acquired != (persistence.Acquired{}) {
		f.t.Errorf("%s: refused result carries Acquired %+v", k, r.Acquired)
	}
	after, err := f.s.Holder(f.ctx, k)
	if errors.Is(err, persistence.ErrNotFound) != errors.Is(beforeErr, persistence.ErrNotFound) {
		f.t.Errorf("%s: Holder err %v after, %v before", k, err, beforeErr)
	}
	if after.Node != before.Node || after.Epoch != before.Epoch || after.Seq != before.Seq {
		f.t.Errorf("%s: Holder {%q %d %d} after a refused request, {%q %d %d} before",
			k, after.Node, after.Epoch, after.Seq, before.Node, before.Epoch, before.Seq)
	}
}

// One batch with every kind of request. Node c lapses, a and b stay live;
// a acquires the batch.
func testAcquireBatchMixed(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	f.mustRegister("c", 10*time.Second)

	saved := func(node string, k persistence.ProfileKey, doc string, release bool) (persistence.Acquired, persistence.SaveRow) {
		a := f.mustAcquire(node, k)
		r := row(k, a.Epoch, 1, doc)
		r.Release = release
		f.mustSaved(node, r)
		return a, r
	}
	released, rReleased := saved("b", key("released"), "released by b", true)
	held, _ := saved("b", key("held"), "held by b", false)
	lapsed, rLapsed := saved("c", key("lapsed"), "lapsed c", false)
	own, rOwn := saved("a", key("own"), "a's own", false)
	tombC := f.saveAndDelete("b", key("tomb-create"))
	f.saveAndDelete("b", key("tomb-load"))
	nosnapLapsed := f.mustAcquire("c", key("nosnap-lapsed"))
	f.mustAcquire("b", key("nosnap-held"))
	nosnapReleased := f.mustAcquire("b", key("nosnap-released"))
	if err := f.s.Release(f.ctx, "b", key("nosnap-released"), nosnapReleased.Epoch); err != nil {
		f.t.Fatal(err)
	}
	nosnapCreate := f.mustAcquire("b", key("nosnap-create"))
	if err := f.s.Release(f.ctx, "b", key("nosnap-create"), nosnapCreate.Epoch); err != nil {
		f.t.Fatal(err)
	}
	lapsedLoad, rLapsedLoad := saved("c", key("lapsed-load"), "lapsed c, loaded", false)
	f.advance(11 * time.Second) // c lapses

	type before struct {
		h   persistence.Holder
		err error
	}
	refused := map[string]before{}
	for _, id := range []string{"new-load", "tomb-load", "nosnap-lapsed", "nosnap-held", "nosnap-released", "held"} {
		h, err := f.s.Holder(f.ctx, key(id))
		refused[id] = before{h, err}
	}

	reqs := []persistence.AcquireRequest{
		create(key("new-create")),    // 0
		load(key("new-load")),        // 1
		load(key("released")),        // 2
		load(key("held")),            // 3
		load(key("lapsed")),          // 4
		load(key("own")),             // 5
		create(key("tomb-create")),   // 6
		load(key("tomb-load")),       // 7
		create(key("nosnap-lapsed")), // 8
		load(key("nosnap-held")),     // 9
		load(key("nosnap-released")), // 10
		create(key("nosnap-create")), // 11
		create(key("lapsed-load")),   // 12: Create on a saved profile is an ordinary acquire
	}
	res := f.acquireBatch("a", reqs...)

	wantAcquired(f, res[0], key("new-create"), 1, true, "", nil)
	wantNotFound(f, res[1], key("new-load"), refused["new-load"].h, refused["new-load"].err)
	wantAcquired(f, res[2], key("released"), released.Epoch+1, false, "", &rReleased)
	wantHeld(f.t, res[3].Err, key("held"), "b")
	wantAcquired(f, res[4], key("lapsed"), lapsed.Epoch+1, false, "c", &rLapsed)
	wantAcquired(f, res[5], key("own"), own.Epoch+1, false, "a", &rOwn)
	wantAcquired(f, res[6], key("tomb-create"), tombC+1, true, "", nil)
	wantNotFound(f, res[7], key("tomb-load"), refused["tomb-load"].h, refused["tomb-load"].err)
	wantAcquired(f, res[8], key("nosnap-lapsed"), nosnapLapsed.Epoch+1, false, "c", nil)
	wantNotFound(f, res[9], key("nosnap-held"), refused["nosnap-held"].h, refused["nosnap-held"].err)
	wantNotFound(f, res[10], key("nosnap-released"), refused["nosnap-released"].h, refused["nosnap-released"].err)
	wantAcquired(f, res[11], key("nosnap-create"), nosnapCreate.Epoch+1, false, "", nil)
	wantAcquired(f, res[12], key("lapsed-load"), lapsedLoad.Epoch+1, false, "c", &rLapsedLoad)

	// The store agrees with every answer.
	for i, r := range res {
		k := reqs[i].Key
		if r.Err == nil {
			f.wantOwned(k, "a", r.Acquired.Epoch, snapSeq(r.Acquired))
		}
	}
	f.wantOwned(key("held"), "b", held.Epoch, 1)
	_, err := f.s.Holder(f.ctx, key("tomb-load"))
	wantErr(f.t, err, persistence.ErrNotFound, "Holder of the tombstone loaded without Create")

	// The old epochs are fenced: a's own earlier activation, and c.
	wantResult(f.t, f.saveOne("a", row(key("own"), own.Epoch, 2, "stale")),
		persistence.SaveResult{Key: key("own"), Outcome: persistence.SaveFenced, Epoch: own.Epoch + 1, Seq: 1})
	wantResult(f.t, f.saveOne("c", row(key("lapsed"), lapsed.Epoch, 2, "stale c")),
		persistence.SaveResult{Key: key("lapsed"), Outcome: persistence.SaveFenced, Epoch: lapsed.Epoch + 1, Seq: 1})
	// The granted epochs write.
	f.mustSaved("a", row(key("new-create"), 1, 1, "new"))
	f.mustSaved("a", row(key("tomb-create"), tombC+1, 1, "re-created"))
	f.mustSaved("a", row(key("released"), released.Epoch+1, 2, "two"))
}

// PreviousOwner is set exactly when the profile was still owned when it
// was taken.
func testAcquireBatchPreviousOwner(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	f.mustRegister("gone", longTTL)
	f.mustRegister("lapses", 10*time.Second)
	p := func(id string) persistence.ProfileKey { return key(id) }
	cases := []struct {
		id   string
		prep func(k persistence.ProfileKey)
		want string
	}{
		{"fresh", func(persistence.ProfileKey) {}, ""},
		{"released", func(k persistence.ProfileKey) {
			a := f.mustAcquire("b", k)
			f.mustSaved("b", row(k, a.Epoch, 1, "x"))
			if err := f.s.Release(f.ctx, "b", k, a.Epoch); err != nil {
				f.t.Fatal(err)
			}
		}, ""},
		{"saved-with-release", func(k persistence.ProfileKey) {
			a := f.mustAcquire("b", k)
			r := row(k, a.Epoch, 1, "x")
			r.Release = true
			f.mustSaved("b", r)
		}, ""},
		{"recreated", func(k persistence.ProfileKey) { f.saveAndDelete("b", k) }, ""},
		{"own", func(k persistence.ProfileKey) {
			a := f.mustAcquire("a", k)
			f.mustSaved("a", row(k, a.Epoch, 1, "x"))
		}, "a"},
		{"node-released", func(k persistence.ProfileKey) {
			a := f.mustAcquire("gone", k)
			f.mustSaved("gone", row(k, a.Epoch, 1, "x"))
		}, "gone"},
		{"lapsed", func(k persistence.ProfileKey) {
			a := f.mustAcquire("lapses", k)
			f.mustSaved("lapses", row(k, a.Epoch, 1, "x"))
		}, "lapses"},
	}
	for _, tc := range cases {
		tc.prep(p(tc.id))
	}
	if err := f.s.ReleaseNode(f.ctx, "gone"); err != nil {
		f.t.Fatal(err)
	}
	f.advance(11 * time.Second)
	var reqs []persistence.AcquireRequest
	for _, tc := range cases {
		reqs = append(reqs, create(p(tc.id)))
	}
	res := f.acquireBatch("a", reqs...)
	for i, tc := range cases {
		if res[i].Err != nil {
			f.t.Errorf("%s: %v", tc.id, res[i].Err)
			continue
		}
		if got := res[i].Acquired.PreviousOwner; got != tc.want {
			f.t.Errorf("%s: PreviousOwner = %q, want %q", tc.id, got, tc.want)
		}
	}
}

// Two nodes race AcquireBatch over overlapping key sets, in different
// orders: every key has exactly one winner, the loser is told who won, and
// the store agrees.
func testAcquireBatchRace(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	const rounds, n, overlap = 6, 30, 15
	for round := 0; round < rounds; round++ {
		prefix := fmt.Sprintf("r%d-", round)
		if round%2 == 1 {
			// Odd rounds race for saved, released profiles instead of new ones.
			var keys []persistence.ProfileKey
			for i := 0; i < 2*n-overlap; i++ {
				keys = append(keys, key(fmt.Sprintf("%s%d", prefix, i)))
			}
			f.prepareReleased("b", keys)
		}
		batches := map[string][]persistence.AcquireRequest{}
		for i := 0; i < n; i++ {
			ka := key(fmt.Sprintf("%s%d", prefix, i))
			kb := key(fmt.Sprintf("%s%d", prefix, i+n-overlap))
			batches["a"] = append(batches["a"], persistence.AcquireRequest{Key: ka, Create: round%2 == 0})
			batches["b"] = append(batches["b"], persistence.AcquireRequest{Key: kb, Create: true})
		}
		rng := rand.New(rand.NewPCG(uint64(round), 7))
		for _, b := range batches {
			rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		}
		results := map[string][]persistence.AcquireResult{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for node, reqs := range batches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := f.s.AcquireBatch(f.ctx, node, reqs)
				if err != nil {
					f.t.Errorf("round %d: AcquireBatch(%q): %v", round, node, err)
					return
				}
				mu.Lock()
				results[node] = res
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		if f.t.Failed() {
			return
		}
		winners := map[persistence.ProfileKey]persistence.Acquired{}
		winnerNode := map[persistence.ProfileKey]string{}
		for node, res := range results {
			for i, r := range res {
				k := batches[node][i].Key
				if r.Err != nil {
					continue
				}
				if other, dup := winnerNode[k]; dup {
					f.t.Errorf("round %d: %s acquired by both %q and %q", round, k, other, node)
				}
				winners[k], winnerNode[k] = r.Acquired, node
			}
		}
		for node, res := range results {
			for i, r := range res {
				k := batches[node][i].Key
				if r.Err == nil {
					continue
				}
				if wn, ok := winnerNode[k]; !ok || wn == node {
					f.t.Errorf("round %d: %s refused to %q (%v) but nobody else won it", round, k, node, r.Err)
					continue
				}
				wantHeld(f.t, r.Err, k, winnerNode[k])
			}
		}
		if len(winners) != 2*n-overlap {
			f.t.Errorf("round %d: %d keys won, want %d (every key exactly once)", round, len(winners), 2*n-overlap)
		}
		for k, a := range winners {
			f.wantOwned(k, winnerNode[k], a.Epoch, snapSeq(a))
		}
	}
}

// snapSeq is the seq of the snapshot an acquire returned, 0 for none.
func snapSeq(a persistence.Acquired) int64 {
	if a.Snapshot == nil {
		return 0
	}
	return a.Snapshot.Seq
}

// prepareReleased creates keys with one saved snapshot each, released.
func (f *fixture) prepareReleased(node string, keys []persistence.ProfileKey) {
	f.t.Helper()
	var reqs []persistence.AcquireRequest
	for _, k := range keys {
		reqs = append(reqs, create(k))
	}
	var rows []persistence.SaveRow
	for i, r := range f.acquireBatch(node, reqs...) {
		if r.Err != nil {
			f.t.Fatalf("prepare %s: %v", keys[i], r.Err)
		}
		sr := row(keys[i], r.Acquired.Epoch, 1, "saved "+keys[i].ID)
		sr.Release = true
		rows = append(rows, sr)
	}
	for _, r := range f.mustSave(node, rows...) {
		if r.Outcome != persistence.SaveSaved {
			f.t.Fatalf("prepare %s: %s", r.Key, r.Outcome)
		}
	}
}

// A batch of exactly MaxBatchRows is served; one more is refused whole,
// before anything is written.
func testAcquireBatchLimits(f *fixture) {
	f.mustRegister("a", longTTL)
	max := f.s.Limits().MaxBatchRows
	var reqs []persistence.AcquireRequest
	for i := 0; i <= max; i++ {
		reqs = append(reqs, create(key(fmt.Sprintf("p%d", i))))
	}
	_, err := f.s.AcquireBatch(f.ctx, "a", reqs)
	wantLimitErr(f.t, err, persistence.ErrTooLarge, fmt.Sprintf("AcquireBatch of %d (limit %d)", len(reqs), max))
	for _, r := range reqs {
		_, err := f.s.Holder(f.ctx, r.Key)
		wantErr(f.t, err, persistence.ErrNotFound, "Holder after a refused batch")
	}
	for i, r := range f.acquireBatch("a", reqs[:max]...) {
		wantAcquired(f, r, reqs[i].Key, 1, true, "", nil)
	}
}

// A bad key, a key twice or a bad node id refuses the whole batch with
// ErrInvalid; the valid requests in it write nothing.
func testAcquireBatchInvalid(f *fixture) {
	f.mustRegister("a", longTTL)
	good := create(key("good"))
	cases := map[string]struct {
		node string
		reqs []persistence.AcquireRequest
	}{
		"bad id":        {"a", []persistence.AcquireRequest{good, create(key("a/b"))}},
		"bad namespace": {"a", []persistence.AcquireRequest{good, create(persistence.ProfileKey{Namespace: "Bad", ID: "x"})}},
		"long id":       {"a", []persistence.AcquireRequest{good, load(key(strings.Repeat("x", persistence.MaxProfileIDLen+1)))}},
		"duplicate":     {"a", []persistence.AcquireRequest{good, create(key("twice")), load(key("twice"))}},
		"bad node":      {"a b", []persistence.AcquireRequest{good}},
	}
	for name, tc := range cases {
		_, err := f.s.AcquireBatch(f.ctx, tc.node, tc.reqs)
		wantLimitErr(f.t, err, persistence.ErrInvalid, "AcquireBatch with "+name)
	}
	for _, k := range []persistence.ProfileKey{key("good"), key("twice")} {
		_, err := f.s.Holder(f.ctx, k)
		wantErr(f.t, err, persistence.ErrNotFound, "Holder of "+k.String()+" after refused batches")
	}
}

// A node whose own lease lapsed (or that never registered) gets
// ErrLeaseExpired for the whole batch, and nothing is written: not the new
// profiles, not its own ones.
func testAcquireBatchLapsedLease(f *fixture) {
	f.mustRegister("a", 10*time.Second)
	f.mustRegister("b", longTTL)
	own := f.mustAcquire("a", key("own"))
	f.mustSaved("a", row(key("own"), own.Epoch, 1, "x"))
	f.prepareReleased("b", []persistence.ProfileKey{key("released")})
	f.advance(11 * time.Second)
	reqs := []persistence.AcquireRequest{create(key("new")), create(key("own")), load(key("released"))}
	for _, node := range []string{"a", "ghost"} {
		_, err := f.s.AcquireBatch(f.ctx, node, reqs)
		wantErr(f.t, err, persistence.ErrLeaseExpired, "AcquireBatch by "+node)
	}
	_, err := f.s.Holder(f.ctx, key("new"))
	wantErr(f.t, err, persistence.ErrNotFound, "Holder of a profile a lapsed node asked to create")
	h := f.mustHolder(key("own"))
	if h.Node != "a" || h.Epoch != own.Epoch || h.Live {
		f.t.Errorf("own profile after refused batch: {%q %d live %v}, want {\"a\" %d false}", h.Node, h.Epoch, h.Live, own.Epoch)
	}
	f.wantUnowned(key("released"), 1)
}

// An empty batch answers an empty slice.
func testAcquireBatchEmpty(f *fixture) {
	f.mustRegister("a", longTTL)
	res, err := f.s.AcquireBatch(f.ctx, "a", nil)
	if err != nil || len(res) != 0 {
		f.t.Errorf("AcquireBatch(empty) = %v, %v; want an empty slice", res, err)
	}
}
