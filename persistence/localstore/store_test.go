package localstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	bolt "go.etcd.io/bbolt"

	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/storetest"
)

// TestContract runs the persistence contract suite against both engines.
func TestContract(t *testing.T) {
	t.Run("bolt", func(t *testing.T) { storetest.Run(t, harness{bolt: true}) })
	t.Run("memory", func(t *testing.T) { storetest.Run(t, harness{}) })
}

// harness gives the contract suite fresh stores, each with its own fake
// clock; Advance moves that clock.
type harness struct{ bolt bool }

func (h harness) New(t *testing.T, limits persistence.Limits) persistence.Store {
	opts := Options{Limits: limits, Clock: clockwork.NewFakeClock(), NoSync: true}
	s := OpenMemory(opts)
	if h.bolt {
		var err error
		if s, err = Open(filepath.Join(t.TempDir(), "hearth.db"), opts); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func (harness) Advance(t *testing.T, s persistence.Store, d time.Duration) {
	t.Helper()
	fc, ok := s.(*Store).clock.(*clockwork.FakeClock)
	if !ok {
		t.Fatalf("store clock is %T, not a fake clock", s.(*Store).clock)
	}
	fc.Advance(d)
}

// testStore is a store under test with its fake clock.
type testStore struct {
	*Store
	clock *clockwork.FakeClock
}

// stores returns a fresh store of each engine, closed at cleanup.
func stores(t *testing.T, limits persistence.Limits) map[string]testStore {
	t.Helper()
	out := map[string]testStore{}
	for _, name := range []string{"bolt", "memory"} {
		clock := clockwork.NewFakeClock()
		opts := Options{Limits: limits, Clock: clock, NoSync: true}
		var s *Store
		if name == "bolt" {
			var err error
			if s, err = Open(filepath.Join(t.TempDir(), "sub", "dir", "hearth.db"), opts); err != nil {
				t.Fatal(err)
			}
		} else {
			s = OpenMemory(opts)
		}
		t.Cleanup(func() { _ = s.Close() })
		out[name] = testStore{s, clock}
	}
	return out
}

var ctx = context.Background()

func pk(id string) persistence.ProfileKey { return persistence.ProfileKey{Namespace: "game", ID: id} }

func (s testStore) register(t *testing.T, id string) {
	t.Helper()
	if _, err := s.RegisterNode(ctx, persistence.NodeInfo{ID: id, Address: "host:1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
}

func (s testStore) acquire(t *testing.T, node string, k persistence.ProfileKey) persistence.Acquired {
	t.Helper()
	a, err := s.Acquire(ctx, node, k)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (s testStore) save(t *testing.T, node string, rows ...persistence.SaveRow) []persistence.SaveResult {
	t.Helper()
	res, err := s.Save(ctx, node, rows)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (s testStore) seqs(t *testing.T, k persistence.ProfileKey) []int64 {
	t.Helper()
	vs, err := s.Versions(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, v := range vs {
		out = append(out, v.Seq)
	}
	return out
}

func saveRow(k persistence.ProfileKey, epoch, seq int64, recs ...persistence.Record) persistence.SaveRow {
	return persistence.SaveRow{Key: k, Epoch: epoch, Seq: seq, SchemaVersion: 1,
		Document: []byte(fmt.Sprintf(`{"seq":%d}`, seq)), Records: recs}
}

func TestRetention(t *testing.T) {
	for name, s := range stores(t, persistence.Limits{HistoryDepth: 3}) {
		t.Run(name, func(t *testing.T) {
			s.register(t, "n")
			p, q := pk("p"), pk("p1") // q's keys share p's bytes up to the separator
			a := s.acquire(t, "n", p)
			aq := s.acquire(t, "n", q)
			s.save(t, "n", saveRow(q, aq.Epoch, 1))
			for seq := int64(1); seq <= 6; seq++ {
				s.save(t, "n", saveRow(p, a.Epoch, seq))
				want := []int64{}
				for i := seq; i >= 1 && i > seq-3; i-- {
					want = append(want, i)
				}
				if got := s.seqs(t, p); !reflect.DeepEqual(got, want) {
					t.Errorf("after seq %d: versions %v, want %v", seq, got, want)
				}
			}
			// Skipping seqs keeps the newest three all the same.
			s.save(t, "n", saveRow(p, a.Epoch, 9))
			if got := s.seqs(t, p); !reflect.DeepEqual(got, []int64{9, 6, 5}) {
				t.Errorf("after skipping to 9: versions %v, want [9 6 5]", got)
			}
			if _, err := s.Version(ctx, p, 4); !errors.Is(err, persistence.ErrNotFound) {
				t.Errorf("Version(4) after retention = %v, want ErrNotFound", err)
			}
			// The neighbouring profile is untouched.
			if got := s.seqs(t, q); !reflect.DeepEqual(got, []int64{1}) {
				t.Errorf("neighbour versions %v, want [1]", got)
			}
		})
	}
}

func TestRecordsPaging(t *testing.T) {
	for name, s := range stores(t, persistence.Limits{}) {
		t.Run(name, func(t *testing.T) {
			s.register(t, "n")
			p := pk("p")
			a := s.acquire(t, "n", p)
			r := func(k string) persistence.Record { return persistence.Record{Key: k, Result: []byte("r-" + k)} }
			s.save(t, "n", saveRow(p, a.Epoch, 1, r("b"), r("a")))
			s.save(t, "n", saveRow(p, a.Epoch, 2))
			// "a" again: the first result stands, and it stays at seq 1.
			s.save(t, "n", saveRow(p, a.Epoch, 3, r("c"), persistence.Record{Key: "a", Result: []byte("second")}, r("0")))
			// A neighbour's records never show up.
			aq := s.acquire(t, "n", pk("p0"))
			s.save(t, "n", saveRow(pk("p0"), aq.Epoch, 1, r("x")))

			all := []string{"1/a", "1/b", "3/0", "3/c"}
			page := func(q persistence.RecordQuery) []string {
				recs, err := s.Records(ctx, p, q)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, rec := range recs {
					if rec.Profile != p || rec.CreatedAt.IsZero() || string(rec.Result) != "r-"+rec.Key {
						t.Errorf("record %+v", rec)
					}
					out = append(out, fmt.Sprintf("%d/%s", rec.Seq, rec.Key))
				}
				return out
			}
			if got := page(persistence.RecordQuery{}); !reflect.DeepEqual(got, all) {
				t.Errorf("all records = %v, want %v", got, all)
			}
			// Page by 1, continuing from the last record each time.
			var got []string
			q := persistence.RecordQuery{Limit: 1}
			for i := 0; i < 10; i++ {
				pg := page(q)
				if len(pg) == 0 {
					break
				}
				got = append(got, pg...)
				fmt.Sscanf(strings.Replace(pg[0], "/", " ", 1), "%d %s", &q.AfterSeq, &q.AfterKey)
			}
			if !reflect.DeepEqual(got, all) {
				t.Errorf("paged records = %v, want %v", got, all)
			}
			// AfterSeq alone starts after every record of that seq? No: (1, "")
			// is before (1, "a"), so it starts at seq 1's first record.
			if got := page(persistence.RecordQuery{AfterSeq: 1}); !reflect.DeepEqual(got, all) {
				t.Errorf("after (1, \"\") = %v, want %v", got, all)
			}
			if got := page(persistence.RecordQuery{AfterSeq: 2}); !reflect.DeepEqual(got, all[2:]) {
				t.Errorf("after (2, \"\") = %v, want %v", got, all[2:])
			}
			if got := page(persistence.RecordQuery{AfterSeq: 1, AfterKey: "b"}); !reflect.DeepEqual(got, all[2:]) {
				t.Errorf("after (1, b) = %v, want %v", got, all[2:])
			}
			rec, err := s.Record(ctx, p, "a")
			if err != nil || string(rec.Result) != "r-a" || rec.Seq != 1 {
				t.Errorf("Record(a) = %+v, %v; want the first result at seq 1", rec, err)
			}
			if _, err := s.Record(ctx, p, "x"); !errors.Is(err, persistence.ErrNotFound) {
				t.Errorf("Record(neighbour's key) = %v, want ErrNotFound", err)
			}
			if _, err := s.Record(ctx, p, "bad key"); !errors.Is(err, persistence.ErrInvalid) {
				t.Errorf("Record(invalid key) = %v, want ErrInvalid", err)
			}
		})
	}
}

// Deleting leaves a tombstone: the profile is gone for every read and
// write, yet a later Acquire issues an epoch greater than any before, so an
// activation from before the delete stays fenced.
func TestDeleteTombstoneKeepsEpochsIncreasing(t *testing.T) {
	for name, s := range stores(t, persistence.Limits{}) {
		t.Run(name, func(t *testing.T) {
			s.register(t, "n")
			p := pk("p")
			a1 := s.acquire(t, "n", p)
			a2 := s.acquire(t, "n", p)
			s.save(t, "n", saveRow(p, a2.Epoch, 1, persistence.Record{Key: "r", Result: []byte("x")}))
			if err := s.Delete(ctx, "n", p, a2.Epoch); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Holder(ctx, p); !errors.Is(err, persistence.ErrNotFound) {
				t.Errorf("Holder after delete = %v, want ErrNotFound", err)
			}
			if _, err := s.Versions(ctx, p); !errors.Is(err, persistence.ErrNotFound) {
				t.Errorf("Versions after delete = %v, want ErrNotFound", err)
			}
			if _, err := s.Record(ctx, p, "r"); !errors.Is(err, persistence.ErrNotFound) {
				t.Errorf("Record after delete = %v, want ErrNotFound", err)
			}
			if recs, err := s.Records(ctx, p, persistence.RecordQuery{}); err != nil || len(recs) != 0 {
				t.Errorf("Records after delete = %v, %v", recs, err)
			}
			if res := s.save(t, "n", saveRow(p, a2.Epoch, 2)); res[0].Outcome != persistence.SaveGone || res[0].Epoch != 0 {
				t.Errorf("save after delete = %+v, want gone", res[0])
			}
			if err := s.Release(ctx, "n", p, a2.Epoch); !errors.Is(err, persistence.ErrNotFound) {
				t.Errorf("Release after delete = %v, want ErrNotFound", err)
			}
			if err := s.Delete(ctx, "n", p, a2.Epoch); !errors.Is(err, persistence.ErrNotFound) {
				t.Errorf("Delete after delete = %v, want ErrNotFound", err)
			}

			a3 := s.acquire(t, "n", p)
			if !a3.Created || a3.Snapshot != nil || a3.PreviousOwner != "" || a3.Epoch != a2.Epoch+1 {
				t.Errorf("acquire after delete = %+v, want Created, epoch %d", a3, a2.Epoch+1)
			}
			for _, old := range []int64{a1.Epoch, a2.Epoch} {
				if res := s.save(t, "n", saveRow(p, old, 1)); res[0].Outcome != persistence.SaveFenced {
					t.Errorf("save at pre-delete epoch %d = %+v, want fenced", old, res[0])
				}
			}
			if res := s.save(t, "n", saveRow(p, a3.Epoch, 1)); res[0].Outcome != persistence.SaveSaved {
				t.Errorf("save of the recreated profile = %+v", res[0])
			}
			if recs, _ := s.Records(ctx, p, persistence.RecordQuery{}); len(recs) != 0 {
				t.Errorf("records of the recreated profile = %v, want none", recs)
			}
		})
	}
}

// faultyEngine fails the nth Put of its Updates.
type faultyEngine struct {
	kvEngine
	failAt int
	puts   int
}

var errInjected = errors.New("injected write failure")

func (e *faultyEngine) Update(fn func(kvTx) error) error {
	return e.kvEngine.Update(func(tx kvTx) error { return fn(faultyTx{tx, e}) })
}

type faultyTx struct {
	kvTx
	e *faultyEngine
}

func (t faultyTx) Put(bucket, key, val []byte) error {
	t.e.puts++
	if t.e.puts == t.e.failAt {
		return errInjected
	}
	return t.kvTx.Put(bucket, key, val)
}

// A Save batch is all or nothing: a write failing in the middle of the
// third row leaves the first two rows unsaved too.
func TestSaveBatchAtomicOnWriteFailure(t *testing.T) {
	clock := clockwork.NewFakeClock()
	eng := &faultyEngine{kvEngine: newMemEngine()}
	s := testStore{newStore(eng, Options{Clock: clock}), clock}
	s.register(t, "n")
	var rows []persistence.SaveRow
	for i := 0; i < 3; i++ {
		k := pk(fmt.Sprint("p", i))
		a := s.acquire(t, "n", k)
		rows = append(rows, saveRow(k, a.Epoch, 1, persistence.Record{Key: "r", Result: []byte("x")}))
	}
	// Each saved row puts profile, snapshot, record, index: fail the
	// third row's snapshot.
	eng.puts, eng.failAt = 0, 4+4+2
	if res, err := s.Save(ctx, "n", rows); !errors.Is(err, errInjected) || res != nil {
		t.Fatalf("Save = %v, %v; want nil, the injected error", res, err)
	}
	for _, r := range rows {
		h, err := s.Holder(ctx, r.Key)
		if err != nil || h.Seq != 0 {
			t.Errorf("Holder(%s) = %+v, %v; want seq 0", r.Key, h, err)
		}
		if vs := s.seqs(t, r.Key); len(vs) != 0 {
			t.Errorf("versions of %s = %v, want none", r.Key, vs)
		}
		if _, err := s.Record(ctx, r.Key, "r"); !errors.Is(err, persistence.ErrNotFound) {
			t.Errorf("Record(%s) = %v, want ErrNotFound", r.Key, err)
		}
	}
	// With the fault gone the same batch saves whole.
	eng.failAt = -1
	for i, res := range s.save(t, "n", rows...) {
		if res.Outcome != persistence.SaveSaved {
			t.Errorf("row %d: %+v", i, res)
		}
	}
}

// Rows of one batch are judged independently, in order.
func TestSaveMixedOutcomes(t *testing.T) {
	for name, s := range stores(t, persistence.Limits{}) {
		t.Run(name, func(t *testing.T) {
			s.register(t, "n")
			s.register(t, "m")
			saved, fenced, superseded, gone := pk("saved"), pk("fenced"), pk("superseded"), pk("gone")
			as := s.acquire(t, "n", saved)
			af := s.acquire(t, "n", fenced)
			if err := s.Release(ctx, "n", fenced, af.Epoch); err != nil {
				t.Fatal(err)
			}
			mf := s.acquire(t, "m", fenced)
			asup := s.acquire(t, "n", superseded)
			s.save(t, "n", saveRow(superseded, asup.Epoch, 5))
			res := s.save(t, "n",
				saveRow(saved, as.Epoch, 1),
				saveRow(fenced, af.Epoch, 1),
				saveRow(superseded, asup.Epoch, 5),
				saveRow(gone, 1, 1),
			)
			want := []persistence.SaveResult{
				{Key: saved, Outcome: persistence.SaveSaved, Epoch: as.Epoch, Seq: 1},
				{Key: fenced, Outcome: persistence.SaveFenced, Epoch: mf.Epoch, Seq: 0},
				{Key: superseded, Outcome: persistence.SaveSuperseded, Epoch: asup.Epoch, Seq: 5},
				{Key: gone, Outcome: persistence.SaveGone},
			}
			if !reflect.DeepEqual(res, want) {
				t.Errorf("results = %+v\nwant %+v", res, want)
			}
			// Release in a save leaves the profile unowned.
			s.save(t, "n", persistence.SaveRow{Key: saved, Epoch: as.Epoch, Seq: 2, Release: true})
			h, err := s.Holder(ctx, saved)
			if err != nil || h.Node != "" || h.Live || !h.LeaseExpiresAt.IsZero() || h.Seq != 2 {
				t.Errorf("Holder after release-save = %+v, %v", h, err)
			}
		})
	}
}

// Leases are judged by the store's clock.
func TestLeaseByStoreClock(t *testing.T) {
	for name, s := range stores(t, persistence.Limits{}) {
		t.Run(name, func(t *testing.T) {
			l, err := s.RegisterNode(ctx, persistence.NodeInfo{ID: "a"}, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !l.Now.Equal(s.clock.Now()) || l.TTL() != 10*time.Second {
				t.Errorf("lease %+v at clock %s", l, s.clock.Now())
			}
			s.register(t, "b")
			p := pk("p")
			s.acquire(t, "a", p)
			s.clock.Advance(10*time.Second - 1)
			var he *persistence.HeldError
			if _, err := s.Acquire(ctx, "b", p); !errors.As(err, &he) || he.Remaining() != 1 {
				t.Fatalf("Acquire 1ns before expiry = %v", err)
			}
			s.clock.Advance(1)
			h, _ := s.Holder(ctx, p)
			if h.Live || !h.LeaseExpiresAt.Equal(l.ExpiresAt) {
				t.Errorf("Holder at expiry = %+v", h)
			}
			if a := s.acquire(t, "b", p); a.PreviousOwner != "a" {
				t.Errorf("takeover = %+v", a)
			}
			// Releasing a node makes its lease unknown: zero expiry.
			if err := s.ReleaseNode(ctx, "b"); err != nil {
				t.Fatal(err)
			}
			if h, _ := s.Holder(ctx, p); h.Node != "b" || h.Live || !h.LeaseExpiresAt.IsZero() {
				t.Errorf("Holder after ReleaseNode = %+v", h)
			}
		})
	}
}

func TestCanceledContext(t *testing.T) {
	for name, s := range stores(t, persistence.Limits{}) {
		t.Run(name, func(t *testing.T) {
			c, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := s.RegisterNode(c, persistence.NodeInfo{ID: "a"}, time.Hour); !errors.Is(err, context.Canceled) {
				t.Errorf("RegisterNode = %v", err)
			}
			// Nothing was registered.
			s.register(t, "a")
			if _, err := s.Acquire(c, "a", pk("p")); !errors.Is(err, context.Canceled) {
				t.Errorf("Acquire = %v", err)
			}
			if _, err := s.Save(c, "a", []persistence.SaveRow{saveRow(pk("p"), 1, 1)}); !errors.Is(err, context.Canceled) {
				t.Errorf("Save = %v", err)
			}
			if _, err := s.Holder(c, pk("p")); !errors.Is(err, context.Canceled) {
				t.Errorf("Holder = %v", err)
			}
		})
	}
}

func TestClosedStore(t *testing.T) {
	for name, s := range stores(t, persistence.Limits{}) {
		t.Run(name, func(t *testing.T) {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close = %v", err)
			}
			if _, err := s.RegisterNode(ctx, persistence.NodeInfo{ID: "a"}, time.Hour); err == nil {
				t.Error("RegisterNode on a closed store succeeded")
			}
			if _, err := s.Holder(ctx, pk("p")); err == nil || errors.Is(err, persistence.ErrNotFound) {
				t.Errorf("Holder on a closed store = %v", err)
			}
		})
	}
}

func TestBoltReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	clock := clockwork.NewFakeClock()
	s, err := Open(path, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ts := testStore{s, clock}
	ts.register(t, "n")
	p := pk("p")
	a := ts.acquire(t, "n", p)
	ts.save(t, "n", saveRow(p, a.Epoch, 1, persistence.Record{Key: "r", Result: []byte("ok")}))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.Holder(ctx, p)
	if err != nil || h.Node != "n" || h.Epoch != a.Epoch || h.Seq != 1 || !h.Live {
		t.Errorf("Holder after reopen = %+v, %v", h, err)
	}
	snap, err := s.Version(ctx, p, 1)
	if err != nil || string(snap.Document) != `{"seq":1}` || !snap.SavedAt.Equal(clock.Now()) {
		t.Errorf("Version after reopen = %+v, %v", snap, err)
	}
	if _, err := s.RegisterNode(ctx, persistence.NodeInfo{ID: "n"}, time.Hour); !errors.Is(err, persistence.ErrInvalid) {
		t.Errorf("re-register after reopen = %v, want ErrInvalid", err)
	}
}

// A second Open of a file in use fails after the lock timeout with a clear
// error instead of hanging. (flock locks conflict between open files even in
// one process, so this needs no second process.)
func TestBoltSecondOpenFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	s2, err := Open(path, Options{NoSync: true})
	if err == nil {
		s2.Close()
		t.Fatal("second Open succeeded")
	}
	if !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("second Open = %v", err)
	}
	if d := time.Since(start); d > 10*lockTimeout {
		t.Errorf("second Open took %s", d)
	}
}

func TestBoltRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()

	// A file of another schema version.
	path := filepath.Join(dir, "future.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaSchemaKey, []byte{0, 0, 0, 2})
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(path, Options{}); !errors.Is(err, errSchemaVersion) {
		t.Errorf("Open(schema 2) = %v, want errSchemaVersion", err)
	}

	// Some other program's bbolt file.
	path = filepath.Join(dir, "other.db")
	db, err = bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "not a hearth local store") {
		t.Errorf("Open(foreign file) = %v", err)
	}
}

func TestLimitsDefaults(t *testing.T) {
	s := OpenMemory(Options{Limits: persistence.Limits{HistoryDepth: 2}})
	defer s.Close()
	want := persistence.DefaultLimits()
	want.HistoryDepth = 2
	if got := s.Limits(); got != want {
		t.Errorf("Limits = %+v, want %+v", got, want)
	}
}
