package session

import "time"

// Rebase is used after a handoff: a State loaded from a snapshot has no
// ExpiresAt (it is local to the node that wrote it). If Holder != "", the
// new node grants the holder a fresh full TTL from now (it cannot know how
// much was left, and cutting a live player's session short would be worse
// than holding a dead one for one more TTL).
//
// Because the TTL is fresh, a holder that had already lapsed when the
// snapshot was written would be revived: the writing node should call Lapse
// before it snapshots the state.
//
// Rebase also normalises shapes this package never produces, since a
// snapshot may come from a buggy or older writer: a free state loses any
// token and expiry, and a holder without a token is dropped (nobody could
// ever renew or release it, so it would only block others for a TTL). A ttl
// <= 0 leaves a holder already lapsed at now: failing safe, it must acquire
// again.
func (s State) Rebase(now time.Time, ttl time.Duration) State {
	switch {
	case s.Holder == "":
		return s.free(s.Gen, s.Released)
	case s.Token == "":
		return s.free(s.Gen, false)
	}
	next := s
	next.Released = false
	next.ExpiresAt = now.Add(ttl)
	return next
}
