package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestEmbeddedRunHoldsTheContract runs the load tester end to end against
// its embedded node (the README's command, shortened) and reads the report.
func TestEmbeddedRunHoldsTheContract(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.json")
	code := run([]string{"-embedded", "-duration", "2s", "-players", "200", "-servers", "8",
		"-purchase-share", "0.1", "-gift-share", "0.1", "-hop-share", "0.05", "-leave-share", "0.05", "-report", out})
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Ops == 0 || r.Verify.ProfilesChecked != 200 || r.LatencyMS.P99 <= 0 || len(r.PerOperation) < 5 || !r.Verify.OK() {
		t.Fatalf("report: %s", b)
	}
}

// TestVerifierCatchesViolations feeds the verifier stored counters that
// break each rule.
func TestVerifierCatchesViolations(t *testing.T) {
	var killed atomic.Bool
	w := newWorkload(Config{Players: 4, Servers: 1}, nil, newStats(time.Now()), &killed)
	for _, l := range w.players {
		l.coins, l.xp, l.gifts = 5, 7, 2
		l.receipts["r1"] = true
	}
	w.players[3].coUnk = 1
	stored := map[string]counters{
		"player-0": {Coins: 5, XP: 7, Gifts: 2, Gems: 100}, // exact
		"player-1": {Coins: 4, XP: 7, Gifts: 2, Gems: 100}, // a durable write lost
		"player-2": {Coins: 5, XP: 6, Gifts: 2, Gems: 200}, // memory lost, purchase applied twice
		"player-3": {Coins: 6, XP: 7, Gifts: 2, Gems: 100}, // an unknown outcome that applied: fine
	}
	read := func(_ context.Context, id string) (counters, error) { return stored[id], nil }
	v, err := w.verify(context.Background(), read)
	if err != nil {
		t.Fatal(err)
	}
	if v.LostDurable != 1 || v.LostMemory != 1 || v.DuplicateApplies != 100 || len(v.Violations) != 3 {
		t.Fatalf("%+v", v)
	}
	killed.Store(true) // after a crash, lost memory writes are allowed
	v, _ = w.verify(context.Background(), read)
	if len(v.Violations) != 2 || !v.LostMemoryAllowed {
		t.Fatalf("%+v", v)
	}
}
