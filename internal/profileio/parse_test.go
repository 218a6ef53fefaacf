package profileio

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/persistence"
)

func encoded(t *testing.T, v any) string {
	t.Helper()
	b, err := document.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseHearthLine(t *testing.T) {
	r, err := ParseLine([]byte(`{"namespace":"game","id":"p1","version":7,"schema_version":2,"user_ids":["u2","u1","u2"],"saved_at":"2026-11-29T00:50:43.8Z","document":{"coins":5,"big":12345678901234567890}}`), "ignored")
	if err != nil {
		t.Fatal(err)
	}
	if r.Key != (persistence.ProfileKey{Namespace: "game", ID: "p1"}) || r.Schema != 2 || r.Shape != ShapeHearth ||
		!slices.Equal(r.UserIDs, []string{"u1", "u2"}) || len(r.Warnings) != 0 {
		t.Errorf("record = %+v", r)
	}
	// Numbers stay exact (no float64 on the way).
	if got := encoded(t, r.Document); got != `{"big":12345678901234567890,"coins":5}` {
		t.Errorf("document = %s", got)
	}
	// A line without a namespace takes the default.
	r, err = ParseLine([]byte(`{"id":"p1","document":{}}`), "dflt")
	if err != nil || r.Key.Namespace != "dflt" {
		t.Errorf("default namespace: %+v %v", r, err)
	}
}

// The shape ProfileStore saves: Data becomes the document, UserIds and
// the entry's user ids the user ids; what is dropped is warned about.
func TestParseProfileStoreEntry(t *testing.T) {
	line := `{"key":"Player_123","data":{
		"Data":{"Coins":50,"Inventory":["Sword"],"Settings":{"Music":true}},
		"MetaData":{"ProfileCreateTime":1700000000,"SessionLoadCount":12,"ActiveSession":[1818,"a1b2-job",7],
		            "ForceLoadSession":null,"LastUpdate":1700003600,"MetaTags":{"Tester":true}},
		"RobloxMetaData":{"Region":"eu"},
		"UserIds":[123,456],
		"GlobalUpdates":[3,[[2,{"Type":"Gift","Coins":10}],[3,{"Type":"Gift","Coins":5}]]]},
		"metadata":{"Region":"eu"},"user_ids":[123,"789"]}`
	r, err := ParseLine([]byte(line), "game")
	if err != nil {
		t.Fatal(err)
	}
	if r.Key != (persistence.ProfileKey{Namespace: "game", ID: "Player_123"}) || r.Shape != ShapeProfileStore || r.Schema != 0 {
		t.Errorf("record = %+v", r)
	}
	if got := encoded(t, r.Document); got != `{"Coins":50,"Inventory":["Sword"],"Settings":{"Music":true}}` {
		t.Errorf("document = %s", got)
	}
	if !slices.Equal(r.UserIDs, []string{"123", "456", "789"}) {
		t.Errorf("user ids = %v", r.UserIDs)
	}
	warned := strings.Join(r.Warnings, "\n")
	for _, want := range []string{"metadata", "MetaTags", "ActiveSession", "dropped 2 pending GlobalUpdates", "RobloxMetaData"} {
		if !strings.Contains(warned, want) {
			t.Errorf("warnings lack %q:\n%s", want, warned)
		}
	}

	// ProfileService's table, with empty tables exported as [] and nothing
	// pending: no warnings.
	r, err = ParseLine([]byte(`{"key":"p9","data":{"Data":[],"MetaData":{"MetaTags":[],"ActiveSession":null},"GlobalUpdates":[0,[]],"UserIds":[],"RobloxMetaData":{}},"metadata":null,"user_ids":[]}`), "game")
	if err != nil || r.Shape != ShapeProfileStore || encoded(t, r.Document) != `{}` || len(r.Warnings) != 0 || len(r.UserIDs) != 0 {
		t.Errorf("ProfileService table: %+v %v", r, err)
	}
}

// A DataStore entry that is not a ProfileStore profile is taken whole.
func TestParseDataStoreEntry(t *testing.T) {
	r, err := ParseLine([]byte(`{"key":"Player_5","data":{"Data":{"x":1},"Level":3},"metadata":{},"user_ids":[5]}`), "game")
	if err != nil {
		t.Fatal(err)
	}
	if r.Shape != ShapeDataStore || encoded(t, r.Document) != `{"Data":{"x":1},"Level":3}` || !slices.Equal(r.UserIDs, []string{"5"}) {
		t.Errorf("record = %+v (%s)", r, encoded(t, r.Document))
	}
}

func TestParseRefusals(t *testing.T) {
	for name, line := range map[string]string{
		"not JSON":              `{"key":`,
		"neither shape":         `{"id":"p1","doc":{}}`,
		"unknown member":        `{"namespace":"game","id":"p1","document":{},"extra":1}`,
		"roblox unknown member": `{"key":"p1","data":{},"scope":"global"}`,
		"document not object":   `{"namespace":"game","id":"p1","document":[1,2]}`,
		"document string":       `{"namespace":"game","id":"p1","document":"{\"a\":1}"}`,
		"no namespace":          `{"key":"p1","data":{}}`,
		"bad profile id":        `{"key":"Player/1","data":{}}`,
		"bad namespace":         `{"namespace":"Game","id":"p1","document":{}}`,
		"data not a table":      `{"key":"p1","data":42}`,
		"fractional user id":    `{"key":"p1","data":{},"user_ids":[1.5]}`,
		"bad user id":           `{"namespace":"game","id":"p1","document":{},"user_ids":["a b"]}`,
		"too many user ids":     `{"namespace":"game","id":"p1","document":{},"user_ids":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17"]}`,
		"negative schema":       `{"namespace":"game","id":"p1","document":{},"schema_version":-1}`,
		"no data":               `{"key":"p1"}`,
		"ProfileStore UserIds":  `{"key":"p1","data":{"Data":{},"MetaData":{},"UserIds":"123"}}`,
	} {
		ns := "game"
		if name == "no namespace" {
			ns = ""
		}
		if _, err := ParseLine([]byte(line), ns); !errors.Is(err, ErrBadLine) {
			t.Errorf("%s: err = %v, want ErrBadLine", name, err)
		}
	}
}

// The key is a function of what is written, and changes with any of it.
func TestIdempotencyKey(t *testing.T) {
	k := persistence.ProfileKey{Namespace: "game", ID: "p1"}
	base := IdempotencyKey(k, []byte(`{"a":1}`), []string{"u1"})
	if base != IdempotencyKey(k, []byte(`{"a":1}`), []string{"u1"}) {
		t.Fatal("the same write gets another key")
	}
	if err := persistence.ValidateRecordKey(base); err != nil || !strings.HasPrefix(base, KeyPrefix) {
		t.Fatalf("key %q: %v", base, err)
	}
	for name, other := range map[string]string{
		"namespace": IdempotencyKey(persistence.ProfileKey{Namespace: "game2", ID: "p1"}, []byte(`{"a":1}`), []string{"u1"}),
		"id":        IdempotencyKey(persistence.ProfileKey{Namespace: "game", ID: "p2"}, []byte(`{"a":1}`), []string{"u1"}),
		"document":  IdempotencyKey(k, []byte(`{"a":2}`), []string{"u1"}),
		"user ids":  IdempotencyKey(k, []byte(`{"a":1}`), []string{"u1", "u2"}),
		"no users":  IdempotencyKey(k, []byte(`{"a":1}`), nil),
	} {
		if other == base {
			t.Errorf("a different %s gets the same key", name)
		}
	}
}

func TestLineReader(t *testing.T) {
	in := "one\r\n\n" + strings.Repeat("x", 100) + "\ntwo\n" + strings.Repeat("y", 70000) + "\nlast"
	lr := newLineReader(strings.NewReader(in), 80000)
	type got struct {
		line string
		no   int
		err  bool
	}
	var all []got
	for {
		line, no, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		all = append(all, got{string(line), no, err != nil})
	}
	if len(all) != 6 || all[0] != (got{"one", 1, false}) || all[1] != (got{"", 2, false}) || all[3] != (got{"two", 4, false}) ||
		len(all[4].line) != 70000 || all[5] != (got{"last", 6, false}) {
		t.Errorf("lines = %v", all)
	}
	if lr.read != int64(len(in)) {
		t.Errorf("read %d of %d bytes", lr.read, len(in))
	}

	lr = newLineReader(strings.NewReader(strings.Repeat("z", 200)+"\nok\n"), 100)
	if _, no, err := lr.next(); !errors.Is(err, errLineTooLong) || no != 1 {
		t.Errorf("long line: %d %v", no, err)
	}
	if line, no, err := lr.next(); string(line) != "ok" || no != 2 || err != nil {
		t.Errorf("after a long line: %q %d %v", line, no, err)
	}
}
