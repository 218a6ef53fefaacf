package document

import (
	"encoding/json"
	"testing"
)

// mustDecode decodes JSON test data or fails the test.
func mustDecode(t testing.TB, s string) any {
	t.Helper()
	v, err := Decode([]byte(s))
	if err != nil {
		t.Fatalf("Decode(%s): %v", s, err)
	}
	return v
}

// mustEncode encodes a document value or fails the test.
func mustEncode(t testing.TB, v any) string {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return string(b)
}

// canon re-encodes JSON test data canonically (sorted keys, compact) so
// expectations can be written readably.
func canon(t testing.TB, s string) string {
	t.Helper()
	return mustEncode(t, mustDecode(t, s))
}

func num(s string) json.Number { return json.Number(s) }
