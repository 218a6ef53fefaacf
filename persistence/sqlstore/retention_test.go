package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// TestRetainedListMatchesSnapshots: whatever happens to a profile (saves
// under changing policies, superseded retries, fenced saves of an old
// epoch, a list lost as on a database from before the list existed, erase
// and re-create), the list on its row names exactly the snapshots stored,
// with their saved_at in milliseconds.
func TestRetainedListMatchesSnapshots(t *testing.T) {
	s := openTestStore(t, persistence.Limits{HistoryDepth: 4})
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, persistence.NodeInfo{ID: "n"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	k := persistence.ProfileKey{Namespace: "g", ID: "p"}
	acq, err := s.Acquire(ctx, "n", k)
	if err != nil {
		t.Fatal(err)
	}
	epoch, seq := acq.Epoch, int64(0)
	save := func(e, sq int64, pol persistence.Retention) persistence.SaveOutcome {
		t.Helper()
		res, err := s.Save(ctx, "n", []persistence.SaveRow{{Key: k, Epoch: e, Seq: sq, Document: []byte("{}"), Retention: pol}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Outcome
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for step := 0; step < 80; step++ {
		pol := persistence.Retention{Keep: rng.IntN(5), Interval: []time.Duration{0, time.Second, time.Minute}[rng.IntN(3)]}
		what := ""
		switch op := rng.IntN(10); {
		case op < 5 || seq == 0:
			seq += 1 + int64(rng.IntN(2))
			if got := save(epoch, seq, pol); got != persistence.SaveSaved {
				t.Fatalf("step %d: save %d: %s", step, seq, got)
			}
			what = "save"
		case op == 5:
			if got := save(epoch, seq, pol); got != persistence.SaveSuperseded {
				t.Fatalf("step %d: retry of %d: %s", step, seq, got)
			}
			what = "superseded retry"
		case op == 6:
			a, err := s.Acquire(ctx, "n", k)
			if err != nil {
				t.Fatal(err)
			}
			if got := save(epoch, seq+1, pol); got != persistence.SaveFenced {
				t.Fatalf("step %d: stale save: %s", step, got)
			}
			epoch = a.Epoch
			what = "fenced save"
		case op == 7:
			if _, err := s.pool.Exec(ctx, `UPDATE hearth_profiles SET retained_seqs = NULL, retained_ms = NULL`); err != nil {
				t.Fatal(err)
			}
			s.lists.forgetAll()
			what = "list lost"
		case op == 8:
			harness{}.Advance(t, s, time.Duration(rng.IntN(3000))*time.Millisecond)
			what = "time moved"
		default:
			if err := s.Delete(ctx, "n", k, epoch); err != nil {
				t.Fatal(err)
			}
			a, err := s.Acquire(ctx, "n", k)
			if err != nil {
				t.Fatal(err)
			}
			epoch, seq = a.Epoch, 0
			what = "erased and re-created"
		}
		checkRetainedList(t, s, k, fmt.Sprintf("step %d (%s)", step, what))
	}
}

func checkRetainedList(t *testing.T, s *Store, k persistence.ProfileKey, when string) {
	t.Helper()
	ctx := context.Background()
	var seqs, mss []int64
	if err := s.pool.QueryRow(ctx, `SELECT retained_seqs, retained_ms FROM hearth_profiles WHERE namespace = $1 AND profile_id = $2`,
		k.Namespace, k.ID).Scan(&seqs, &mss); err != nil {
		t.Fatal(err)
	}
	if seqs == nil {
		return // not tracked: the next save reads the snapshots
	}
	var wantSeqs, wantMS []int64
	rows, err := s.pool.Query(ctx, `
SELECT save_seq, floor(extract(epoch FROM saved_at) * 1000)::BIGINT FROM hearth_snapshots
 WHERE namespace = $1 AND profile_id = $2 ORDER BY save_seq`, k.Namespace, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var sq, ms int64
		if err := rows.Scan(&sq, &ms); err != nil {
			t.Fatal(err)
		}
		wantSeqs, wantMS = append(wantSeqs, sq), append(wantMS, ms)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, wantSeqs) || !slices.Equal(mss, wantMS) {
		t.Fatalf("%s: list %v %v, snapshots %v %v", when, seqs, mss, wantSeqs, wantMS)
	}
}

// TestStaleCachedListSavesWithoutPruning: if the retained list changed
// behind the cache (no node does this; an operator might), the save still
// lands, keeps every snapshot it cannot account for, names them all in the
// list, and the next save, planned from the list as it is, prunes again.
func TestStaleCachedListSavesWithoutPruning(t *testing.T) {
	s := openTestStore(t, persistence.Limits{HistoryDepth: 3})
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, persistence.NodeInfo{ID: "n"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	k := persistence.ProfileKey{Namespace: "g", ID: "stale"}
	acq, err := s.Acquire(ctx, "n", k)
	if err != nil {
		t.Fatal(err)
	}
	pol := persistence.Retention{Keep: 2}
	save := func(seq int64) {
		t.Helper()
		res, err := s.Save(ctx, "n", []persistence.SaveRow{{Key: k, Epoch: acq.Epoch, Seq: seq, Document: []byte("{}"), Retention: pol}})
		if err != nil || res[0].Outcome != persistence.SaveSaved {
			t.Fatalf("save %d: %v %v", seq, res, err)
		}
	}
	save(1)
	save(2) // the cache now holds [1 2]
	if _, ok := s.lists.entries[k]; !ok {
		t.Fatal("a save did not remember the list it wrote")
	}
	// Behind the cache: the list loses seq 2 (the snapshot stays).
	if _, err := s.pool.Exec(ctx, `UPDATE hearth_profiles SET retained_seqs = retained_seqs[1:1], retained_ms = retained_ms[1:1]`); err != nil {
		t.Fatal(err)
	}
	save(3) // planned from [1 2] to keep [2 3]; the list is [1]: nothing pruned
	list := func() []int64 {
		var seqs []int64
		if err := s.pool.QueryRow(ctx, `SELECT retained_seqs FROM hearth_profiles WHERE namespace = 'g' AND profile_id = 'stale'`).Scan(&seqs); err != nil {
			t.Fatal(err)
		}
		return seqs
	}
	if got := list(); !slices.Equal(got, []int64{1, 3}) {
		t.Fatalf("after the stale save the list is %v, want [1 3]", got)
	}
	if _, ok := s.lists.entries[k]; ok {
		t.Fatal("a save from a stale plan kept its cache entry")
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM hearth_snapshots WHERE namespace = 'g' AND profile_id = 'stale'`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("a stale plan deleted snapshots: %d left (%v)", n, err)
	}
	save(4) // planned from the list read again: [1 3 4] keeps [3 4]
	if got := list(); !slices.Equal(got, []int64{3, 4}) {
		t.Fatalf("the next save did not prune from the list as it is: %v", got)
	}
}
