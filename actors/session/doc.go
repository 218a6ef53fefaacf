// Package session is the state machine of a game-server session on one
// profile: which game server holds the profile, with which token, and until
// when.
//
// A game server (named by a session id such as "eu-west-7:match-1234")
// begins a session with Acquire and gets a token; its writes carry the token
// and Check validates and renews it; Release ends the session. A session that
// is not renewed lapses after its TTL. Another server may acquire a held
// profile in one of three modes: fail (Conflict at once), wait (the caller
// keeps the request pending and asks again later) or steal (it takes the
// session over at once and the old token stops working).
//
// The package is pure so that the profile actor can drive it from its
// mailbox and tests can drive it without one: there is no I/O, no goroutine,
// no package-level mutable state, and no clock is read. Every time is an
// argument and every transition returns a new State, leaving the receiver
// untouched; an error always comes with the unchanged state.
//
// Transitions (held means Holder != "" and now is before ExpiresAt):
//
//	from                event                                answer, then state
//	free or lapsed      Acquire, any mode                    Granted: the caller holds it, new token, Gen+1
//	held by the caller  Acquire, any mode                    Reused: same token, expiry renewed
//	held by another     Acquire ModeFail                     Conflict: unchanged
//	held by another     Acquire ModeWait                     Wait: unchanged
//	held by another     Acquire ModeSteal                    Stolen: the caller holds it, new token, Gen+1
//	held                Check with the current token         ok: expiry renewed
//	held                Release with the current token       ok: free, Released, Gen+1
//	lapsed              Lapse                                the lapsed holder: free
//	any                 Check or Release with another token  *StaleError: unchanged
//	lapsed              Check or Release with its token      *StaleError: unchanged
//
// The state is serialisable (encoding/json) so it can travel inside a
// profile snapshot to another node. ExpiresAt is deliberately not part of
// it: it is read off the writing node's monotonic clock and means nothing
// elsewhere. The loading node calls Rebase to give a restored holder a fresh
// TTL.
package session
