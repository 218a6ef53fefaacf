// Package storetest is the contract suite every persistence.Store
// implementation must pass. A store's own tests plug it in with a Harness:
//
//	func TestContract(t *testing.T) { storetest.Run(t, myHarness{...}) }
//
// The suite never sleeps and never relies on how fast the wall clock moves:
// lease time is moved with Harness.Advance, and the only real time that
// passes is the few milliseconds the test itself takes. A store judged by a
// real database clock therefore passes as reliably as one with a fake clock.
//
// Every subtest gets its own fresh store from Harness.New, and the subtests
// run in parallel (bounded by go test -parallel), so New and Advance must be
// safe to call from several goroutines at once for different stores.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// Harness gives the suite fresh stores and control over lease time.
type Harness interface {
	// New returns a fresh, empty store enforcing limits (zero fields = defaults), closed by the harness via t.Cleanup.
	New(t *testing.T, limits persistence.Limits) persistence.Store
	// Advance moves the store's clock forward by d without sleeping: every lease and every stored time judged afterwards (snapshot ages for retention) is judged as if d had elapsed (the SQL store does it by moving lease expiries and stored timestamps back by d; local stores advance their fake clock).
	Advance(t *testing.T, s persistence.Store, d time.Duration)
}

// Run runs every contract test as subtests (t.Run), each on its own fresh store.
func Run(t *testing.T, h Harness) {
	areas := []struct {
		name  string
		tests []contractTest
	}{
		{"Leases", leaseTests()},
		{"Ownership", ownershipTests()},
		{"AcquireBatch", acquireBatchTests()},
		{"Saves", saveTests()},
		{"Records", recordTests()},
		{"History", historyTests()},
		{"Deletes", deleteTests()},
		{"Limits", limitTests()},
		{"Admin", adminTests()},
	}
	for _, area := range areas {
		t.Run(area.name, func(t *testing.T) {
			for _, tc := range area.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(newFixture(t, h, tc.limits))
				})
			}
		})
	}
}

// contractTest is one named subtest. limits are passed to Harness.New.
type contractTest struct {
	name   string
	limits persistence.Limits
	run    func(f *fixture)
}

const (
	// testTimeout bounds every subtest, so a store that deadlocks fails the
	// test instead of hanging the whole run.
	testTimeout = 2 * time.Minute
	// longTTL is a lease that cannot lapse during a test unless Advance
	// moves it past its end.
	longTTL = time.Hour
	// ttlSlack is how far a granted lease may differ from the ttl asked for:
	// leases are whole milliseconds.
	ttlSlack = time.Millisecond
	// ns is the namespace of every profile the suite creates.
	ns = "storetest"
)

// fixture is one subtest's store plus the helpers that use it. The helpers
// fail the test on any unexpected error, so the tests read as a sequence of
// steps and the interesting assertions stand out.
type fixture struct {
	t   *testing.T
	h   Harness
	s   persistence.Store
	ctx context.Context
}

func newFixture(t *testing.T, h Harness, limits persistence.Limits) *fixture {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	s := h.New(t, limits)
	if s == nil {
		t.Fatal("Harness.New returned a nil store")
	}
	return &fixture{t: t, h: h, s: s, ctx: ctx}
}

// with returns the fixture for a nested subtest on the same store.
func (f *fixture) with(t *testing.T) *fixture {
	g := *f
	g.t = t
	return &g
}

// key names a profile in the suite's namespace.
func key(id string) persistence.ProfileKey {
	return persistence.ProfileKey{Namespace: ns, ID: id}
}

func (f *fixture) advance(d time.Duration) {
	f.t.Helper()
	f.h.Advance(f.t, f.s, d)
}

// mustRegister registers node id with ttl and checks the granted lease.
func (f *fixture) mustRegister(id string, ttl time.Duration) persistence.Lease {
	f.t.Helper()
	l, err := f.s.RegisterNode(f.ctx, persistence.NodeInfo{ID: id, Address: "127.0.0.1:7000"}, ttl)
	if err != nil {
		f.t.Fatalf("RegisterNode(%q, %s): %v", id, ttl, err)
	}
	checkLease(f.t, l, id, ttl)
	return l
}

// checkLease checks a granted lease names the node and lasts ttl.
func checkLease(t *testing.T, l persistence.Lease, id string, ttl time.Duration) {
	t.Helper()
	if l.NodeID != id {
		t.Errorf("lease NodeID = %q, want %q", l.NodeID, id)
	}
	if l.Now.IsZero() || l.ExpiresAt.IsZero() {
		t.Errorf("lease has zero times: %+v", l)
	}
	if d := l.TTL() - ttl; d < -ttlSlack || d > ttlSlack {
		t.Errorf("lease ExpiresAt-Now = %s, want %s (±%s)", l.TTL(), ttl, ttlSlack)
	}
}

