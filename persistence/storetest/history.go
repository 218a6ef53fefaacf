package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// historyTests cover the retained snapshots: Versions and Version, pruned by
// each save's Retention (Limits.HistoryDepth by default).
func historyTests() []contractTest {
	return []contractTest{
		{name: "DepthThreeKeepsNewestThree", limits: persistence.Limits{HistoryDepth: 3}, run: testHistoryDepth3},
		{name: "DefaultDepthTen", run: testHistoryDefaultDepth},
		{name: "SkippedSeqsKeepNewest", limits: persistence.Limits{HistoryDepth: 3}, run: testHistorySkippedSeqs},
		{name: "RetentionKeep", limits: persistence.Limits{HistoryDepth: 3}, run: testRetentionKeep},
		{name: "RetentionInterval", limits: persistence.Limits{HistoryDepth: 3}, run: testRetentionInterval},
		{name: "RetentionInvalid", run: testRetentionInvalid},
		{name: "RetentionMatchesPrune", run: testRetentionMatchesPrune},
		{name: "AbsentProfileNotFound", run: testHistoryAbsent},
	}
}

// historyRow is the row for save number seq: documents of distinct sizes
// and a schema version that changes part-way, so every VersionInfo field is
// checked.
func historyRow(k persistence.ProfileKey, epoch, seq int64) persistence.SaveRow {
	r := row(k, epoch, seq, fmt.Sprintf("%d:%s", seq, strings.Repeat("x", 10*int(seq))))
	r.SchemaVersion = 1 + seq/6
	return r
}

// wantVersions checks Versions lists exactly rows, newest first.
func (f *fixture) wantVersions(k persistence.ProfileKey, rows []persistence.SaveRow) {
	f.t.Helper()
	vs, err := f.s.Versions(f.ctx, k)
	if err != nil {
		f.t.Fatalf("Versions(%s): %v", k, err)
	}
	if len(vs) != len(rows) {
		var seqs []int64
		for _, v := range vs {
			seqs = append(seqs, v.Seq)
		}
		f.t.Fatalf("Versions(%s) lists seqs %v, want %d versions", k, seqs, len(rows))
	}
	for i, r := range rows {
		v := vs[i]
		if v.Seq != r.Seq || v.Epoch != r.Epoch || v.SchemaVersion != r.SchemaVersion || v.Size != len(r.Document) {
			f.t.Errorf("Versions(%s)[%d] = {Seq %d Epoch %d Schema %d Size %d}, want {%d %d %d %d}",
				k, i, v.Seq, v.Epoch, v.SchemaVersion, v.Size, r.Seq, r.Epoch, r.SchemaVersion, len(r.Document))
		}
		if v.SavedAt.IsZero() {
			f.t.Errorf("Versions(%s)[%d].SavedAt is zero", k, i)
		}
	}
}

// Seven saves over three epochs with depth 3 keep exactly seqs 7, 6, 5.
func testHistoryDepth3(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	var rows []persistence.SaveRow
	epoch := f.mustAcquire("a", p).Epoch
	for seq := int64(1); seq <= 7; seq++ {
		if seq == 4 || seq == 6 { // re-activate, so the epochs differ
			epoch = f.mustAcquire("a", p).Epoch
		}
		r := historyRow(p, epoch, seq)
		f.mustSaved("a", r)
		rows = append(rows, r)
	}
	f.wantVersions(p, []persistence.SaveRow{rows[6], rows[5], rows[4]})
	f.wantVersion(p, rows[4])
	f.wantVersion(p, rows[6])
	for _, seq := range []int64{1, 2, 4, 8} {
		_, err := f.s.Version(f.ctx, p, seq)
		wantErr(f.t, err, persistence.ErrNotFound, fmt.Sprintf("Version(%d)", seq))
	}
	a := f.mustAcquire("a", p)
	wantSnapshot(f.t, "Acquire after 7 saves", a.Snapshot, rows[6])
}

