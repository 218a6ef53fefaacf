package storetest

import (
	"fmt"
	"strings"

	"github.com/hearth-profiles/hearth/persistence"
)

// smallLimits make the size limits cheap to reach.
var smallLimits = persistence.Limits{MaxDocumentBytes: 1024, MaxRecordBytes: 256, MaxRecordsPerRow: 3, MaxBatchRows: 5}

// limitTests cover the naming rules and size limits, at and just past each
// limit. Every refusal must be a *persistence.LimitError, and a refused
// batch writes nothing.
func limitTests() []contractTest {
	return []contractTest{
		{name: "DefaultLimitsReported", run: testDefaultLimits},
		{name: "CustomLimitsReported", limits: persistence.Limits{MaxDocumentBytes: 1024, HistoryDepth: 3}, run: testCustomLimits},
		{name: "NamespaceRules", run: testNamespaceRules},
		{name: "ProfileIDRules", run: testProfileIDRules},
		{name: "SaveAtLimits", limits: smallLimits, run: testSaveAtLimits},
		{name: "RefusedBatchWritesNothing", limits: smallLimits, run: testRefusedBatches},
	}
}

func testDefaultLimits(f *fixture) {
	if got, want := f.s.Limits(), persistence.DefaultLimits(); got != want {
		f.t.Errorf("Limits() = %+v, want the defaults %+v", got, want)
	}
}

func testCustomLimits(f *fixture) {
	want := persistence.Limits{MaxDocumentBytes: 1024, HistoryDepth: 3}.WithDefaults()
	if got := f.s.Limits(); got != want {
		f.t.Errorf("Limits() = %+v, want %+v", got, want)
	}
}

// Namespaces are 1..64 bytes of [a-z0-9_.-], starting with a letter or digit.
func testNamespaceRules(f *fixture) {
	f.mustRegister("a", longTTL)
	for _, ns := range []string{strings.Repeat("n", persistence.MaxNamespaceLen), "a", "0", "game-1.profiles_v2"} {
		f.mustAcquire("a", persistence.ProfileKey{Namespace: ns, ID: "p"})
	}
	for _, ns := range []string{strings.Repeat("n", persistence.MaxNamespaceLen+1), "", "Upper", "a/b", "-lead", "_lead", ".lead", "a b", "\x00", "a\x00", "é"} {
		_, err := f.s.Acquire(f.ctx, "a", persistence.ProfileKey{Namespace: ns, ID: "p"})
		wantLimitErr(f.t, err, persistence.ErrInvalid, "Acquire(namespace "+quote(ns)+")")
	}
}

// Profile ids are 1..128 bytes of [A-Za-z0-9_.:@+=-].
func testProfileIDRules(f *fixture) {
	f.mustRegister("a", longTTL)
	for _, id := range []string{strings.Repeat("p", persistence.MaxProfileIDLen), "a_b.c:d@e+f=g-h", "-", "UPPER.lower", "user@example.com"} {
		f.mustAcquire("a", key(id))
	}
	for _, id := range []string{strings.Repeat("p", persistence.MaxProfileIDLen+1), "", "a/b", "a b", "é", "a\x00", "a\n", "a%2F"} {
		_, err := f.s.Acquire(f.ctx, "a", key(id))
		wantLimitErr(f.t, err, persistence.ErrInvalid, "Acquire(id "+quote(id)+")")
	}
}

// Inputs exactly at each limit are accepted and stored intact.
func testSaveAtLimits(f *fixture) {
	f.mustRegister("a", longTTL)
	lim := f.s.Limits()
	acquire := func(id string) (persistence.ProfileKey, int64) {
		k := key(id)
		return k, f.mustAcquire("a", k).Epoch
	}

	k, e := acquire("max-document")
	r := persistence.SaveRow{Key: k, Epoch: e, Seq: 1, Document: []byte(strings.Repeat("d", lim.MaxDocumentBytes))}
	f.mustSaved("a", r)
	f.wantVersion(k, r)

	k, e = acquire("max-record")
	big := strings.Repeat("r", lim.MaxRecordBytes)
	f.mustSaved("a", row(k, e, 1, "doc", rec("big", big)))
	f.wantRecord(k, "big", big, 1)

	k, e = acquire("max-records")
	var recs []persistence.Record
	for i := 0; i < lim.MaxRecordsPerRow; i++ {
		recs = append(recs, rec(fmt.Sprintf("k%d", i), "v"))
	}
	f.mustSaved("a", row(k, e, 1, "doc", recs...))
	f.wantRecord(k, fmt.Sprintf("k%d", lim.MaxRecordsPerRow-1), "v", 1)

	k, e = acquire("record-keys")
	longKey := strings.Repeat("k", persistence.MaxRecordKeyLen)
	const punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	f.mustSaved("a", row(k, e, 1, "doc", rec(longKey, "long"), rec(punct, "punct")))
	f.wantRecord(k, longKey, "long", 1)
	f.wantRecord(k, punct, "punct", 1)

	var rows []persistence.SaveRow
	for i := 0; i < lim.MaxBatchRows; i++ {
		k, e := acquire(fmt.Sprintf("batch-%d", i))
		rows = append(rows, row(k, e, 1, "doc"))
	}
	for i, res := range f.mustSave("a", rows...) {
		wantResult(f.t, res, persistence.SaveResult{Key: rows[i].Key, Outcome: persistence.SaveSaved, Epoch: rows[i].Epoch, Seq: 1})
	}
}

