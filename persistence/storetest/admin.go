package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// adminTests cover the admin APIs (persistence.AdminStore): user ids and
// ProfilesByUser, ListProfiles, Export, ListNodes, PruneTombstones. Every
// store must implement them.
func adminTests() []contractTest {
	return []contractTest{
		{name: "UserIDs", run: testUserIDs},
		{name: "UserIDsRefused", run: testUserIDsRefused},
		{name: "ListProfiles", run: testListProfiles},
		{name: "ListProfilesRefused", run: testListProfilesRefused},
		{name: "ExportIsConsistent", run: testExportConsistent},
		{name: "ExportStopsOnError", run: testExportStops},
		{name: "ListNodes", run: testListNodes},
		{name: "PruneTombstones", run: testPruneTombstones},
	}
}

// admin returns the fixture's store as an AdminStore.
func (f *fixture) admin() persistence.AdminStore {
	f.t.Helper()
	a, ok := f.s.(persistence.AdminStore)
	if !ok {
		f.t.Fatalf("%T does not implement persistence.AdminStore", f.s)
	}
	return a
}

// wantByUser checks ProfilesByUser(user) lists exactly keys, in order.
func (f *fixture) wantByUser(user string, keys ...persistence.ProfileKey) {
	f.t.Helper()
	got, err := f.admin().ProfilesByUser(f.ctx, user)
	if err != nil {
		f.t.Fatalf("ProfilesByUser(%q): %v", user, err)
	}
	if got == nil || !slices.Equal(got, keys) {
		f.t.Errorf("ProfilesByUser(%q) = %v, want %v (non-nil)", user, got, keys)
	}
}

// withUsers sets a row's user ids.
func withUsers(r persistence.SaveRow, ids ...string) persistence.SaveRow {
	if ids == nil {
		ids = []string{}
	}
	r.UserIDs = ids
	return r
}

func testUserIDs(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	q := persistence.ProfileKey{Namespace: "other", ID: "q"}
	ep, eq := f.mustAcquire("a", p).Epoch, f.mustAcquire("a", q).Epoch
	f.wantByUser("u1")

	f.mustSaved("a", withUsers(row(p, ep, 1, "one"), "u1", "u2"))
	f.mustSaved("a", withUsers(row(q, eq, 1, "q"), "u1"))
	f.wantByUser("u1", q, p) // namespace order: "other" < "storetest"
	f.wantByUser("u2", p)

	f.mustSaved("a", row(p, ep, 2, "two")) // nil: unchanged
	f.wantByUser("u2", p)
	f.mustSaved("a", withUsers(row(p, ep, 3, "three"), "u3", "u2"))
	f.wantByUser("u1", q)
	f.wantByUser("u2", p)
	f.wantByUser("u3", p)
	lp := f.listAll(p.Namespace)
	if len(lp) != 1 || !slices.Equal(lp[0].UserIDs, []string{"u2", "u3"}) {
		f.t.Errorf("ListProfiles user ids = %+v, want [u2 u3]", lp)
	}

	// A save that does not land changes no user ids.
	wantResult(f.t, f.saveOne("a", withUsers(row(p, ep, 3, "again"), "u9")),
		persistence.SaveResult{Key: p, Outcome: persistence.SaveSuperseded, Epoch: ep, Seq: 3})
	f.wantByUser("u9")
	f.wantByUser("u3", p)
	ep2 := f.mustAcquire("a", p).Epoch
	wantResult(f.t, f.saveOne("a", withUsers(row(p, ep, 4, "stale"), "u9")),
		persistence.SaveResult{Key: p, Outcome: persistence.SaveFenced, Epoch: ep2, Seq: 3})
	f.wantByUser("u9")
	f.wantByUser("u3", p)

	// An empty set clears them.
	f.mustSaved("a", withUsers(row(p, ep2, 4, "four")))
	f.wantByUser("u2")
	f.wantByUser("u3")

	// Erasing a profile erases its user ids; the re-created one has none.
	f.mustSaved("a", withUsers(row(q, eq, 2, "q2"), "u1", "u4"))
	if err := f.s.Delete(f.ctx, "a", q, eq); err != nil {
		f.t.Fatal(err)
	}
	f.wantByUser("u1")
	f.wantByUser("u4")
	eq2 := f.mustAcquire("a", q).Epoch
	f.mustSaved("a", row(q, eq2, 1, "new q"))
	f.wantByUser("u1")
}