func testHistoryDefaultDepth(f *fixture) {
	if d := f.s.Limits().HistoryDepth; d != 10 {
		f.t.Fatalf("default Limits().HistoryDepth = %d, want 10", d)
	}
	f.mustRegister("a", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	var rows []persistence.SaveRow
	for seq := int64(1); seq <= 12; seq++ {
		r := historyRow(p, a.Epoch, seq)
		f.mustSaved("a", r)
		rows = append(rows, r)
	}
	var want []persistence.SaveRow
	for i := 11; i >= 2; i-- {
		want = append(want, rows[i])
	}
	f.wantVersions(p, want)
	f.wantVersion(p, rows[2])
	_, err := f.s.Version(f.ctx, p, 2)
	wantErr(f.t, err, persistence.ErrNotFound, "Version(2)")
}

// Retention keeps the newest snapshots, not a range of seqs: a caller that
// skips Seqs keeps as many as one that does not.
func testHistorySkippedSeqs(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	r1, r2, r10, r11 := historyRow(p, a.Epoch, 1), historyRow(p, a.Epoch, 2), historyRow(p, a.Epoch, 10), historyRow(p, a.Epoch, 11)
	f.mustSaved("a", r1)
	f.mustSaved("a", r2)
	f.wantVersions(p, []persistence.SaveRow{r2, r1})
	f.mustSaved("a", r10)
	f.wantVersions(p, []persistence.SaveRow{r10, r2, r1})
	f.mustSaved("a", r11)
	f.wantVersions(p, []persistence.SaveRow{r11, r10, r2})
}

// withRetention sets a row's retention policy.
func withRetention(r persistence.SaveRow, keep int, interval time.Duration) persistence.SaveRow {
	r.Retention = persistence.Retention{Keep: keep, Interval: interval}
	return r
}

// Retention.Keep overrides the depth per save, up and down; snapshots a
// smaller Keep dropped do not come back.
func testRetentionKeep(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	e := f.mustAcquire("a", p).Epoch
	var rows []persistence.SaveRow
	for seq := int64(1); seq <= 6; seq++ {
		r := withRetention(historyRow(p, e, seq), 5, 0)
		f.mustSaved("a", r)
		rows = append(rows, r)
	}
	f.wantVersions(p, []persistence.SaveRow{rows[5], rows[4], rows[3], rows[2], rows[1]})
	r7 := withRetention(historyRow(p, e, 7), 2, 0)
	f.mustSaved("a", r7)
	f.wantVersions(p, []persistence.SaveRow{r7, rows[5]})
	r8 := withRetention(historyRow(p, e, 8), 0, 0) // back to the depth (3)
	f.mustSaved("a", r8)
	f.wantVersions(p, []persistence.SaveRow{r8, r7, rows[5]})
}

// Retention.Interval keeps one snapshot per interval of the store's clock,
// the newest of each, capped to Keep. Saves without Advance between them are
// milliseconds apart, so they share a day except in the rare run that
// crosses midnight UTC mid-step; the day is the interval for that reason.
func testRetentionInterval(f *fixture) {
	const day = 24 * time.Hour
	f.mustRegister("a", longTTL)
	p, q := key("p"), key("q")
	e := f.mustAcquire("a", p).Epoch
	eq := f.mustAcquire("a", q).Epoch
	save := func(seq int64) persistence.SaveRow {
		f.t.Helper()
		r := withRetention(historyRow(p, e, seq), 3, day)
		f.mustSaved("a", r)
		return r
	}
	r1 := save(1)
	f.wantVersions(p, []persistence.SaveRow{r1})
	save(2)
	r3 := save(3)
	f.wantVersions(p, []persistence.SaveRow{r3}) // one bucket: only the newest
	f.advance(day)
	save(4)
	r5 := save(5)
	f.wantVersions(p, []persistence.SaveRow{r5, r3})
	f.advance(day)
	r6 := save(6)
	f.wantVersions(p, []persistence.SaveRow{r6, r5, r3})
	f.advance(day)
	r7 := save(7)
	f.wantVersions(p, []persistence.SaveRow{r7, r6, r5}) // Keep 3 drops the oldest bucket
	vs, err := f.s.Versions(f.ctx, p)
	if err != nil {
		f.t.Fatal(err)
	}
	if span := vs[0].SavedAt.Sub(vs[len(vs)-1].SavedAt); span < 2*day-time.Minute {
		f.t.Errorf("3 snapshots from 3 days span %s, want about 2 days", span)
	}
	// A policy without an interval keeps the newest Keep whatever their age.
	r8 := withRetention(historyRow(p, e, 8), 3, 0)
	f.mustSaved("a", r8)
	f.wantVersions(p, []persistence.SaveRow{r8, r7, r6})
	r9 := historyRow(p, e, 9) // the zero policy: newest HistoryDepth (3)
	f.mustSaved("a", r9)
	f.wantVersions(p, []persistence.SaveRow{r9, r8, r7})

	// Rows of one batch are pruned by their own policies.
	rp := withRetention(historyRow(p, e, 10), 1, 0)
	rq1 := withRetention(historyRow(q, eq, 1), 0, 0)
	f.mustSave("a", rp, rq1)
	rq2 := withRetention(historyRow(q, eq, 2), 10, day)
	rp11 := withRetention(historyRow(p, e, 11), 5, day)
	f.mustSave("a", rp11, rq2)
	f.wantVersions(p, []persistence.SaveRow{rp11}) // 10 and 11 share a day
	f.wantVersions(q, []persistence.SaveRow{rq2})
}

// Random saves under random policies, with time moved between them: after
// every save the store retains exactly what persistence.Retention.Prune
// says of the snapshots it held before plus the new one, judged by the
// SavedAt the store reports. Seqs skip at random.
func testRetentionMatchesPrune(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	e := f.mustAcquire("a", p).Epoch
	rng := rand.New(rand.NewPCG(1, 2))
	intervals := []time.Duration{0, time.Second, time.Minute, time.Hour}
	steps := []time.Duration{0, 0, 300 * time.Millisecond, time.Second, 20 * time.Second, time.Minute, time.Hour}
	ages := func() []persistence.SnapshotAge {
		vs, err := f.s.Versions(f.ctx, p)
		if err != nil {
			f.t.Fatal(err)
		}
		out := make([]persistence.SnapshotAge, len(vs))
		for i, v := range vs {
			out[i] = persistence.SnapshotAge{Seq: v.Seq, SavedAt: v.SavedAt}
		}
		return out
	}
	seq := int64(0)
	for step := 0; step < 60; step++ {
		f.advance(steps[rng.IntN(len(steps))])
		before := ages()
		seq += 1 + int64(rng.IntN(3))
		pol := persistence.Retention{Keep: rng.IntN(6), Interval: intervals[rng.IntN(len(intervals))]}
		r := row(p, e, seq, fmt.Sprintf("doc %d", seq))
		r.Retention = pol
		f.mustSaved("a", r)
		after := ages()
		var saved *persistence.SnapshotAge
		for i := range after {
			if after[i].Seq == seq {
				saved = &after[i]
			}
		}
		if saved == nil {
			f.t.Fatalf("step %d: the saved seq %d is not retained", step, seq)
		}
		all := append(before, *saved)
		drop := pol.Prune(all, f.s.Limits().HistoryDepth)
		var want []int64
		for _, a := range all {
			if !slices.Contains(drop, a.Seq) {
				want = append(want, a.Seq)
			}
		}
		var got []int64
		for _, a := range after {
			got = append(got, a.Seq)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			f.t.Fatalf("step %d: saved %d with %+v over %v: store keeps %v, Prune keeps %v", step, seq, pol, before, got, want)
		}
	}
}

// A row with a malformed policy refuses its whole batch before anything is
// written.
func testRetentionInvalid(f *fixture) {
	f.mustRegister("a", longTTL)
	p, q := key("p"), key("q")
	ep, eq := f.mustAcquire("a", p).Epoch, f.mustAcquire("a", q).Epoch
	for _, pol := range []persistence.Retention{
		{Keep: -1}, {Keep: persistence.MaxRetentionKeep + 1},
		{Interval: -time.Second}, {Interval: persistence.MaxRetentionInterval + time.Millisecond},
		{Interval: time.Second + time.Microsecond},
	} {
		bad := historyRow(q, eq, 1)
		bad.Retention = pol
		_, err := f.s.Save(f.ctx, "a", []persistence.SaveRow{historyRow(p, ep, 1), bad})
		wantLimitErr(f.t, err, persistence.ErrInvalid, fmt.Sprintf("Save with retention %+v", pol))
	}
	f.wantOwned(p, "a", ep, 0)
	f.wantOwned(q, "a", eq, 0)
	max := withRetention(historyRow(p, ep, 1), persistence.MaxRetentionKeep, persistence.MaxRetentionInterval)
	f.mustSaved("a", max)
}

func testHistoryAbsent(f *fixture) {
	_, err := f.s.Versions(f.ctx, key("absent"))
	wantErr(f.t, err, persistence.ErrNotFound, "Versions(absent)")
	_, err = f.s.Version(f.ctx, key("absent"), 1)
	wantErr(f.t, err, persistence.ErrNotFound, "Version(absent, 1)")
}
