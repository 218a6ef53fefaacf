package session

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestJSONRoundTrip pins the snapshot encoding: the exact keys (other nodes,
// and older snapshots, must read it) and that ExpiresAt never travels.
func TestJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		state State
		json  string
	}{
		{"never held", State{}, `{}`},
		{"held", held("eu-west-7:match-1234", "tok", 3, t0.Add(ttl)), `{"holder":"eu-west-7:match-1234","token":"tok","gen":3}`},
		{"released", State{Gen: 4, Released: true}, `{"gen":4,"released":true}`},
		{"lapsed", State{Gen: 5}, `{"gen":5}`},
		{"gen near the top", State{Gen: 1<<64 - 1}, `{"gen":18446744073709551615}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.state)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.json {
				t.Fatalf("json = %s, want %s", b, tt.json)
			}
			var got State
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			want := tt.state
			want.ExpiresAt = time.Time{}
			mustEqualState(t, "decoded", got, want)
		})
	}
}

func TestRebase(t *testing.T) {
	later := t0.Add(time.Hour) // the new node's clock has nothing to do with the old one's
	tests := []struct {
		name   string
		loaded State // as decoded from a snapshot: no ExpiresAt
		ttl    time.Duration
		want   State
	}{
		{"holder gets a fresh full ttl", State{Holder: "A", Token: "tA", Gen: 3}, ttl, held("A", "tA", 3, later.Add(ttl))},
		{"free stays free", State{Gen: 2}, ttl, State{Gen: 2}},
		{"released stays released", State{Gen: 2, Released: true}, ttl, State{Gen: 2, Released: true}},
		{"never held stays never held", State{}, ttl, State{}},
		{"an expiry carried over is replaced", held("A", "tA", 1, t0.Add(-time.Hour)), ttl, held("A", "tA", 1, later.Add(ttl))},
		{"a free state loses a stray token", State{Token: "junk", Gen: 2, ExpiresAt: t0}, ttl, State{Gen: 2}},
		{"a holder without a token is dropped", State{Holder: "A", Gen: 2, Released: true}, ttl, State{Gen: 2}},
		{"a held state is never released", State{Holder: "A", Token: "tA", Gen: 2, Released: true}, ttl, held("A", "tA", 2, later.Add(ttl))},
		{"non-positive ttl leaves the holder lapsed", State{Holder: "A", Token: "tA", Gen: 1}, 0, held("A", "tA", 1, later)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.loaded.Rebase(later, tt.ttl)
			mustEqualState(t, "rebased", got, tt.want)
		})
	}
}

// TestHandoff moves a session between two nodes the way the actor does:
// Lapse, snapshot, decode on the other node, Rebase; the token keeps
// working there and the old expiry means nothing.
func TestHandoff(t *testing.T) {
	// Node 1 uses a real clock reading (with a monotonic part) as the actor
	// would; the package itself never reads it.
	n1 := time.Now()
	s, res, err := State{}.Acquire(AcquireRequest{Session: "A", Mode: ModeFail, Now: n1, TTL: ttl, NewToken: "tA"})
	if err != nil || res.Outcome != Granted {
		t.Fatalf("acquire: %v %v", res, err)
	}
	s, _ = s.Lapse(n1.Add(time.Second))
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}

	var loaded State
	if err := json.Unmarshal(b, &loaded); err != nil {
		t.Fatal(err)
	}
	n2 := t0 // node 2's clock: unrelated to node 1's
	// Not rebased yet: the holder has no expiry, so it reads as lapsed. This
	// is why the loading node must Rebase before anything else.
	if loaded.Held(n2) {
		t.Fatal("an un-rebased holder counts as held")
	}
	if _, err := loaded.Check("tA", n2, ttl); !errors.Is(err, ErrStaleSession) {
		t.Fatalf("check before rebase: %v, want stale", err)
	}

	s2 := loaded.Rebase(n2, ttl)
	if got := s2.Remaining(n2); got != ttl {
		t.Fatalf("remaining after rebase = %v, want %v", got, ttl)
	}
	s2, err = s2.Check("tA", n2.Add(ttl-time.Nanosecond), ttl)
	if err != nil {
		t.Fatalf("check after rebase: %v", err)
	}
	_, res, err = s2.Acquire(AcquireRequest{Session: "B", Mode: ModeFail, Now: n2.Add(ttl), TTL: ttl, NewToken: "tB"})
	if err != nil || res.Outcome != Conflict || res.Holder != "A" {
		t.Fatalf("acquire by another on node 2 = %+v, %v; want Conflict with A", res, err)
	}
}
