package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hearth-profiles/hearth/persistence"
)

// recordTests cover idempotency records: written with their snapshot or not
// at all, first result wins, and paging in the order they were applied.
func recordTests() []contractTest {
	return []contractTest{
		{name: "RecordSavedWithSnapshot", run: testRecordSaved},
		{name: "RecordOnFencedRowNotStored", run: testRecordFenced},
		{name: "DuplicateKeyKeepsFirstResult", run: testRecordDuplicate},
		{name: "RecordsArePerProfile", run: testRecordsPerProfile},
		{name: "RecordAbsentNotFound", run: testRecordAbsent},
		{name: "RecordsPaging", run: testRecordsPaging},
		{name: "RecordsQueryLimits", run: testRecordsQueryLimits},
	}
}

func testRecordSaved(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	bin := string([]byte{0, 0xff, 1})
	f.mustSaved("a", row(p, a.Epoch, 1, "doc", rec("receipt:123", `{"granted":"gems"}`), rec("req-1", bin), rec("empty", "")))
	f.wantRecord(p, "receipt:123", `{"granted":"gems"}`, 1)
	f.wantRecord(p, "req-1", bin, 1)
	f.wantRecord(p, "empty", "", 1)
	f.mustSaved("a", row(p, a.Epoch, 2, "doc2", rec("req-2", "two")))
	f.wantRecord(p, "req-2", "two", 2)
	f.wantRecord(p, "receipt:123", `{"granted":"gems"}`, 1)
}

// A record commits or vanishes with its snapshot: a fenced row writes
// neither, so a retry by the rightful owner applies the operation afresh.
func testRecordFenced(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	a1 := f.mustAcquire("a", p)
	a2 := f.mustAcquire("a", p) // fences a1
	res := f.saveOne("a", row(p, a1.Epoch, 1, "stale", rec("purchase-1", "granted")))
	if res.Outcome != persistence.SaveFenced {
		f.t.Fatalf("stale save outcome %s, want fenced", res.Outcome)
	}
	f.wantNoRecord(p, "purchase-1")
	recs, err := f.s.Records(f.ctx, p, persistence.RecordQuery{})
	if err != nil || len(recs) != 0 {
		f.t.Errorf("Records after fenced save = %v, %v; want none", recs, err)
	}
	f.mustSaved("a", row(p, a2.Epoch, 1, "owner", rec("purchase-1", "granted by owner")))
	f.wantRecord(p, "purchase-1", "granted by owner", 1)
}

// A key already recorded keeps its first result (INSERT ... ON CONFLICT DO
// NOTHING): the snapshot still saves, the record is not overwritten.
func testRecordDuplicate(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	f.mustSaved("a", row(p, a.Epoch, 1, "one", rec("k", "first")))
	r2 := row(p, a.Epoch, 2, "two", rec("k", "second"), rec("k2", "new"))
	f.mustSaved("a", r2)
	f.wantVersion(p, r2)
	f.wantRecord(p, "k", "first", 1)
	f.wantRecord(p, "k2", "new", 2)
	recs, err := f.s.Records(f.ctx, p, persistence.RecordQuery{})
	if err != nil {
		f.t.Fatalf("Records: %v", err)
	}
	if len(recs) != 2 || recs[0].Key != "k" || recs[1].Key != "k2" {
		f.t.Errorf("Records = %v, want k (seq 1) then k2 (seq 2)", recordKeys(recs))
	}
}

// Records belong to one profile: the same key in another profile is a
// different record.
func testRecordsPerProfile(f *fixture) {
	f.mustRegister("a", longTTL)
	p, q := key("p"), key("q")
	other := persistence.ProfileKey{Namespace: "other-ns", ID: "p"}
	ap := f.mustAcquire("a", p)
	aq := f.mustAcquire("a", q)
	ao := f.mustAcquire("a", other)
	f.mustSave("a",
		row(p, ap.Epoch, 1, "p", rec("k", "from p")),
		row(q, aq.Epoch, 1, "q", rec("k", "from q")),
		row(other, ao.Epoch, 1, "o"))
	f.wantRecord(p, "k", "from p", 1)
	f.wantRecord(q, "k", "from q", 1)
	f.wantNoRecord(other, "k")
}

