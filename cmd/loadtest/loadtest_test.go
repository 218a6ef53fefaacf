package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/cluster/client"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
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
	r := readReport(t, out)
	if r.Ops == 0 || r.Verify.ProfilesChecked != 200 || r.LatencyMS.P99 <= 0 || len(r.PerOperation) < 5 || !r.Verify.OK() ||
		r.CPU.NodeUSPerOp <= 0 || r.CPU.LoadtestUSPerOp <= 0 {
		t.Fatalf("report: %+v", r)
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
	v, err := w.verify(context.Background(), fixedReader(stored, nil))
	if err != nil {
		t.Fatal(err)
	}
	if v.LostDurable != 1 || v.LostMemory != 1 || v.DuplicateApplies != 100 || len(v.Violations) != 3 {
		t.Fatalf("%+v", v)
	}
	killed.Store(true) // after a crash, lost memory writes are allowed
	v, _ = w.verify(context.Background(), fixedReader(stored, nil))
	if len(v.Violations) != 2 || !v.LostMemoryAllowed {
		t.Fatalf("%+v", v)
	}
}

func fixedReader(c map[string]counters, versions map[string][]int64) reader {
	return func(_ context.Context, id string) (stored, error) {
		return stored{counters: c[id], versions: versions[id]}, nil
	}
}

// TestVerifierBoundsLostMemoryByLastSave: after a crash, only memory-lane
// writes acknowledged above their lineage's last committed save may be
// lost. Each player breaks or keeps one part of the rule.
func TestVerifierBoundsLostMemoryByLastSave(t *testing.T) {
	const l1, l2 = 1 << lineageShift, 2 << lineageShift // lineages after takeovers at epochs 2 and 3
	cases := []struct {
		name     string
		acks     []int64 // acknowledged memory-lane versions
		saved    []int64 // versions acknowledged as committed (durable writes, releases)
		snaps    []int64 // retained snapshots' versions
		xp       int64   // stored
		violated int64   // lost writes a save held
	}{
		{"a durable ack at 3 saves 1-3; 4 and 5 may go", []int64{1, 2, 3, 4, 5}, []int64{3}, nil, 3, 0},
		{"a durable ack at 3 saves 1-3; losing 3 breaks it", []int64{1, 2, 3, 4, 5}, []int64{3}, nil, 2, 1},
		{"a retained snapshot at 2 saves 1-2", []int64{1, 2, 3}, nil, []int64{l1 + 2, 2}, 2, 0},
		{"a retained snapshot at 2 saves 1-2; losing 2 breaks it", []int64{1, 2, 3}, nil, []int64{l1 + 2, 2}, 1, 1},
		{"a later lineage's higher version saves nothing of an earlier one", []int64{1, 2, 3}, nil, []int64{l2 + 7, 1}, 1, 0},
		{"a later lineage's save holds its own writes", []int64{1, 2, l1 + 1, l1 + 2, l1 + 3}, []int64{l1 + 2}, nil, 2, 0},
		{"a later lineage's save holds its own writes; losing one breaks it", []int64{1, 2, l1 + 1, l1 + 2, l1 + 3}, []int64{l1 + 2}, nil, 1, 1},
		{"a release's saved version counts as a save", []int64{1, 2, 3, 4}, []int64{4}, nil, 3, 1},
	}
	var killed atomic.Bool
	killed.Store(true)
	w := newWorkload(Config{Players: len(cases), Servers: 1}, nil, newStats(time.Now()), &killed)
	c := map[string]counters{}
	versions := map[string][]int64{}
	for i, tc := range cases {
		l := w.players[i]
		l.xp, l.memAcks, l.saved = int64(len(tc.acks)), tc.acks, tc.saved
		id := fmt.Sprintf("player-%d", i)
		c[id], versions[id] = counters{XP: tc.xp}, tc.snaps
	}
	v, err := w.verify(context.Background(), fixedReader(c, versions))
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for i, tc := range cases {
		want += tc.violated
		flagged := false
		for _, s := range v.Violations {
			flagged = flagged || strings.HasPrefix(s, fmt.Sprintf("player-%d xp:", i))
		}
		if flagged != (tc.violated > 0) {
			t.Errorf("%s: flagged %v, want %v (%v)", tc.name, flagged, tc.violated > 0, v.Violations)
		}
	}
	if v.LostMemorySaved != want {
		t.Errorf("lost memory a save held: %d, want %d", v.LostMemorySaved, want)
	}
}

// TestAcquireSeesEverySavedMemoryWrite: after a crash an acquire may miss
// memory-lane writes above the last save, never those a save held.
func TestAcquireSeesEverySavedMemoryWrite(t *testing.T) {
	var killed atomic.Bool
	killed.Store(true)
	for _, tc := range []struct {
		xp    int64
		stale bool
	}{{3, false}, {2, false}, {1, true}} {
		tr := &docTransport{doc: fmt.Sprintf(`{"xp":%d}`, tc.xp)}
		w := newWorkload(Config{Players: 1, Servers: 1, Namespace: "n"}, client.New(tr, client.Options{}), newStats(time.Now()), &killed)
		l := w.players[0]
		l.xp, l.memAcks, l.saved = 3, []int64{1, 2, 3}, []int64{2}
		if _, ok := w.acquire(context.Background(), "s", 0); !ok {
			t.Fatal("acquire failed")
		}
		if (l.stale > 0) != tc.stale {
			t.Errorf("document xp %d: stale %d, want stale %v", tc.xp, l.stale, tc.stale)
		}
	}
}

// docTransport answers every acquire with one document.
type docTransport struct{ doc string }

func (d *docTransport) Request(_ context.Context, m proto.Message) (proto.Message, error) {
	if _, ok := m.(*hearthv1.AcquireRequest); ok {
		return &hearthv1.AcquireResponse{Document: d.doc, Version: 9, SessionToken: "t"}, nil
	}
	return nil, fmt.Errorf("docTransport: %T", m)
}

func (d *docTransport) Watch(context.Context, *hearthv1.ProfileRef, func(*hearthv1.WatchEvent) error) error {
	return nil
}

// TestRunRefusesWhatItCannotDo: options that cannot work end the run with
// exit code 2 before anything starts.
func TestRunRefusesWhatItCannotDo(t *testing.T) {
	for _, args := range [][]string{
		{"-embedded", "-db-latency", "300us"},              // no database to delay
		{"-target", "127.0.0.1:1", "-db-latency", "300us"}, // nodes it did not start
		{"-baseline", "nosql", "-db", "postgres://a@127.0.0.1:1/db"},
		{"-baseline", "sql-lock"}, // no -db
		{"-spawn", "1", "-transport", "carrier-pigeon", "-db", "postgres://a@127.0.0.1:1/db", "-consul", "127.0.0.1:1"},
		{"-baseline", "sql", "-db", "postgres://a@h1:1,h2:2/db", "-db-latency", "1ms"}, // two hosts
		{"-node-pid", "x", "-target", "127.0.0.1:1"},
		{},
	} {
		if code := run(args); code != 2 {
			t.Errorf("%v: exit code %d, want 2", args, code)
		}
	}
}
