package session

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"time"
)

// State is a value; every transition returns a new State. The zero value is
// Free.
//
// A State built by this package keeps these shapes: free (Holder, Token and
// ExpiresAt all empty) or held/lapsed (Holder and Token set, ExpiresAt set
// once rebased). Released is only ever true when free.
type State struct {
	Holder    string    `json:"holder,omitempty"`   // session id of the holder; "" when free
	Token     string    `json:"token,omitempty"`    // the holder's current token
	Gen       uint64    `json:"gen,omitempty"`      // bumped at every grant to a different holder or steal, and at every release; never decreases
	ExpiresAt time.Time `json:"-"`                  // local (node monotonic clock) expiry; zero when free. Not persisted: see Rebase
	Released  bool      `json:"released,omitempty"` // the last session ended by Release (vs never held / lapsed)
	// Prev is a fingerprint of the last token that stopped being current,
	// and PrevEnd how its session ended (ReasonStolen, ReasonReleased or
	// ReasonLapsed), so a refusal of that token says exactly why, and a
	// token that is neither current nor the last one is never blamed on a
	// steal it may have had nothing to do with. A fingerprint, not the
	// token: snapshots are not a place for secrets.
	Prev    string `json:"prev,omitempty"`
	PrevEnd string `json:"prev_end,omitempty"`
}

// Held reports whether a session holds the profile at now. A holder whose
// ExpiresAt is not after now has lapsed, even before Lapse clears it, so no
// decision depends on whether the actor's timer has fired yet.
func (s State) Held(now time.Time) bool { return s.Holder != "" && now.Before(s.ExpiresAt) }

// Remaining is how long the session has left at now unless renewed; 0 when
// not held.
func (s State) Remaining(now time.Time) time.Duration {
	if !s.Held(now) {
		return 0
	}
	return s.ExpiresAt.Sub(now)
}

// free is the state after a session ended. It keeps nothing of the session:
// a Token left behind in a free state could be revived by a later bug, and a
// stale ExpiresAt would make the shape ambiguous.
func (s State) free(gen uint64, released bool) State {
	return State{Gen: gen, Released: released, Prev: s.Prev, PrevEnd: s.PrevEnd}
}

// retired is s after token stopped being current because its session ended
// as end.
func (s State) retired(token, end string) State {
	if token != "" {
		s.Prev, s.PrevEnd = fingerprint(token), end
	}
	return s
}

// fingerprint identifies a token without revealing it.
func fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

// nextGen is Gen+1, saturating instead of wrapping so that Gen never
// decreases even for a corrupt snapshot near the top of the range (2^64
// grants are otherwise out of reach).
func nextGen(g uint64) uint64 {
	if g == math.MaxUint64 {
		return g
	}
	return g + 1
}
