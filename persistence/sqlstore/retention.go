package sqlstore

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// Retention in SQL. Each profile row lists its retained snapshots
// (retained_seqs, and retained_ms: when each was saved, in Unix
// milliseconds). Before the save transaction, planRetention takes the
// batch's lists from the store's cache of what its own saves wrote
// (listcache.go) or, for the others, reads them and the database clock in
// one round trip outside any transaction, and decides in Go with
// persistence.Retention.Prune (the rule the local stores run too) what each
// row keeps and drops. The save then stamps the new snapshot with that
// clock reading (for a cached plan: this node's clock corrected by the
// offset measured at the last read), writes the planned list in the fenced
// UPDATE if the list is still the one planned from (otherwise it appends
// the new snapshot to the list as it is, pruning nothing this time, and the
// cache forgets the profile), and deletes the dropped snapshots by key in a
// statement pipelined with it (qRetainDelete), only where the planned list
// was written.
//
// Why a list: seqs need not be contiguous, so pruning must rank every
// retained snapshot; ranking the snapshots themselves in SQL (window
// functions) costs a heap page per snapshot on PostgreSQL and made 100-row
// batches two to five times slower (docs/BENCHMARKS.md).
// Why read it outside the transaction: read inside the SERIALIZABLE save
// transaction, a round trip before its writes, its predicate locks made
// concurrent saves and acquires conflict far more often on PostgreSQL
// (TestConcurrentAcquireAndSave exhausted its retries in half the runs);
// writing the list again after the save instead doubled the updates of
// profile rows and halved save throughput. The conditional UPDATE keeps
// the outside read safe.
//
// A list is NULL only on a row saved before the list existed; the plan
// then reads its snapshots, once. New and re-created profiles start with
// an empty list.

// qRetainRead reads the retained lists of the batch's profiles and the
// database clock.
const qRetainRead = `
SELECT v.namespace, v.profile_id, now(), p.retained_seqs IS NULL,
       COALESCE(p.retained_seqs,
                ARRAY(SELECT x.save_seq FROM hearth_snapshots AS x
                       WHERE x.namespace = p.namespace AND x.profile_id = p.profile_id ORDER BY x.save_seq)),
       COALESCE(p.retained_ms,
                ARRAY(SELECT floor(extract(epoch FROM x.saved_at) * 1000)::BIGINT FROM hearth_snapshots AS x
                       WHERE x.namespace = p.namespace AND x.profile_id = p.profile_id ORDER BY x.save_seq))
  FROM unnest($1::TEXT[], $2::TEXT[]) AS v(namespace, profile_id)
  JOIN hearth_profiles AS p ON p.namespace = v.namespace AND p.profile_id = v.profile_id`

// qRetainDelete deletes the snapshots the save's retention dropped, only
// where the profile's list is now the one planned: where qSave landed (a
// fenced or superseded row keeps its list), so a list never names a deleted
// snapshot and nothing is deleted for a save that did not happen.
const qRetainDelete = `
DELETE FROM hearth_snapshots AS s
 USING unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[]) AS d(namespace, profile_id, save_seq, kept_seqs),
       hearth_profiles AS p
 WHERE p.namespace = d.namespace AND p.profile_id = d.profile_id
   AND p.retained_seqs = string_to_array(d.kept_seqs, ',')::BIGINT[]
   AND s.namespace = d.namespace AND s.profile_id = d.profile_id AND s.save_seq = d.save_seq`

// retentionPlan is per row: the list it was planned from ("-" for none),
// the list it leaves, the new snapshot's saved_at, and every snapshot it
// drops. Lists are comma-separated, for string_to_array.
type retentionPlan struct {
	expectedSeqs, keptSeqs, keptMS []string
	keptSeqInts, keptMSInts        [][]int64 // the kept lists, for the cache
	savedAt                        []time.Time
	dropNS, dropID, dropKept       []string
	dropSeq                        []int64
}

