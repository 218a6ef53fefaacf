package session

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestInvalidInputsLeaveStateUnchanged(t *testing.T) {
	const secret = "secret-token-A"
	live := held("A", secret, 3, t0.Add(ttl))
	good := AcquireRequest{Session: "B", Mode: ModeFail, Now: t0, TTL: ttl, NewToken: "tB"}
	with := func(edit func(*AcquireRequest)) AcquireRequest {
		r := good
		edit(&r)
		return r
	}
	acq := func(r AcquireRequest) func(State) (State, error) {
		return func(s State) (State, error) {
			next, res, err := s.Acquire(r)
			if res != (AcquireResult{}) {
				t.Errorf("result %+v beside an error", res)
			}
			return next, err
		}
	}

	tests := []struct {
		name  string
		start State
		call  func(State) (State, error)
		want  error
	}{
		{"empty session", live, acq(with(func(r *AcquireRequest) { r.Session = "" })), ErrInvalidSession},
		{"session too long", live, acq(with(func(r *AcquireRequest) { r.Session = strings.Repeat("s", MaxSessionLen+1) })), ErrInvalidSession},
		{"session not UTF-8", live, acq(with(func(r *AcquireRequest) { r.Session = "eu\xff" })), ErrInvalidSession},
		{"session with newline", live, acq(with(func(r *AcquireRequest) { r.Session = "eu-west-7\nINFO forged" })), ErrInvalidSession},
		{"session with NUL", live, acq(with(func(r *AcquireRequest) { r.Session = "a\x00" })), ErrInvalidSession},
		{"session with DEL", live, acq(with(func(r *AcquireRequest) { r.Session = "a\x7f" })), ErrInvalidSession},
		{"session with C1 control", live, acq(with(func(r *AcquireRequest) { r.Session = "a\u0085" })), ErrInvalidSession},
		{"mode zero", live, acq(with(func(r *AcquireRequest) { r.Mode = 0 })), ErrInvalidMode},
		{"mode out of range", live, acq(with(func(r *AcquireRequest) { r.Mode = ModeSteal + 1 })), ErrInvalidMode},
		{"ttl zero", live, acq(with(func(r *AcquireRequest) { r.TTL = 0 })), ErrInvalidTTL},
		{"ttl negative", live, acq(with(func(r *AcquireRequest) { r.TTL = -time.Second })), ErrInvalidTTL},
		{"empty new token", live, acq(with(func(r *AcquireRequest) { r.NewToken = "" })), ErrInvalidToken},
		{"empty new token even for a reuse", live, acq(with(func(r *AcquireRequest) { r.Session, r.NewToken = "A", "" })), ErrInvalidToken},
		{"session checked before mode, ttl and token", live, acq(AcquireRequest{Now: t0}), ErrInvalidSession},
		{"steal with the current token as the new one", live, acq(with(func(r *AcquireRequest) { r.Mode, r.NewToken = ModeSteal, secret })), ErrInvalidToken},
		{"grant after a lapse with the lapsed token as the new one", live, acq(with(func(r *AcquireRequest) { r.Now, r.NewToken = t0.Add(ttl), secret })), ErrInvalidToken},
		{"check with empty token", live, func(s State) (State, error) { return s.Check("", t0, ttl) }, ErrInvalidToken},
		{"check with zero ttl", live, func(s State) (State, error) { return s.Check(secret, t0, 0) }, ErrInvalidTTL},
		{"check with negative ttl", live, func(s State) (State, error) { return s.Check(secret, t0, -1) }, ErrInvalidTTL},
		{"check with empty token on a free state", State{}, func(s State) (State, error) { return s.Check("", t0, ttl) }, ErrInvalidToken},
		{"release with empty token", live, func(s State) (State, error) { return s.Release("", t0) }, ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call(tt.start)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err %T is not an *InvalidError", err)
			}
			if errors.Is(err, ErrStaleSession) {
				t.Fatalf("invalid input also reads as stale: %v", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error message leaks the token: %v", err)
			}
			mustEqualState(t, "after invalid input", got, tt.start)
		})
	}
}

func TestValidSessionIDs(t *testing.T) {
	for _, id := range []string{
		"eu-west-7:match-1234",
		"a",
		strings.Repeat("s", MaxSessionLen),
		"ünïcödé:match-1",
		"with space",
	} {
		_, res, err := State{}.Acquire(AcquireRequest{Session: id, Mode: ModeFail, Now: t0, TTL: ttl, NewToken: "t"})
		if err != nil || res.Outcome != Granted {
			t.Errorf("Acquire(%q) = %v, %v; want Granted", id, res.Outcome, err)
		}
	}
}