// Bad user ids refuse the whole batch; a bad query is refused too.
func testUserIDsRefused(f *fixture) {
	f.mustRegister("a", longTTL)
	p, q := key("p"), key("q")
	ep, eq := f.mustAcquire("a", p).Epoch, f.mustAcquire("a", q).Epoch
	many := make([]string, persistence.MaxUserIDs+1)
	for i := range many {
		many[i] = fmt.Sprintf("u%d", i)
	}
	for name, ids := range map[string][]string{
		"too many":  many,
		"empty id":  {""},
		"space":     {"a b"},
		"non-ascii": {"é"},
		"too long":  {strings.Repeat("u", persistence.MaxUserIDLen+1)},
		"twice":     {"u1", "u1"},
	} {
		_, err := f.s.Save(f.ctx, "a", []persistence.SaveRow{withUsers(row(p, ep, 1, "p"), "ok"), withUsers(row(q, eq, 1, "q"), ids...)})
		wantLimitErr(f.t, err, persistence.ErrInvalid, "Save with user ids "+name)
	}
	f.wantOwned(p, "a", ep, 0)
	f.wantByUser("ok")
	f.mustSaved("a", withUsers(row(p, ep, 1, "p"), many[:persistence.MaxUserIDs]...))
	f.mustSaved("a", withUsers(row(q, eq, 1, "q"), strings.Repeat("~", persistence.MaxUserIDLen)))
	f.wantByUser(strings.Repeat("~", persistence.MaxUserIDLen), q)
	for _, id := range []string{"", "a b", strings.Repeat("u", persistence.MaxUserIDLen+1)} {
		_, err := f.admin().ProfilesByUser(f.ctx, id)
		wantLimitErr(f.t, err, persistence.ErrInvalid, "ProfilesByUser("+quote(id)+")")
	}
}

// listAll pages through a namespace 3 at a time.
func (f *fixture) listAll(ns string) []persistence.ListedProfile {
	f.t.Helper()
	var out []persistence.ListedProfile
	after := ""
	for {
		page, err := f.admin().ListProfiles(f.ctx, ns, after, 3)
		if err != nil {
			f.t.Fatalf("ListProfiles(%s, %q): %v", ns, after, err)
		}
		if len(page) > 3 {
			f.t.Fatalf("ListProfiles(limit 3) returned %d", len(page))
		}
		out = append(out, page...)
		if len(page) < 3 {
			return out
		}
		after = page[len(page)-1].Key.ID
	}
}

// listFixture makes profiles p00..p07 in the suite's namespace, each saved
// (p03 twice), except: p04 never saved, p05 erased, p06 owned by b; and one
// profile in another namespace. It returns the newest row of each live
// profile (nil for p04), by id.
func (f *fixture) listFixture() map[string]*persistence.SaveRow {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	newest := map[string]*persistence.SaveRow{}
	for i := 0; i < 8; i++ {
		id := fmt.Sprintf("p%02d", i)
		k := key(id)
		node := "a"
		if i == 6 {
			node = "b"
		}
		e := f.mustAcquire(node, k).Epoch
		if i == 4 {
			newest[id] = nil
			continue
		}
		r := withUsers(row(k, e, 1, "first "+id), "user-"+id)
		r.Release = node == "a"
		f.mustSaved(node, r)
		if i == 3 {
			e = f.mustAcquire("a", k).Epoch
			r = row(k, e, 2, "second "+id)
			f.mustSaved("a", r)
		}
		if i == 5 {
			e = f.mustAcquire("a", k).Epoch
			if err := f.s.Delete(f.ctx, "a", k, e); err != nil {
				f.t.Fatal(err)
			}
			continue
		}
		newest[id] = &r
	}
	other := persistence.ProfileKey{Namespace: "other", ID: "p00"}
	f.mustSaved("a", row(other, f.mustAcquire("a", other).Epoch, 1, "other"))
	return newest
}