// mustAcquire takes k for node and checks the result's key.
func (f *fixture) mustAcquire(node string, k persistence.ProfileKey) persistence.Acquired {
	f.t.Helper()
	a, err := f.s.Acquire(f.ctx, node, k)
	if err != nil {
		f.t.Fatalf("Acquire(%q, %s): %v", node, k, err)
	}
	if a.Key != k {
		f.t.Errorf("Acquire(%q, %s).Key = %s", node, k, a.Key)
	}
	if a.Epoch <= 0 {
		f.t.Errorf("Acquire(%q, %s).Epoch = %d, want > 0", node, k, a.Epoch)
	}
	if a.Created && a.Snapshot != nil {
		f.t.Errorf("Acquire(%q, %s): Created with a snapshot %+v", node, k, *a.Snapshot)
	}
	return a
}

// mustHeld expects Acquire to be refused with a *HeldError naming holder at
// epoch, and returns it.
func (f *fixture) mustHeld(node string, k persistence.ProfileKey, holder string, epoch int64) *persistence.HeldError {
	f.t.Helper()
	_, err := f.s.Acquire(f.ctx, node, k)
	he := wantHeld(f.t, err, k, holder)
	if he != nil && he.Epoch != epoch {
		f.t.Errorf("HeldError.Epoch = %d, want %d", he.Epoch, epoch)
	}
	return he
}

// wantHeld checks err is a *HeldError for k naming holder.
func wantHeld(t *testing.T, err error, k persistence.ProfileKey, holder string) *persistence.HeldError {
	t.Helper()
	if !errors.Is(err, persistence.ErrHeld) {
		t.Errorf("Acquire(%s): err = %v, want ErrHeld", k, err)
	}
	var he *persistence.HeldError
	if !errors.As(err, &he) {
		t.Errorf("Acquire(%s): err = %v, want a *HeldError", k, err)
		return nil
	}
	if he.Key != k || he.Holder != holder {
		t.Errorf("HeldError{Key: %s, Holder: %q}, want {Key: %s, Holder: %q}", he.Key, he.Holder, k, holder)
	}
	return he
}

// wantRemaining checks a HeldError's lease remainder lies in (0, max].
func wantRemaining(t *testing.T, he *persistence.HeldError, max time.Duration) {
	t.Helper()
	if he == nil {
		return
	}
	if r := he.Remaining(); r <= 0 || r > max {
		t.Errorf("HeldError.Remaining() = %s, want in (0, %s]", r, max)
	}
}

// row builds a SaveRow with a text document.
func row(k persistence.ProfileKey, epoch, seq int64, doc string, recs ...persistence.Record) persistence.SaveRow {
	return persistence.SaveRow{Key: k, Epoch: epoch, Seq: seq, SchemaVersion: 1, Document: []byte(doc), Records: recs}
}

// rec builds a Record with a text result.
func rec(k, result string) persistence.Record {
	return persistence.Record{Key: k, Result: []byte(result)}
}

// mustSave saves rows in one batch and checks the results are one per row,
// in order.
func (f *fixture) mustSave(node string, rows ...persistence.SaveRow) []persistence.SaveResult {
	f.t.Helper()
	res, err := f.s.Save(f.ctx, node, rows)
	if err != nil {
		f.t.Fatalf("Save(%q, %d rows): %v", node, len(rows), err)
	}
	if len(res) != len(rows) {
		f.t.Fatalf("Save(%q, %d rows) returned %d results", node, len(rows), len(res))
	}
	for i := range rows {
		if res[i].Key != rows[i].Key {
			f.t.Errorf("Save result %d has key %s, want %s (results must be in row order)", i, res[i].Key, rows[i].Key)
		}
	}
	return res
}

// saveOne saves one row and returns its result.
func (f *fixture) saveOne(node string, r persistence.SaveRow) persistence.SaveResult {
	f.t.Helper()
	return f.mustSave(node, r)[0]
}

// mustSaved saves one row and expects it to be saved.
func (f *fixture) mustSaved(node string, r persistence.SaveRow) {
	f.t.Helper()
	wantResult(f.t, f.saveOne(node, r), persistence.SaveResult{Key: r.Key, Outcome: persistence.SaveSaved, Epoch: r.Epoch, Seq: r.Seq})
}

// wantResult compares one save result exactly.
func wantResult(t *testing.T, got, want persistence.SaveResult) {
	t.Helper()
	if got != want {
		t.Errorf("save result for %s = {%s epoch %d seq %d}, want {%s epoch %d seq %d}",
			want.Key, got.Outcome, got.Epoch, got.Seq, want.Outcome, want.Epoch, want.Seq)
	}
}

// mustHolder reads the holder of k.
func (f *fixture) mustHolder(k persistence.ProfileKey) persistence.Holder {
	f.t.Helper()
	h, err := f.s.Holder(f.ctx, k)
	if err != nil {
		f.t.Fatalf("Holder(%s): %v", k, err)
	}
	if h.Key != k {
		f.t.Errorf("Holder(%s).Key = %s", k, h.Key)
	}
	if h.Now.IsZero() {
		f.t.Errorf("Holder(%s).Now is zero", k)
	}
	if h.Live != persistence.LeaseLive(h.LeaseExpiresAt, h.Now) {
		f.t.Errorf("Holder(%s).Live = %v, but LeaseExpiresAt %s vs Now %s", k, h.Live, h.LeaseExpiresAt, h.Now)
	}
	return h
}

