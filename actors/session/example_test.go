package session_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/hearth-profiles/hearth/actors/session"
)

// The life of a session as the profile actor drives it. The actor reads its
// clock and draws tokens from crypto/rand; fixed values stand in here.
func Example() {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const ttl = 30 * time.Second
	var s session.State // free

	s, res, _ := s.Acquire(session.AcquireRequest{Session: "eu-west-7:match-1", Mode: session.ModeFail, Now: now, TTL: ttl, NewToken: "t1"})
	fmt.Println(res.Outcome, s)

	// A write carrying the token renews the session.
	now = now.Add(10 * time.Second)
	s, err := s.Check("t1", now, ttl)
	fmt.Println("write:", err)

	// Another server steals the player; the first one's token stops working.
	s, res, _ = s.Acquire(session.AcquireRequest{Session: "eu-west-9:match-7", Mode: session.ModeSteal, Now: now, TTL: ttl, NewToken: "t2"})
	fmt.Println(res.Outcome, "from", res.Previous)
	_, err = s.Check("t1", now, ttl)
	var stale *session.StaleError
	if errors.As(err, &stale) {
		fmt.Println("old token:", stale.Reason, "by", stale.Holder)
	}

	s, _ = s.Release("t2", now)
	fmt.Println(s)
	// Output:
	// granted held by "eu-west-7:match-1" until 2030-01-01T00:00:30Z (gen 1)
	// write: <nil>
	// stolen from eu-west-7:match-1
	// old token: stolen by eu-west-9:match-7
	// free (released, gen 3)
}