// Every batch breaking a limit is refused whole with a *LimitError: the
// valid rows in it (placed first, so a store that validates as it writes
// would already have written them) are left exactly as they were.
func testRefusedBatches(f *fixture) {
	f.mustRegister("a", longTTL)
	lim := f.s.Limits()
	// Two bystander profiles, saved once; every refused batch tries to save
	// them again at seq 2 with a record.
	p1, p2 := key("p1"), key("p2")
	e1 := f.mustAcquire("a", p1).Epoch
	e2 := f.mustAcquire("a", p2).Epoch
	r1, r2 := row(p1, e1, 1, "p1 v1"), row(p2, e2, 1, "p2 v1")
	f.mustSave("a", r1, r2)
	bystanders := []persistence.SaveRow{
		row(p1, e1, 2, "p1 v2", rec("by1", "x")),
		row(p2, e2, 2, "p2 v2", rec("by2", "x")),
	}
	bad := key("bad")
	withDoc := func(n int) persistence.SaveRow {
		return persistence.SaveRow{Key: bad, Epoch: 1, Seq: 1, Document: []byte(strings.Repeat("d", n))}
	}
	withRecs := func(recs ...persistence.Record) persistence.SaveRow { return row(bad, 1, 1, "doc", recs...) }
	manyRecs := make([]persistence.Record, lim.MaxRecordsPerRow+1)
	for i := range manyRecs {
		manyRecs[i] = rec(fmt.Sprintf("k%d", i), "v")
	}
	var extra []persistence.SaveRow // fills the batch one row past the limit
	for i := len(bystanders); i <= lim.MaxBatchRows; i++ {
		extra = append(extra, row(key(fmt.Sprintf("extra-%d", i)), 1, 1, "doc"))
	}
	badRow := func(mod func(*persistence.SaveRow)) persistence.SaveRow {
		r := row(bad, 1, 1, "doc")
		mod(&r)
		return r
	}

	cases := []struct {
		name string
		rows []persistence.SaveRow // appended to the bystanders
		kind error
	}{
		{"DocumentOneOver", []persistence.SaveRow{withDoc(lim.MaxDocumentBytes + 1)}, persistence.ErrTooLarge},
		{"RecordResultOneOver", []persistence.SaveRow{withRecs(rec("k", strings.Repeat("r", lim.MaxRecordBytes+1)))}, persistence.ErrTooLarge},
		{"RecordsPerRowOneOver", []persistence.SaveRow{withRecs(manyRecs...)}, persistence.ErrTooLarge},
		{"RecordKeyTooLong", []persistence.SaveRow{withRecs(rec(strings.Repeat("k", persistence.MaxRecordKeyLen+1), "v"))}, persistence.ErrInvalid},
		{"RecordKeyEmpty", []persistence.SaveRow{withRecs(rec("", "v"))}, persistence.ErrInvalid},
		{"RecordKeySpace", []persistence.SaveRow{withRecs(rec("has space", "v"))}, persistence.ErrInvalid},
		{"RecordKeyControl", []persistence.SaveRow{withRecs(rec("tab\t", "v"))}, persistence.ErrInvalid},
		{"RecordKeyDEL", []persistence.SaveRow{withRecs(rec("del\x7f", "v"))}, persistence.ErrInvalid},
		{"RecordKeyNonASCII", []persistence.SaveRow{withRecs(rec("é", "v"))}, persistence.ErrInvalid},
		{"RecordKeyTwiceInRow", []persistence.SaveRow{withRecs(rec("k", "1"), rec("k", "2"))}, persistence.ErrInvalid},
		{"BatchOneOver", extra, persistence.ErrTooLarge},
		{"ProfileTwiceInBatch", []persistence.SaveRow{row(p1, e1, 3, "p1 again")}, persistence.ErrInvalid},
		{"BadNamespace", []persistence.SaveRow{row(persistence.ProfileKey{Namespace: "Bad", ID: "p"}, 1, 1, "doc")}, persistence.ErrInvalid},
		{"BadProfileID", []persistence.SaveRow{row(key("a/b"), 1, 1, "doc")}, persistence.ErrInvalid},
		{"EmptyProfileID", []persistence.SaveRow{row(key(""), 1, 1, "doc")}, persistence.ErrInvalid},
		{"ZeroEpoch", []persistence.SaveRow{badRow(func(r *persistence.SaveRow) { r.Epoch = 0 })}, persistence.ErrInvalid},
		{"NegativeEpoch", []persistence.SaveRow{badRow(func(r *persistence.SaveRow) { r.Epoch = -1 })}, persistence.ErrInvalid},
		{"ZeroSeq", []persistence.SaveRow{badRow(func(r *persistence.SaveRow) { r.Seq = 0 })}, persistence.ErrInvalid},
		{"NegativeSchemaVersion", []persistence.SaveRow{badRow(func(r *persistence.SaveRow) { r.SchemaVersion = -1 })}, persistence.ErrInvalid},
	}
	for _, tc := range cases {
		rows := append(append([]persistence.SaveRow{}, bystanders...), tc.rows...)
		res, err := f.s.Save(f.ctx, "a", rows)
		wantLimitErr(f.t, err, tc.kind, tc.name)
		if err == nil {
			f.t.Errorf("%s: results %v", tc.name, res)
		}
		// Nothing moved: same seq, same single version, no records.
		f.wantOwned(p1, "a", e1, 1)
		f.wantOwned(p2, "a", e2, 1)
		f.wantVersions(p1, []persistence.SaveRow{r1})
		f.wantVersions(p2, []persistence.SaveRow{r2})
		f.wantNoRecord(p1, "by1")
		f.wantNoRecord(p2, "by2")
		if f.t.Failed() {
			f.t.Fatalf("after refused batch %s", tc.name)
		}
	}
	_, err := f.s.Holder(f.ctx, bad)
	wantErr(f.t, err, persistence.ErrNotFound, "Holder of a profile only named in refused batches")
}
