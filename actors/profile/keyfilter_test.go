package profile

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
	b, err := encodeEnvelope(1, session.State{}, f, []byte(`{}`))
	if err != nil || !json.Valid(b) {
		t.Fatalf("%s %v", b, err)
	}
	e, err := decodeEnvelope(b)
	if err != nil || !e.Keys.valid() || !e.Keys.mayContain("p:r1") || e.Keys.mayContain("p:r2") {
		t.Fatalf("round trip: %v %v", e.Keys.valid(), err)
	}
	old, _ := encodeEnvelope(1, session.State{}, nil, []byte(`{}`))
	if e, _ := decodeEnvelope(old); e.Keys.valid() {
		t.Fatal("an envelope without a filter must not decode as one")
	}
}
