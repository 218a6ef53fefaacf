package sqlstore

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/persistence"
)

// Retention in SQL. Each profile row lists its retained snapshots
// (retained_seqs, and retained_ms: when each was saved, in Unix
// milliseconds). A save reads the lists of its batch (qRetainRead, one
// round trip before the save), decides in Go with persistence.Retention.Prune
// (the rule the local stores run too), writes the new list with the save
// (qSave), and deletes the dropped snapshots by key (qRetainDelete, pipelined
// with qSave).
//
// Why not decide in SQL over the snapshots themselves: seqs need not be
// contiguous, so pruning must rank every retained snapshot, and on
// PostgreSQL reading a profile's ~10 snapshots costs a heap page each. That
// version made 100-row batches two to five times slower (docs/BENCHMARKS.md);
// the list costs one read of rows the save updates anyway, and one round trip.

// qRetainRead reads the retained lists of the batch's profiles and the
// transaction's clock, which stamps the new snapshots' saved_at. A profile
// without a list (NULL: new, re-created, or saved before the list existed)
// has its snapshots read instead, once.
const qRetainRead = `
SELECT v.namespace, v.profile_id, now(),
       COALESCE(p.retained_seqs,
                ARRAY(SELECT x.save_seq FROM hearth_snapshots AS x
                       WHERE x.namespace = p.namespace AND x.profile_id = p.profile_id ORDER BY x.save_seq)),
       COALESCE(p.retained_ms,
                ARRAY(SELECT floor(extract(epoch FROM x.saved_at) * 1000)::BIGINT FROM hearth_snapshots AS x
                       WHERE x.namespace = p.namespace AND x.profile_id = p.profile_id ORDER BY x.save_seq))
  FROM unnest($1::TEXT[], $2::TEXT[]) AS v(namespace, profile_id)
  JOIN hearth_profiles AS p ON p.namespace = v.namespace AND p.profile_id = v.profile_id`

// qRetainDelete deletes the snapshots the save's retention dropped, only
// where the profile's list is now the one planned: that is where qSave
// landed (a fenced or superseded row left its list as it was), so a list
// never names a deleted snapshot and a dropped snapshot is never deleted
// for a save that did not happen.
const qRetainDelete = `
DELETE FROM hearth_snapshots AS s
 USING unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[]) AS d(namespace, profile_id, save_seq, kept_seqs),
       hearth_profiles AS p
 WHERE p.namespace = d.namespace AND p.profile_id = d.profile_id
   AND p.retained_seqs = string_to_array(d.kept_seqs, ',')::BIGINT[]
   AND s.namespace = d.namespace AND s.profile_id = d.profile_id AND s.save_seq = d.save_seq`

// planRetention reads the batch's retained lists and fills a's retention
// columns: per row the list it leaves, and every snapshot it drops. Rows
// whose profile does not exist get an empty list; their save cannot land.
func planRetention(ctx context.Context, tx pgx.Tx, rows []persistence.SaveRow, depth int, a *saveArgs) error {
	rs, err := tx.Query(ctx, qRetainRead, a.ns, a.id)
	if err != nil {
		return err
	}
	defer rs.Close()
	type listed struct {
		now       time.Time
		seqs, mss []int64
	}
	lists := make(map[persistence.ProfileKey]listed, len(rows))
	for rs.Next() {
		var k persistence.ProfileKey
		var l listed
		if err := rs.Scan(&k.Namespace, &k.ID, &l.now, &l.seqs, &l.mss); err != nil {
			return err
		}
		lists[k] = l
	}
	if err := rs.Err(); err != nil {
		return err
	}
	a.keptSeqs, a.keptMS = make([]string, len(rows)), make([]string, len(rows))
	a.dropNS, a.dropID, a.dropSeq, a.dropKept = []string{}, []string{}, []int64{}, []string{}
	for i, r := range rows {
		l, ok := lists[r.Key]
		if !ok {
			continue
		}
		ages := make([]persistence.SnapshotAge, 0, len(l.seqs)+1)
		for j, seq := range l.seqs {
			ages = append(ages, persistence.SnapshotAge{Seq: seq, SavedAt: time.UnixMilli(l.mss[j])})
		}
		if !slices.Contains(l.seqs, r.Seq) {
			ages = append(ages, persistence.SnapshotAge{Seq: r.Seq, SavedAt: l.now})
		}
		drop := r.Retention.Prune(ages, depth)
		var seqs, mss []string
		slices.SortFunc(ages, func(x, y persistence.SnapshotAge) int { return cmp.Compare(x.Seq, y.Seq) })
		for _, age := range ages {
			if !slices.Contains(drop, age.Seq) {
				seqs = append(seqs, strconv.FormatInt(age.Seq, 10))
				mss = append(mss, strconv.FormatInt(age.SavedAt.UnixMilli(), 10))
			}
		}
		a.keptSeqs[i], a.keptMS[i] = strings.Join(seqs, ","), strings.Join(mss, ",")
		for _, seq := range drop {
			a.dropNS, a.dropID = append(a.dropNS, r.Key.Namespace), append(a.dropID, r.Key.ID)
			a.dropSeq, a.dropKept = append(a.dropSeq, seq), append(a.dropKept, a.keptSeqs[i])
		}
	}
	return nil
}
