package session

import (
	"errors"
	"testing"
	"time"
)

// world is what a scenario runs against: the state and the clock.
type world struct {
	t   *testing.T
	s   State
	now time.Time
}

// step is one event of a scenario and the expectations about its answer.
type step interface{ run(w *world) }

// acquire requests the session; want is the exact expected result.
type acquire struct {
	session string
	mode    Mode
	token   string        // NewToken
	ttl     time.Duration // 0 means the default ttl
	want    AcquireResult
}

func (a acquire) run(w *world) {
	w.t.Helper()
	d := a.ttl
	if d == 0 {
		d = ttl
	}
	before := w.s
	next, res, err := before.Acquire(AcquireRequest{Session: a.session, Mode: a.mode, Now: w.now, TTL: d, NewToken: a.token})
	if err != nil {
		w.t.Fatalf("Acquire(%q, %v): %v", a.session, a.mode, err)
	}
	if res != a.want {
		w.t.Fatalf("Acquire(%q, %v) = %+v, want %+v", a.session, a.mode, res, a.want)
	}
	// What each outcome does to the state, beyond the answer.
	switch res.Outcome {
	case Conflict, Wait:
		mustEqualState(w.t, "after "+res.Outcome.String(), next, before)
	case Reused:
		mustEqualState(w.t, "after reuse", next, held(before.Holder, before.Token, before.Gen, w.now.Add(d)))
	case Granted, Stolen:
		mustEqualState(w.t, "after "+res.Outcome.String(), next, held(a.session, a.token, before.Gen+1, w.now.Add(d)))
	}
	w.s = next
}

// check sends a write with token; reason "" expects success.
type check struct {
	token  string
	ttl    time.Duration // 0 means the default ttl
	reason string        // expected StaleError.Reason, "" for success
	holder string        // expected StaleError.Holder
}

func (c check) run(w *world) {
	w.t.Helper()
	d := c.ttl
	if d == 0 {
		d = ttl
	}
	before := w.s
	next, err := before.Check(c.token, w.now, d)
	if c.reason == "" {
		if err != nil {
			w.t.Fatalf("Check(%q): %v", c.token, err)
		}
		want := before
		want.ExpiresAt = w.now.Add(d)
		mustEqualState(w.t, "after check", next, want)
		w.s = next
		return
	}
	mustStale(w.t, "Check("+c.token+")", err, c.reason, c.holder)
	mustEqualState(w.t, "after refused check", next, before)
}

// release ends the session with token; reason "" expects success.
type release struct {
	token  string
	reason string
	holder string
}

func (r release) run(w *world) {
	w.t.Helper()
	before := w.s
	next, err := before.Release(r.token, w.now)
	if r.reason == "" {
		if err != nil {
			w.t.Fatalf("Release(%q): %v", r.token, err)
		}
		mustEqualState(w.t, "after release", next, State{Gen: before.Gen + 1, Released: true})
		w.s = next
		return
	}
	mustStale(w.t, "Release("+r.token+")", err, r.reason, r.holder)
	mustEqualState(w.t, "after refused release", next, before)
}

// lapse runs the lapse timer; want is the holder it should clear.
type lapse struct{ want string }

func (l lapse) run(w *world) {
	w.t.Helper()
	next, got := w.s.Lapse(w.now)
	if got != l.want {
		w.t.Fatalf("Lapse = %q, want %q", got, l.want)
	}
	if got == "" {
		mustEqualState(w.t, "after no-op lapse", next, w.s)
	} else {
		mustEqualState(w.t, "after lapse", next, State{Gen: w.s.Gen})
	}
	w.s = next
}

// advance moves the clock.
type advance time.Duration

func (a advance) run(w *world) { w.now = w.now.Add(time.Duration(a)) }

// expect asserts the whole state; left is the remaining TTL when held.
type expect struct {
	holder, token string
	gen           uint64
	left          time.Duration
	released      bool
}

func (e expect) run(w *world) {
	w.t.Helper()
	want := State{Holder: e.holder, Token: e.token, Gen: e.gen, Released: e.released}
	if e.holder != "" {
		want.ExpiresAt = w.now.Add(e.left)
	}
	mustEqualState(w.t, "expect", w.s, want)
	if got := w.s.Remaining(w.now); got != max(e.left, 0) {
		w.t.Fatalf("Remaining = %v, want %v", got, e.left)
	}
}

