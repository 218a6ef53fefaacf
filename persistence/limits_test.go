package persistence

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateNames(t *testing.T) {
	cases := []struct {
		what string
		fn   func(string) error
		ok   []string
		bad  []string
	}{
		{"namespace", ValidateNamespace,
			[]string{"a", "game1", "0", "my-game.v2_x", strings.Repeat("a", MaxNamespaceLen)},
			[]string{"", "Game", "-a", "_a", ".a", "a/b", "a b", "a\x00", "é", strings.Repeat("a", MaxNamespaceLen+1)}},
		{"profile id", ValidateProfileID,
			[]string{"1", "Player_123", "a_b.c:d@e+f=g-h", strings.Repeat("Z", MaxProfileIDLen)},
			[]string{"", "a/b", "a b", "a\n", "é", "a%2F", strings.Repeat("Z", MaxProfileIDLen+1)}},
		{"record key", ValidateRecordKey,
			[]string{"r", "receipt:abc-123/7", "~!{}", strings.Repeat("k", MaxRecordKeyLen)},
			[]string{"", "a b", "a\tb", "é", "\x7f", strings.Repeat("k", MaxRecordKeyLen+1)}},
	}
	for _, tc := range cases {
		for _, s := range tc.ok {
			if err := tc.fn(s); err != nil {
				t.Errorf("%s %q refused: %v", tc.what, s, err)
			}
		}
		for _, s := range tc.bad {
			err := tc.fn(s)
			var le *LimitError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &le) {
				t.Errorf("%s %q: got %v, want *LimitError wrapping ErrInvalid", tc.what, s, err)
			}
		}
	}
}

func TestValidateSaveBatch(t *testing.T) {
	l := Limits{MaxDocumentBytes: 10, MaxRecordBytes: 4, MaxRecordsPerRow: 2, MaxBatchRows: 3}.WithDefaults()
	good := func(id string) SaveRow {
		return SaveRow{Key: ProfileKey{"g", id}, Epoch: 1, Seq: 1, Document: make([]byte, 10),
			Records: []Record{{Key: "r1", Result: make([]byte, 4)}, {Key: "r2"}}}
	}
	atMax := good("c")
	atMax.Retention = Retention{Keep: MaxRetentionKeep, Interval: MaxRetentionInterval}
	if err := l.ValidateSaveBatch([]SaveRow{good("a"), good("b"), atMax}); err != nil {
		t.Fatalf("batch at every limit refused: %v", err)
	}
	mut := func(f func(*SaveRow)) []SaveRow { r := good("a"); f(&r); return []SaveRow{good("z"), r} }
	cases := map[string]struct {
		rows []SaveRow
		want error
	}{
		"too many rows":     {[]SaveRow{good("a"), good("b"), good("c"), good("d")}, ErrTooLarge},
		"document too big":  {mut(func(r *SaveRow) { r.Document = make([]byte, 11) }), ErrTooLarge},
		"record too big":    {mut(func(r *SaveRow) { r.Records[0].Result = make([]byte, 5) }), ErrTooLarge},
		"too many records":  {mut(func(r *SaveRow) { r.Records = append(r.Records, Record{Key: "r3"}) }), ErrTooLarge},
		"duplicate record":  {mut(func(r *SaveRow) { r.Records[1].Key = "r1" }), ErrInvalid},
		"bad record key":    {mut(func(r *SaveRow) { r.Records[1].Key = "a b" }), ErrInvalid},
		"duplicate profile": {[]SaveRow{good("a"), good("a")}, ErrInvalid},
		"zero epoch":        {mut(func(r *SaveRow) { r.Epoch = 0 }), ErrInvalid},
		"zero seq":          {mut(func(r *SaveRow) { r.Seq = 0 }), ErrInvalid},
		"negative schema":   {mut(func(r *SaveRow) { r.SchemaVersion = -1 }), ErrInvalid},
		"bad id":            {mut(func(r *SaveRow) { r.Key.ID = "a/b" }), ErrInvalid},
		"negative keep":     {mut(func(r *SaveRow) { r.Retention.Keep = -1 }), ErrInvalid},
		"keep over 1000":    {mut(func(r *SaveRow) { r.Retention.Keep = MaxRetentionKeep + 1 }), ErrInvalid},
		"negative interval": {mut(func(r *SaveRow) { r.Retention.Interval = -time.Second }), ErrInvalid},
		"interval too long": {mut(func(r *SaveRow) { r.Retention.Interval = MaxRetentionInterval + time.Millisecond }), ErrInvalid},
		"sub-ms interval":   {mut(func(r *SaveRow) { r.Retention.Interval = time.Second + time.Microsecond }), ErrInvalid},
	}
	for name, tc := range cases {
		if err := l.ValidateSaveBatch(tc.rows); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
}

func TestValidateTTLAndQuery(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second, time.Microsecond, 25 * time.Hour} {
		if err := ValidateTTL(d); !errors.Is(err, ErrInvalid) {
			t.Errorf("ttl %v accepted", d)
		}
	}
	if q, err := ValidateRecordQuery(RecordQuery{}); err != nil || q.Limit != DefaultRecordPage {
		t.Errorf("default page: %+v %v", q, err)
	}
	if _, err := ValidateRecordQuery(RecordQuery{Limit: MaxRecordPage + 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized page: %v", err)
	}
	if _, err := ValidateRecordQuery(RecordQuery{Limit: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative page: %v", err)
	}
}

// FuzzValidate: no input makes a validator panic, and whatever the profile
// id validator accepts is safe to use as a key component (no separator or
// path characters) and renders in an error message.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"", "a", "a/b", "\x00", "é", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		errs := []error{ValidateNamespace(s), ValidateProfileID(s), ValidateNodeID(s), ValidateRecordKey(s)}
		if errs[1] == nil && strings.ContainsAny(s, "/\x00 \n") {
			t.Fatalf("profile id %q accepted", s)
		}
		for _, err := range errs {
			if err != nil {
				_ = err.Error()
			}
		}
	})
}

func TestValidateAcquireBatch(t *testing.T) {
	l := Limits{MaxBatchRows: 2}.WithDefaults()
	a, b := AcquireRequest{Key: ProfileKey{"g", "a"}}, AcquireRequest{Key: ProfileKey{"g", "b"}, Create: true}
	if err := l.ValidateAcquireBatch([]AcquireRequest{a, b}); err != nil {
		t.Fatalf("batch at the limit refused: %v", err)
	}
	if err := l.ValidateAcquireBatch(nil); err != nil {
		t.Fatalf("empty batch refused: %v", err)
	}
	cases := map[string]struct {
		reqs []AcquireRequest
		want error
	}{
		"too many":  {[]AcquireRequest{a, b, {Key: ProfileKey{"g", "c"}}}, ErrTooLarge},
		"duplicate": {[]AcquireRequest{a, {Key: a.Key, Create: true}}, ErrInvalid},
		"bad id":    {[]AcquireRequest{a, {Key: ProfileKey{"g", "a/b"}}}, ErrInvalid},
		"bad ns":    {[]AcquireRequest{{Key: ProfileKey{"", "a"}}}, ErrInvalid},
	}
	for name, tc := range cases {
		err := l.ValidateAcquireBatch(tc.reqs)
		var le *LimitError
		if !errors.Is(err, tc.want) || !errors.As(err, &le) {
			t.Errorf("%s: got %v, want a *LimitError wrapping %v", name, err, tc.want)
		}
	}
}