// planRetention plans every row from the batch's lists: those this store
// saved last under the row's epoch come from the cache (listcache.go), the
// others are read in one round trip. A row whose profile does not exist
// gets an empty plan; its save cannot land.
func (s *Store) planRetention(ctx context.Context, rows []persistence.SaveRow) (retentionPlan, error) {
	type listed struct {
		now       time.Time
		untracked bool
		seqs, mss []int64
	}
	lists := make(map[persistence.ProfileKey]listed, len(rows))
	var ns, id []string
	for _, r := range rows {
		if e, now, ok := s.lists.get(r.Key, r.Epoch); ok {
			seqs, mss := e.lists()
			lists[r.Key] = listed{now: now, seqs: seqs, mss: mss}
			continue
		}
		ns, id = append(ns, r.Key.Namespace), append(id, r.Key.ID)
	}
	var now time.Time
	if len(ns) > 0 {
		sent := time.Now()
		rs, err := s.pool.Query(ctx, qRetainRead, ns, id)
		if err != nil {
			return retentionPlan{}, err
		}
		defer rs.Close()
		for rs.Next() {
			var k persistence.ProfileKey
			var l listed
			if err := rs.Scan(&k.Namespace, &k.ID, &l.now, &l.untracked, &l.seqs, &l.mss); err != nil {
				return retentionPlan{}, err
			}
			lists[k], now = l, l.now
		}
		if err := rs.Err(); err != nil {
			return retentionPlan{}, err
		}
		if !now.IsZero() {
			s.lists.sync(now, sent, time.Now())
		}
	}
	for _, l := range lists {
		if now.IsZero() {
			now = l.now
		}
	}
	p := retentionPlan{
		expectedSeqs: make([]string, len(rows)), keptSeqs: make([]string, len(rows)), keptMS: make([]string, len(rows)),
		keptSeqInts: make([][]int64, len(rows)), keptMSInts: make([][]int64, len(rows)),
		savedAt: make([]time.Time, len(rows)),
		dropNS:  []string{}, dropID: []string{}, dropKept: []string{}, dropSeq: []int64{},
	}
	if now.IsZero() {
		now = time.Now() // no profile of the batch exists: no row can save
	}
	for i, r := range rows {
		p.savedAt[i] = now // any time: a row without a profile does not save
		l, ok := lists[r.Key]
		if !ok {
			p.expectedSeqs[i] = "-"
			continue
		}
		p.savedAt[i] = l.now
		p.expectedSeqs[i] = joinInts(l.seqs)
		if l.untracked {
			p.expectedSeqs[i] = "-"
		}
		ages := make([]persistence.SnapshotAge, 0, len(l.seqs)+1)
		for j, seq := range l.seqs {
			ages = append(ages, persistence.SnapshotAge{Seq: seq, SavedAt: time.UnixMilli(l.mss[j])})
		}
		if !slices.Contains(l.seqs, r.Seq) { // a superseded retry: already listed
			ages = append(ages, persistence.SnapshotAge{Seq: r.Seq, SavedAt: l.now})
		}
		drop := r.Retention.Prune(ages, s.limits.HistoryDepth)
		slices.SortFunc(ages, func(x, y persistence.SnapshotAge) int { return cmp.Compare(x.Seq, y.Seq) })
		var seqs, mss []int64
		for _, age := range ages {
			if !slices.Contains(drop, age.Seq) {
				seqs, mss = append(seqs, age.Seq), append(mss, age.SavedAt.UnixMilli())
			}
		}
		p.keptSeqs[i], p.keptMS[i] = joinInts(seqs), joinInts(mss)
		p.keptSeqInts[i], p.keptMSInts[i] = seqs, mss
		for _, seq := range drop {
			p.dropNS, p.dropID = append(p.dropNS, r.Key.Namespace), append(p.dropID, r.Key.ID)
			p.dropSeq, p.dropKept = append(p.dropSeq, seq), append(p.dropKept, p.keptSeqs[i])
		}
	}
	return p, nil
}

// joinInts writes ints as array_to_string(..., ',') does.
func joinInts(xs []int64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(parts, ",")
}
