package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/hearth-profiles/hearth/messages"
)

// TestUserErase: a dry run lists the user's profiles in every namespace
// and deletes nothing; --confirm deletes each through the gateway, a held
// one too (its session is told), and leaves other users' profiles alone.
func TestUserErase(t *testing.T) {
	e := newEnv(t)
	e.write("game", "a", `{"x":1}`, "u-1")
	e.write("game", "b", `{"x":2}`, "u-1", "u-2")
	e.write("other", "c", `{"x":3}`, "u-1")
	e.write("game", "d", `{"x":4}`, "u-2")
	e.acquire("game", "b", "server-9")

	r := e.ctl("--json", "user", "erase", "u-1")
	wantCode(t, r, 0, "dry run")
	dry := decodeJSON[erasure](t, r)
	if !dry.DryRun || len(dry.Profiles) != 3 || dry.Profiles[0].Profile != "game/a" || dry.Profiles[2].Profile != "other/c" {
		t.Fatalf("dry run: %+v", dry)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := e.doc("game", id); err != nil {
			t.Fatalf("the dry run deleted game/%s: %v", id, err)
		}
	}

	r = e.ctl("--json", "user", "erase", "u-1", "--confirm")
	wantCode(t, r, 0, "erase --confirm")
	done := decodeJSON[erasure](t, r)
	if done.DryRun || len(done.Profiles) != 3 || len(done.Remaining) != 0 {
		t.Fatalf("erase: %+v", done)
	}
	for _, p := range done.Profiles {
		if !p.Erased {
			t.Errorf("not erased: %+v", p)
		}
	}
	for _, k := range [][2]string{{"game", "a"}, {"game", "b"}, {"other", "c"}} {
		if _, err := e.doc(k[0], k[1]); !errors.Is(err, messages.ErrNotFound) {
			t.Errorf("%s/%s after erasure: %v", k[0], k[1], err)
		}
	}
	if got, err := e.doc("game", "d"); err != nil || got != `{"x":4}` {
		t.Errorf("another user's profile: %s %v", got, err)
	}
	if r = e.ctl("user", "erase", "u-1"); !strings.Contains(r.stdout, "0 profile(s) would be erased") {
		t.Errorf("nothing left:\n%s", r)
	}

	wantCode(t, e.ctl("user", "erase", "bad id"), exitUsage, "a bad user id")
	wantCode(t, e.ctl("--db", "", "user", "erase", "u-2"), exitUsage, "erase without --db")
}

// TestPrune: the window must be at least 24 hours; a valid one prunes
// (nothing here is that old) and reports counts.
func TestPrune(t *testing.T) {
	e := newEnv(t)
	e.write("game", "p1", `{}`)
	wantCode(t, e.ctl("prune"), exitUsage, "prune without --older-than")
	r := e.ctl("prune", "--older-than", "23h")
	wantCode(t, r, exitUsage, "prune --older-than 23h")
	if !strings.Contains(r.stderr, "at least 24h") {
		t.Errorf("the refusal does not say the minimum:\n%s", r)
	}
	r = e.ctl("--json", "prune", "--older-than", "720h")
	wantCode(t, r, 0, "prune 720h")
	got := decodeJSON[map[string]any](t, r)
	if got["nodes"] != float64(0) || got["profiles"] != float64(0) || got["older_than"] != "720h0m0s" {
		t.Errorf("prune: %v", got)
	}
	if _, err := e.doc("game", "p1"); err != nil {
		t.Errorf("prune touched a live profile: %v", err)
	}
}