func testRecordAbsent(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	f.wantNoRecord(key("absent"), "k")
	a := f.mustAcquire("a", p)
	f.wantNoRecord(p, "k")
	f.mustSaved("a", row(p, a.Epoch, 1, "doc", rec("k", "v")))
	f.wantNoRecord(p, "K") // keys are case-sensitive
	f.wantNoRecord(p, "k2")
}

// 250 records over 5 saves, paged with every limit. Within a save the keys
// are written out of order, and later saves use keys that sort earlier, so
// only a store ordering by (Seq, Key) passes.
func testRecordsPaging(f *fixture) {
	const saves, perSave = 5, 50
	f.mustRegister("a", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	var want []string // "seq/key" in (Seq, Key) order
	for s := int64(1); s <= saves; s++ {
		prefix := string(rune('a' + saves - s)) // seq 1 -> "e", seq 5 -> "a"
		var recs []persistence.Record
		for j := perSave - 1; j >= 0; j-- {
			recs = append(recs, rec(fmt.Sprintf("%s-%02d", prefix, j), fmt.Sprintf("result %d/%02d", s, j)))
		}
		for j := 0; j < perSave; j++ {
			want = append(want, fmt.Sprintf("%d/%s-%02d", s, prefix, j))
		}
		f.mustSaved("a", row(p, a.Epoch, s, "doc", recs...))
	}

	for _, limit := range []int{0, 1, 7, 100, 249, 250, persistence.MaxRecordPage} {
		f.t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			g := f.with(t)
			pageSize := limit
			if limit == 0 {
				pageSize = persistence.DefaultRecordPage
			}
			var got []string
			q := persistence.RecordQuery{Limit: limit}
			for pages := 0; ; pages++ {
				if pages > len(want)+1 {
					t.Fatalf("paging does not end")
				}
				page, err := g.s.Records(g.ctx, p, q)
				if err != nil {
					t.Fatalf("Records(%+v): %v", q, err)
				}
				if len(page) > pageSize {
					t.Fatalf("Records(%+v) returned %d records, limit %d", q, len(page), pageSize)
				}
				for _, r := range page {
					_, n, _ := strings.Cut(r.Key, "-")
					if r.Profile != p || string(r.Result) != fmt.Sprintf("result %d/%s", r.Seq, n) {
						t.Errorf("record %d/%s = {Profile %s Result %q}", r.Seq, r.Key, r.Profile, r.Result)
					}
					got = append(got, fmt.Sprintf("%d/%s", r.Seq, r.Key))
				}
				// Every page but the last is full.
				if remaining := len(want) - len(got) + len(page); len(page) != min(pageSize, remaining) {
					t.Fatalf("Records(%+v) returned %d records, want %d", q, len(page), min(pageSize, remaining))
				}
				if len(page) == 0 {
					break
				}
				last := page[len(page)-1]
				q.AfterSeq, q.AfterKey = last.Seq, last.Key
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("paged records in order:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func testRecordsQueryLimits(f *fixture) {
	f.mustRegister("a", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	f.mustSaved("a", row(p, a.Epoch, 1, "doc", rec("k", "v")))
	for _, tc := range []struct {
		q    persistence.RecordQuery
		kind error
	}{
		{persistence.RecordQuery{Limit: -1}, persistence.ErrInvalid},
		{persistence.RecordQuery{Limit: persistence.MaxRecordPage + 1}, persistence.ErrTooLarge},
		{persistence.RecordQuery{AfterSeq: -1}, persistence.ErrInvalid},
	} {
		_, err := f.s.Records(f.ctx, p, tc.q)
		wantLimitErr(f.t, err, tc.kind, fmt.Sprintf("Records(%+v)", tc.q))
	}
	recs, err := f.s.Records(f.ctx, p, persistence.RecordQuery{Limit: persistence.MaxRecordPage})
	if err != nil || len(recs) != 1 {
		f.t.Errorf("Records(limit %d) = %d records, %v; want 1, nil", persistence.MaxRecordPage, len(recs), err)
	}
}

func recordKeys(recs []persistence.StoredRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%d/%s", r.Seq, r.Key))
	}
	return out
}
