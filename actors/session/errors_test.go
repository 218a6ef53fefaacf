package session

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestStaleError(t *testing.T) {
	tests := []struct {
		err  *StaleError
		text string
	}{
		{&StaleError{Holder: "B", Reason: ReasonStolen}, `stale session token: stolen; held by session "B"`},
		{&StaleError{Reason: ReasonReleased}, `stale session token: released`},
		{&StaleError{Reason: ReasonLapsed}, `stale session token: lapsed`},
		{&StaleError{Holder: "a\nb", Reason: ReasonUnknownToken}, `stale session token: unknown token; held by session "a\nb"`},
	}
	for _, tt := range tests {
		wrapped := fmt.Errorf("update: %w", tt.err)
		if !errors.Is(wrapped, ErrStaleSession) {
			t.Errorf("%v does not match ErrStaleSession", tt.err)
		}
		for _, other := range []error{ErrInvalidSession, ErrInvalidToken, ErrInvalidTTL, ErrInvalidMode} {
			if errors.Is(wrapped, other) {
				t.Errorf("%v matches %v", tt.err, other)
			}
		}
		var se *StaleError
		if !errors.As(wrapped, &se) || se != tt.err {
			t.Errorf("errors.As(%v) failed", wrapped)
		}
		if got := tt.err.Error(); got != tt.text {
			t.Errorf("Error() = %q, want %q", got, tt.text)
		}
	}
}

func TestInvalidErrorText(t *testing.T) {
	tests := []struct {
		err  error
		text string
	}{
		{validateSession(""), `invalid session id: must not be empty`},
		{validateSession("a\nb"), `invalid session id "a\nb": contains a control character`},
		{validateSession(strings.Repeat("x", 200)), `invalid session id "` + strings.Repeat("x", 64) + `"...: 200 bytes, limit 128`},
		{validateTTL(0), `invalid session ttl 0s: must be positive`},
		{validateMode(0), `invalid acquire mode Mode(0): must be ModeFail, ModeWait or ModeSteal`},
		{validateToken("token", ""), `invalid session token: token must not be empty`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.text {
			t.Errorf("Error() = %q, want %q", got, tt.text)
		}
	}
}

func TestStateString(t *testing.T) {
	const secret = "s3cr3t-t0ken"
	tests := []struct {
		state State
		want  string
	}{
		{State{}, "free (never held)"},
		{State{Gen: 4, Released: true}, "free (released, gen 4)"},
		{State{Gen: 5}, "free (gen 5)"},
		{held("eu-west-7:match-1234", secret, 2, t0.Add(ttl)), `held by "eu-west-7:match-1234" until 2030-01-02T03:04:35Z (gen 2)`},
		{State{Holder: "A", Token: secret, Gen: 2}, `held by "A", expiry not set (gen 2)`},
		{State{Holder: "a\x1b[2J", Token: secret, Gen: 1, ExpiresAt: t0}, `held by "a\x1b[2J" until 2030-01-02T03:04:05Z (gen 1)`},
	}
	for _, tt := range tests {
		got := tt.state.String()
		if got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		if strings.Contains(got, secret) || strings.Contains(fmt.Sprint(tt.state), secret) {
			t.Errorf("String() leaks the token: %q", got)
		}
	}
}

func TestEnumStrings(t *testing.T) {
	tests := []struct {
		v    fmt.Stringer
		want string
	}{
		{Granted, "granted"}, {Reused, "reused"}, {Stolen, "stolen"}, {Conflict, "conflict"}, {Wait, "wait"},
		{Outcome(0), "Outcome(0)"},
		{ModeFail, "fail"}, {ModeWait, "wait"}, {ModeSteal, "steal"}, {Mode(9), "Mode(9)"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// TestStateNeverPrintsToken covers the other ways a State reaches a log.
func TestStateNeverPrintsToken(t *testing.T) {
	const secret = "s3cr3t-t0ken"
	s := held("A", secret, 2, t0.Add(ttl))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("acquired", "session", s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("acquired", "session", s)
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s", s, s, s, s),
		buf.String(),
	} {
		if strings.Contains(out, secret) {
			t.Fatalf("token printed: %s", out)
		}
		if !strings.Contains(out, "gen 2") {
			t.Fatalf("state not printed: %s", out)
		}
	}
}
