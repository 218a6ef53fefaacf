package activation

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hearth-profiles/hearth/actors/session"
)

func TestKeyFilterHasNoFalseNegatives(t *testing.T) {
	f := newKeyFilter()
	for i := range 3000 {
		k := fmt.Sprint("u:key-", i)
		f.add(k)
		if !f.mayContain(k) {
			t.Fatalf("added key %s not found", k)
		}
	}
	for i := range 3000 {
		if !f.mayContain(fmt.Sprint("u:key-", i)) {
			t.Fatal("a key was forgotten")
		}
	}
}

func TestKeyFilterFalsePositiveRate(t *testing.T) {
	f := newKeyFilter()
	for i := range 300 {
		f.add(fmt.Sprint("p:receipt-", i))
	}
	fp := 0
	for i := range 10000 {
		if f.mayContain(fmt.Sprint("u:other-", i)) {
			fp++
		}
	}
	if fp > 200 { // 2%; the design point is under 1% at 300 keys
		t.Fatalf("%d false positives in 10000", fp)
	}
	if !saturatedKeyFilter().mayContain("anything") || newKeyFilter().mayContain("anything") {
		t.Fatal("saturated must say maybe, empty must say no")
	}
}

func TestKeyFilterTravelsInTheEnvelope(t *testing.T) {
	f := newKeyFilter()
	f.add("p:r1")
	b, err := encodeEnvelope(1, session.State{}, f, nil, []byte(`{}`))
	if err != nil || !json.Valid(b) {
		t.Fatalf("%s %v", b, err)
	}
	e, err := decodeEnvelope(b)
	if err != nil || e.Keys == nil || !e.Keys.mayContain("p:r1") || e.Keys.mayContain("p:r2") {
		t.Fatalf("round trip: %v %v", e.Keys, err)
	}
	empty, _ := encodeEnvelope(1, session.State{}, nil, nil, []byte(`{}`))
	if e, _ := decodeEnvelope(empty); e.Keys == nil || *e.Keys != nil {
		t.Fatalf("an empty filter must decode as present and empty: %s", empty)
	}
	old := []byte(`{"hearth":1,"version":1,"doc":{}}`)
	if e, _ := decodeEnvelope(old); e.Keys != nil {
		t.Fatal("an envelope without a filter must not decode as one")
	}
}

func TestKeyFilterStoredFormIsCompactAndExact(t *testing.T) {
	for _, n := range []int{0, 1, 10, 100, 1000} {
		var f keyFilter
		for i := range n {
			f.add(fmt.Sprint("u:k", i))
		}
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		var back keyFilter
		if err := json.Unmarshal(b, &back); err != nil || string(back) != string(f) {
			t.Fatalf("%d keys: round trip failed (%v)", n, err)
		}
		if n <= 10 && len(b) > 120 {
			t.Fatalf("%d keys stored in %d bytes; the sparse form should be small", n, len(b))
		}
		if len(b) > 700 {
			t.Fatalf("%d keys stored in %d bytes; never more than the bitmap", n, len(b))
		}
	}
	// Unreadable forms become "maybe" for every key: slower, never wrong.
	for _, bad := range []string{`"AgE="`, `"AQD/"`, `"AAE="`} {
		var f keyFilter
		_ = json.Unmarshal([]byte(bad), &f)
		if !f.mayContain("u:anything") {
			t.Errorf("%s decoded as a usable filter", bad)
		}
	}
}

func FuzzKeyFilterUnmarshal(f *testing.F) {
	f.Add([]byte(`"AQ=="`))
	f.Add([]byte(`"AQEAAgA="`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var k keyFilter
		if err := json.Unmarshal(data, &k); err != nil {
			return
		}
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var again keyFilter
		if err := json.Unmarshal(b, &again); err != nil || string(again) != string(k) {
			t.Fatalf("round trip changed the filter")
		}
	})
}