// wantOwned checks k is owned by node at epoch with a live lease and seq as
// its newest snapshot.
func (f *fixture) wantOwned(k persistence.ProfileKey, node string, epoch, seq int64) persistence.Holder {
	f.t.Helper()
	h := f.mustHolder(k)
	if h.Node != node || h.Epoch != epoch || h.Seq != seq || !h.Live {
		f.t.Errorf("Holder(%s) = {Node %q Epoch %d Seq %d Live %v}, want {Node %q Epoch %d Seq %d Live true}",
			k, h.Node, h.Epoch, h.Seq, h.Live, node, epoch, seq)
	}
	return h
}

// wantUnowned checks k exists, has no owner and seq as its newest snapshot.
func (f *fixture) wantUnowned(k persistence.ProfileKey, seq int64) {
	f.t.Helper()
	h := f.mustHolder(k)
	if h.Node != "" || h.Live || !h.LeaseExpiresAt.IsZero() || h.Seq != seq {
		f.t.Errorf("Holder(%s) = {Node %q Live %v LeaseExpiresAt %s Seq %d}, want unowned {Node \"\" Live false LeaseExpiresAt zero Seq %d}",
			k, h.Node, h.Live, h.LeaseExpiresAt, h.Seq, seq)
	}
}

// wantSnapshot checks a snapshot against the row that wrote it.
func wantSnapshot(t *testing.T, what string, got *persistence.Snapshot, want persistence.SaveRow) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: snapshot is nil, want seq %d", what, want.Seq)
		return
	}
	if got.Key != want.Key || got.Seq != want.Seq || got.Epoch != want.Epoch || got.SchemaVersion != want.SchemaVersion ||
		!bytes.Equal(got.Document, want.Document) {
		t.Errorf("%s: snapshot {Key %s Seq %d Epoch %d Schema %d Doc %q}, want {Key %s Seq %d Epoch %d Schema %d Doc %q}",
			what, got.Key, got.Seq, got.Epoch, got.SchemaVersion, short(got.Document),
			want.Key, want.Seq, want.Epoch, want.SchemaVersion, short(want.Document))
	}
	if got.SavedAt.IsZero() {
		t.Errorf("%s: snapshot SavedAt is zero", what)
	}
}

// wantVersion reads snapshot seq of k and checks it against the row that
// wrote it.
func (f *fixture) wantVersion(k persistence.ProfileKey, want persistence.SaveRow) {
	f.t.Helper()
	s, err := f.s.Version(f.ctx, k, want.Seq)
	if err != nil {
		f.t.Errorf("Version(%s, %d): %v", k, want.Seq, err)
		return
	}
	wantSnapshot(f.t, fmt.Sprintf("Version(%s, %d)", k, want.Seq), &s, want)
}

// wantRecord reads record rk of k and checks its result and seq.
func (f *fixture) wantRecord(k persistence.ProfileKey, rk, result string, seq int64) {
	f.t.Helper()
	r, err := f.s.Record(f.ctx, k, rk)
	if err != nil {
		f.t.Errorf("Record(%s, %q): %v", k, rk, err)
		return
	}
	if r.Profile != k || r.Key != rk || string(r.Result) != result || r.Seq != seq {
		f.t.Errorf("Record(%s, %q) = {Profile %s Key %q Result %q Seq %d}, want {Profile %s Key %q Result %q Seq %d}",
			k, rk, r.Profile, r.Key, short(r.Result), r.Seq, k, rk, result, seq)
	}
	if r.CreatedAt.IsZero() {
		f.t.Errorf("Record(%s, %q).CreatedAt is zero", k, rk)
	}
}

// wantNoRecord checks record rk of k does not exist.
func (f *fixture) wantNoRecord(k persistence.ProfileKey, rk string) {
	f.t.Helper()
	r, err := f.s.Record(f.ctx, k, rk)
	wantErr(f.t, err, persistence.ErrNotFound, fmt.Sprintf("Record(%s, %q) (got %+v)", k, rk, r))
}

// wantErr checks errors.Is(err, target).
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

// wantLimitErr checks err is a *persistence.LimitError of kind (ErrInvalid
// or ErrTooLarge).
func wantLimitErr(t *testing.T, err, kind error, what string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: err = %v, want %v", what, err, kind)
		return
	}
	var le *persistence.LimitError
	if !errors.As(err, &le) {
		t.Errorf("%s: err = %v (%T), want it to wrap a *persistence.LimitError", what, err, err)
	}
}

// quote quotes an id for a message; ids under test may hold control bytes.
func quote(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

// short trims a document for an error message.
func short(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%s...(%d bytes)", b[:40], len(b))
	}
	return string(b)
}
