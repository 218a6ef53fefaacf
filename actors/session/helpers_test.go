package session

import (
	"testing"
	"time"
)

// t0 is an arbitrary fixed start; tests never read the clock.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const ttl = 30 * time.Second

// equalState compares states field by field, times with Equal: == on
// time.Time also compares locations and monotonic readings, which is not
// what "the same state" means.
func equalState(a, b State) bool {
	return a.Holder == b.Holder && a.Token == b.Token && a.Gen == b.Gen &&
		a.Released == b.Released && a.ExpiresAt.Equal(b.ExpiresAt)
}

// dump prints a state for a failure message, token included (tests only).
func dump(s State) string {
	return s.String() + " token=" + s.Token
}

// held builds a state held by holder with token, expiring at exp.
func held(holder, token string, gen uint64, exp time.Time) State {
	return State{Holder: holder, Token: token, Gen: gen, ExpiresAt: exp}
}

func mustEqualState(t *testing.T, what string, got, want State) {
	t.Helper()
	if !equalState(got, want) {
		t.Fatalf("%s: state = %s, want %s", what, dump(got), dump(want))
	}
}