func mustStale(t *testing.T, what string, err error, reason, holder string) {
	t.Helper()
	if !errors.Is(err, ErrStaleSession) {
		t.Fatalf("%s: err = %v, want ErrStaleSession", what, err)
	}
	var se *StaleError
	if !errors.As(err, &se) {
		t.Fatalf("%s: err %T is not a *StaleError", what, err)
	}
	if se.Reason != reason || se.Holder != holder {
		t.Fatalf("%s: StaleError{Holder: %q, Reason: %q}, want {%q, %q}", what, se.Holder, se.Reason, holder, reason)
	}
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		name  string
		start State // zero: free, never held
		steps []step
	}{
		{
			name: "free to granted",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				expect{holder: "A", token: "tA", gen: 1, left: ttl},
				check{token: "tA"},
			},
		},
		{
			name: "every mode is granted on a free profile",
			steps: []step{
				acquire{session: "A", mode: ModeSteal, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				release{token: "tA"},
				acquire{session: "B", mode: ModeWait, token: "tB", want: AcquireResult{Outcome: Granted, Token: "tB"}},
				expect{holder: "B", token: "tB", gen: 3, left: ttl},
			},
		},
		{
			name: "reuse by the same session keeps the token and renews",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				advance(20 * time.Second),
				acquire{session: "A", mode: ModeFail, token: "unused", want: AcquireResult{Outcome: Reused, Token: "tA"}},
				expect{holder: "A", token: "tA", gen: 1, left: ttl},
				acquire{session: "A", mode: ModeSteal, token: "unused2", ttl: time.Minute, want: AcquireResult{Outcome: Reused, Token: "tA"}},
				expect{holder: "A", token: "tA", gen: 1, left: time.Minute},
				check{token: "tA"},
			},
		},
		{
			name: "fail mode against a live holder conflicts and changes nothing",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				advance(10 * time.Second),
				acquire{session: "B", mode: ModeFail, token: "tB", want: AcquireResult{Outcome: Conflict, Holder: "A", Remaining: 20 * time.Second}},
				expect{holder: "A", token: "tA", gen: 1, left: 20 * time.Second},
				check{token: "tA"},
				check{token: "tB", reason: ReasonUnknownToken, holder: "A"},
			},
		},
		{
			name: "wait mode waits, then is granted once the holder lapses",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				advance(10 * time.Second),
				acquire{session: "B", mode: ModeWait, token: "tB", want: AcquireResult{Outcome: Wait, Holder: "A", Remaining: 20 * time.Second}},
				expect{holder: "A", token: "tA", gen: 1, left: 20 * time.Second},
				advance(20 * time.Second),
				acquire{session: "B", mode: ModeWait, token: "tB", want: AcquireResult{Outcome: Granted, Token: "tB", Previous: "A"}},
			},
		},
		{
			name: "wait mode is granted after the holder releases",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				acquire{session: "B", mode: ModeWait, token: "tB", want: AcquireResult{Outcome: Wait, Holder: "A", Remaining: ttl}},
				release{token: "tA"},
				acquire{session: "B", mode: ModeWait, token: "tB", want: AcquireResult{Outcome: Granted, Token: "tB"}},
				expect{holder: "B", token: "tB", gen: 3, left: ttl},
			},
		},
		{
			name: "steal gives a new token and the old one is refused as stolen",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				advance(5 * time.Second),
				acquire{session: "B", mode: ModeSteal, token: "tB", want: AcquireResult{Outcome: Stolen, Token: "tB", Previous: "A"}},
				expect{holder: "B", token: "tB", gen: 2, left: ttl},
				check{token: "tA", reason: ReasonStolen, holder: "B"},
				release{token: "tA", reason: ReasonStolen, holder: "B"},
				check{token: "tB"},
				// The robbed server rejoining without stealing is now the one refused.
				acquire{session: "A", mode: ModeFail, token: "tA2", want: AcquireResult{Outcome: Conflict, Holder: "B", Remaining: ttl}},
				acquire{session: "A", mode: ModeSteal, token: "tA2", want: AcquireResult{Outcome: Stolen, Token: "tA2", Previous: "B"}},
				// Only the last ended session is remembered: tA is two
				// sessions back and is not blamed on either steal.
				check{token: "tA", reason: ReasonUnknownToken, holder: "A"},
				check{token: "tB", reason: ReasonStolen, holder: "A"},
				expect{holder: "A", token: "tA2", gen: 3, left: ttl},
			},
		},
		{
			name: "a lapsed holder is replaced: Granted with Previous naming it",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				advance(ttl), // expiry is exclusive: at ExpiresAt the session has lapsed
				acquire{session: "B", mode: ModeFail, token: "tB", want: AcquireResult{Outcome: Granted, Token: "tB", Previous: "A"}},
				expect{holder: "B", token: "tB", gen: 2, left: ttl},
				// The replaced token's session lapsed; it was not stolen.
				check{token: "tA", reason: ReasonLapsed, holder: "B"},
			},
		},
		{
			name: "the lapsed holder itself gets a new token, not its old one",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				advance(ttl + time.Second),
				acquire{session: "A", mode: ModeFail, token: "tA2", want: AcquireResult{Outcome: Granted, Token: "tA2", Previous: "A"}},
				check{token: "tA", reason: ReasonLapsed, holder: "A"},
				check{token: "tA2"},
			},
		},
		{
			name: "Lapse clears the holder; a later grant has no Previous",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				advance(ttl - time.Nanosecond),
				lapse{want: ""}, // not yet
				advance(time.Nanosecond),
				lapse{want: "A"},
				expect{gen: 1},
				lapse{want: ""}, // idempotent
				check{token: "tA", reason: ReasonLapsed},
				release{token: "tA", reason: ReasonLapsed},
				acquire{session: "B", mode: ModeFail, token: "tB", want: AcquireResult{Outcome: Granted, Token: "tB"}},
				expect{holder: "B", token: "tB", gen: 2, left: ttl},
			},
		},
		{
			name: "release frees the profile and the old token is refused as released",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				release{token: "tA"},
				expect{gen: 2, released: true},
				check{token: "tA", reason: ReasonReleased},
				release{token: "tA", reason: ReasonReleased}, // a retried release: harmless, unchanged
				lapse{want: ""},
				expect{gen: 2, released: true},
				acquire{session: "A", mode: ModeFail, token: "tA2", want: AcquireResult{Outcome: Granted, Token: "tA2"}},
				expect{holder: "A", token: "tA2", gen: 3, left: ttl},
				check{token: "tA", reason: ReasonReleased, holder: "A"},
			},
		},
		{
			name: "a token is stale after its session lapses, even before Lapse runs",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				advance(ttl),
				check{token: "tA", reason: ReasonLapsed},
				release{token: "tA", reason: ReasonLapsed},
				expect{holder: "A", token: "tA", gen: 1, left: 0}, // not cleared: Lapse does that
				check{token: "other", reason: ReasonUnknownToken},
				lapse{want: "A"},
				check{token: "tA", reason: ReasonLapsed},
			},
		},
		{
			name: "check renews the expiry to now+ttl",
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				advance(29 * time.Second),
				check{token: "tA"},
				expect{holder: "A", token: "tA", gen: 1, left: ttl},
				advance(29 * time.Second),
				check{token: "tA", ttl: 10 * time.Second},
				expect{holder: "A", token: "tA", gen: 1, left: 10 * time.Second},
				advance(10 * time.Second),
				check{token: "tA", reason: ReasonLapsed},
			},
		},
		{
			name: "a token never issued is unknown",
			steps: []step{
				check{token: "forged", reason: ReasonUnknownToken},
				release{token: "forged", reason: ReasonUnknownToken},
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				check{token: "forged", reason: ReasonUnknownToken, holder: "A"},
				check{token: "tA" + "x", reason: ReasonUnknownToken, holder: "A"},
				check{token: "t", reason: ReasonUnknownToken, holder: "A"},
			},
		},
		{
			name:  "a stolen token stays refused after the thief releases",
			start: State{},
			steps: []step{
				acquire{session: "A", mode: ModeFail, token: "tA", want: AcquireResult{Outcome: Granted, Token: "tA"}},
				acquire{session: "B", mode: ModeSteal, token: "tB", want: AcquireResult{Outcome: Stolen, Token: "tB", Previous: "A"}},
				release{token: "tB"},
				expect{gen: 3, released: true},
				check{token: "tA", reason: ReasonUnknownToken},
				check{token: "tB", reason: ReasonReleased},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &world{t: t, s: tt.start, now: t0}
			for i, st := range tt.steps {
				// Logged only if the test fails, to say which step did.
				t.Logf("step %d at +%v: %T%+v", i, w.now.Sub(t0), st, st)
				st.run(w)
			}
		})
	}
}
