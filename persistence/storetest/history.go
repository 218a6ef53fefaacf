package storetest

import (
	"fmt"
	"strings"

	"github.com/hearth-profiles/hearth/persistence"
)

// historyTests cover the retained snapshots: Versions and Version, pruned to
// Limits.HistoryDepth.
func historyTests() []contractTest {
	return []contractTest{
		{name: "DepthThreeKeepsNewestThree", limits: persistence.Limits{HistoryDepth: 3}, run: testHistoryDepth3},
		{name: "DefaultDepthTen", run: testHistoryDefaultDepth},
		{name: "SkippedSeqsKeepFewer", limits: persistence.Limits{HistoryDepth: 3}, run: testHistorySkippedSeqs},
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

// Retention is by Seq (persistence.RetainFrom), so a caller that skips Seqs
// keeps fewer snapshots, never more.
func testHistorySkippedSeqs(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	r1, r2, r10 := historyRow(p, a.Epoch, 1), historyRow(p, a.Epoch, 2), historyRow(p, a.Epoch, 10)
	f.mustSaved("a", r1)
	f.mustSaved("a", r2)
	f.wantVersions(p, []persistence.SaveRow{r2, r1})
	f.mustSaved("a", r10)
	f.wantVersions(p, []persistence.SaveRow{r10})
}

func testHistoryAbsent(f *fixture) {
	_, err := f.s.Versions(f.ctx, key("absent"))
	wantErr(f.t, err, persistence.ErrNotFound, "Versions(absent)")
	_, err = f.s.Version(f.ctx, key("absent"), 1)
	wantErr(f.t, err, persistence.ErrNotFound, "Version(absent, 1)")
}