// wantListed checks a listing against the fixture's newest rows.
func (f *fixture) wantListed(what string, got []persistence.ListedProfile, newest map[string]*persistence.SaveRow) {
	f.t.Helper()
	var ids []string
	for id := range newest {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(got) != len(ids) {
		var gotIDs []string
		for _, g := range got {
			gotIDs = append(gotIDs, g.Key.ID)
		}
		f.t.Fatalf("%s lists %v, want %v", what, gotIDs, ids)
	}
	for i, id := range ids {
		g := got[i]
		if g.Key != key(id) {
			f.t.Errorf("%s[%d] = %s, want %s", what, i, g.Key, key(id))
			continue
		}
		h := f.mustHolder(g.Key)
		if g.Owner != h.Node || g.Epoch != h.Epoch {
			f.t.Errorf("%s %s: owner %q epoch %d, Holder says %q %d", what, id, g.Owner, g.Epoch, h.Node, h.Epoch)
		}
		if newest[id] == nil {
			if g.Snapshot != nil || len(g.UserIDs) != 0 {
				f.t.Errorf("%s %s: never saved, but snapshot %v user ids %v", what, id, g.Snapshot, g.UserIDs)
			}
			continue
		}
		wantSnapshot(f.t, what+" "+id, g.Snapshot, *newest[id])
		if !slices.Equal(g.UserIDs, []string{"user-" + id}) {
			f.t.Errorf("%s %s: user ids %v, want [user-%s]", what, id, g.UserIDs, id)
		}
	}
}

// ListProfiles pages through live profiles in id order, each with its
// newest snapshot; erased profiles and other namespaces do not show.
func testListProfiles(f *fixture) {
	newest := f.listFixture()
	f.wantListed("ListProfiles", f.listAll(ns), newest)
	page, err := f.admin().ListProfiles(f.ctx, ns, "p02", 0)
	if err != nil || len(page) != 4 || page[0].Key.ID != "p03" {
		f.t.Errorf("ListProfiles after p02 = %d profiles starting %v, %v; want 4 from p03", len(page), page, err)
	}
	page, err = f.admin().ListProfiles(f.ctx, ns, "p07", 0)
	if err != nil || page == nil || len(page) != 0 {
		f.t.Errorf("ListProfiles after the last = %v, %v; want an empty page", page, err)
	}
	page, err = f.admin().ListProfiles(f.ctx, "empty", "", 0)
	if err != nil || page == nil || len(page) != 0 {
		f.t.Errorf("ListProfiles of an empty namespace = %v, %v; want an empty page", page, err)
	}
}

func testListProfilesRefused(f *fixture) {
	for name, tc := range map[string]struct {
		ns, after string
		limit     int
		want      error
	}{
		"bad namespace":  {"Bad", "", 0, persistence.ErrInvalid},
		"bad after":      {ns, "a/b", 0, persistence.ErrInvalid},
		"negative limit": {ns, "", -1, persistence.ErrInvalid},
		"limit too big":  {ns, "", persistence.MaxListPage + 1, persistence.ErrTooLarge},
	} {
		_, err := f.admin().ListProfiles(f.ctx, tc.ns, tc.after, tc.limit)
		wantLimitErr(f.t, err, tc.want, "ListProfiles with "+name)
	}
	err := f.admin().Export(f.ctx, "Bad", func(persistence.ListedProfile) error { return nil })
	wantLimitErr(f.t, err, persistence.ErrInvalid, "Export of a bad namespace")
}

// Export reads one consistent state: changes made while it runs (from
// inside fn, so they happen after the first profile was read and before
// the rest are) do not show, whichever profile they touch.
func testExportConsistent(f *fixture) {
	newest := f.listFixture()
	var got []persistence.ListedProfile
	var once sync.Once
	err := f.admin().Export(f.ctx, ns, func(p persistence.ListedProfile) error {
		once.Do(func() {
			// A newer snapshot of a later profile, a later profile erased,
			// a new profile that sorts last, and a node that takes one.
			k := key("p07")
			e := f.mustAcquire("a", k).Epoch
			f.mustSaved("a", row(k, e, 2, "changed during export"))
			k = key("p02")
			e = f.mustAcquire("a", k).Epoch
			if err := f.s.Delete(f.ctx, "a", k, e); err != nil {
				f.t.Fatal(err)
			}
			f.mustSaved("a", row(key("p99"), f.mustAcquire("a", key("p99")).Epoch, 1, "new"))
		})
		got = append(got, p)
		return nil
	})
	if err != nil {
		f.t.Fatalf("Export: %v", err)
	}
	// Owner and epoch as they were: the fixture's, not Holder's now.
	for i := range got {
		if got[i].Key.ID == "p07" || got[i].Key.ID == "p02" {
			if got[i].Owner != "" {
				f.t.Errorf("Export %s: owner %q, want the released state from before the export", got[i].Key.ID, got[i].Owner)
			}
		}
	}
	delete(newest, "p99")
	var ids []string
	for _, g := range got {
		ids = append(ids, g.Key.ID)
	}
	want := []string{"p00", "p01", "p02", "p03", "p04", "p06", "p07"}
	if !slices.Equal(ids, want) {
		f.t.Fatalf("Export listed %v, want %v (the state when it began)", ids, want)
	}
	for _, g := range got {
		if r := newest[g.Key.ID]; r != nil {
			wantSnapshot(f.t, "Export "+g.Key.ID, g.Snapshot, *r)
		}
	}
	// A later export sees the changes.
	var after []string
	if err := f.admin().Export(f.ctx, ns, func(p persistence.ListedProfile) error {
		after = append(after, p.Key.ID)
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	if want := []string{"p00", "p01", "p03", "p04", "p06", "p07", "p99"}; !slices.Equal(after, want) {
		f.t.Errorf("second Export listed %v, want %v", after, want)
	}
}

// An error from fn stops the export and comes back unchanged.
func testExportStops(f *fixture) {
	f.listFixture()
	stop := errors.New("stop here")
	calls := 0
	err := f.admin().Export(f.ctx, ns, func(persistence.ListedProfile) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		f.t.Errorf("Export = %v after %d calls, want the callback's error after 3", err, calls)
	}
}

// ListNodes reports every incarnation: live, released and lapsed, with
// the profiles each owns.
func testListNodes(f *fixture) {
	f.mustRegister("lapses", 10*time.Second)
	f.mustRegister("released", longTTL)
	live := f.mustRegister("live", longTTL)
	for i, node := range []string{"live", "live", "lapses", "released"} {
		f.mustAcquire(node, key(fmt.Sprintf("p%d", i)))
	}
	if err := f.s.ReleaseNode(f.ctx, "released"); err != nil {
		f.t.Fatal(err)
	}
	f.advance(11 * time.Second)
	nodes, err := f.admin().ListNodes(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	type want struct {
		live, released bool
		profiles       int
	}
	wants := map[string]want{"lapses": {false, false, 1}, "live": {true, false, 2}, "released": {false, true, 1}}
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
		w, ok := wants[n.ID]
		if !ok {
			continue
		}
		if n.Live != w.live || n.Released != w.released || n.Profiles != w.profiles {
			f.t.Errorf("node %s: Live %v Released %v Profiles %d, want %v %v %d",
				n.ID, n.Live, n.Released, n.Profiles, w.live, w.released, w.profiles)
		}
		if n.Address != "127.0.0.1:7000" || n.StartedAt.IsZero() || n.Now.IsZero() {
			f.t.Errorf("node %s: Address %q StartedAt %s Now %s", n.ID, n.Address, n.StartedAt, n.Now)
		}
		if n.Live != persistence.LeaseLive(n.LeaseExpiresAt, n.Now) {
			f.t.Errorf("node %s: Live %v but lease %s, now %s", n.ID, n.Live, n.LeaseExpiresAt, n.Now)
		}
	}
	if !slices.Equal(ids, []string{"lapses", "live", "released"}) {
		f.t.Errorf("ListNodes = %v, want [lapses live released]", ids)
	}
	for _, n := range nodes {
		// By the store's clock the live lease has its TTL less the 11s
		// moved and the moments the test took.
		if left := n.LeaseExpiresAt.Sub(n.Now); n.ID == "live" && (left > live.TTL()-11*time.Second || left < live.TTL()-time.Minute) {
			f.t.Errorf("live node's lease has %s left, want a little under %s", left, live.TTL()-11*time.Second)
		}
	}
}

// PruneTombstones removes ended nodes nothing names and old tombstones,
// only once they are older than the window; what it leaves still works,
// and a node it pruned owns nothing.
func testPruneTombstones(f *fixture) {
	const window = 24 * time.Hour
	pr := f.admin()
	for _, d := range []time.Duration{0, time.Hour, window - time.Millisecond} {
		_, err := pr.PruneTombstones(f.ctx, d)
		wantLimitErr(f.t, err, persistence.ErrInvalid, fmt.Sprintf("PruneTombstones(%s)", d))
	}
	f.mustRegister("released", longTTL) // owns nothing: prunable
	f.mustRegister("lapsed", longTTL)   // owns a profile: kept
	f.mustRegister("idle", longTTL)     // lapses owning nothing: prunable
	held := f.mustAcquire("lapsed", key("held"))
	f.mustSaved("lapsed", row(key("held"), held.Epoch, 1, "held"))
	old := f.saveAndDelete("released", key("old-tomb"))
	if err := f.s.ReleaseNode(f.ctx, "released"); err != nil {
		f.t.Fatal(err)
	}
	f.advance(window - time.Hour)
	f.mustRegister("late", longTTL)
	f.saveAndDelete("late", key("new-tomb"))

	got, err := pr.PruneTombstones(f.ctx, window)
	if err != nil || got != (persistence.Pruned{}) {
		f.t.Errorf("PruneTombstones before the window = %+v, %v; want nothing pruned", got, err)
	}
	f.advance(2 * time.Hour) // the first ones are 25h old, "late" lapsed 1h ago, new-tomb is 2h old
	got, err = pr.PruneTombstones(f.ctx, window)
	if err != nil || got != (persistence.Pruned{Nodes: 2, Profiles: 1}) {
		f.t.Errorf("PruneTombstones = %+v, %v; want {Nodes: 2 Profiles: 1}", got, err)
	}
	nodes, err := pr.ListNodes(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	if !slices.Equal(ids, []string{"lapsed", "late"}) {
		f.t.Errorf("nodes after pruning: %v, want [lapsed late]", ids)
	}
	// The node still named by a profile is kept, so its stale write is
	// still judged against it (fenced once someone takes the profile).
	f.mustRegister("taker", longTTL)
	taken := f.mustAcquire("taker", key("held"))
	if taken.PreviousOwner != "lapsed" {
		f.t.Errorf("takeover PreviousOwner = %q, want \"lapsed\"", taken.PreviousOwner)
	}
	wantResult(f.t, f.saveOne("lapsed", row(key("held"), held.Epoch, 2, "stale")),
		persistence.SaveResult{Key: key("held"), Outcome: persistence.SaveFenced, Epoch: taken.Epoch, Seq: 1})
	// The young tombstone still continues its epochs; the pruned one
	// starts again at 1 (the documented trade-off).
	_, err = f.s.Holder(f.ctx, key("old-tomb"))
	wantErr(f.t, err, persistence.ErrNotFound, "Holder of a pruned tombstone")
	if a := f.mustAcquire("taker", key("old-tomb")); !a.Created || a.Epoch != 1 {
		f.t.Errorf("re-created after pruning: Created %v Epoch %d, want true 1 (was %d before)", a.Created, a.Epoch, old)
	}
	if a := f.mustAcquire("taker", key("new-tomb")); !a.Created || a.Epoch != 2 {
		f.t.Errorf("re-created from a kept tombstone: Created %v Epoch %d, want true 2", a.Created, a.Epoch)
	}
	// A pruned, released id holds no lease.
	_, err = f.s.RenewNode(f.ctx, "released", time.Minute)
	wantErr(f.t, err, persistence.ErrLeaseExpired, "RenewNode of a pruned node")
}
