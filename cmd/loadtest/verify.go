package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/persistence"
)

// Verify is the verifier's report.
type Verify struct {
	ProfilesChecked  int   `json:"profiles_checked"`
	LostDurable      int64 `json:"lost_durable"`
	LostMemory       int64 `json:"lost_memory"`
	DuplicateApplies int64 `json:"duplicate_applies"`
	StaleReads       int64 `json:"stale_reads"`
	UnknownOutcomes  int64 `json:"unknown_outcomes"`
	// LostMemoryAllowed: memory-lane writes may be lost only after a crash.
	LostMemoryAllowed bool     `json:"lost_memory_allowed"`
	Violations        []string `json:"violations,omitempty"`
}

// OK reports whether the contract held.
func (v Verify) OK() bool { return len(v.Violations) == 0 }

// counters are the checkable fields of a stored profile.
type counters struct {
	XP    int64 `json:"xp"`
	Coins int64 `json:"coins"`
	Gifts int64 `json:"gifts"`
	Gems  int64 `json:"gems"`
}

// reader reads a player's stored counters straight from the database.
type reader func(ctx context.Context, id string) (counters, error)

// storeReader reads the newest snapshot from a Hearth store.
func storeReader(s persistence.Store, namespace string) reader {
	return func(ctx context.Context, id string) (counters, error) {
		key := persistence.ProfileKey{Namespace: namespace, ID: id}
		vs, err := s.Versions(ctx, key)
		if errors.Is(err, persistence.ErrNotFound) || err == nil && len(vs) == 0 {
			return counters{}, nil
		}
		if err != nil {
			return counters{}, err
		}
		snap, err := s.Version(ctx, key, vs[0].Seq)
		if err != nil {
			return counters{}, err
		}
		doc, _, err := activation.DecodeStored(snap.Document)
		if err != nil {
			return counters{}, err
		}
		var c counters
		return c, json.Unmarshal(doc, &c)
	}
}

// verify compares every player's stored counters with its ledger.
func (w *workload) verify(ctx context.Context, read reader) (Verify, error) {
	v := Verify{LostMemoryAllowed: w.killed.Load()}
	for p, l := range w.players {
		got, err := read(ctx, fmt.Sprintf("player-%d", p))
		if err != nil {
			return v, fmt.Errorf("read player-%d: %w", p, err)
		}
		v.ProfilesChecked++
		l.mu.Lock()
		check := func(name string, stored, acked, unknown int64, durable bool) {
			switch {
			case stored < acked && durable:
				v.LostDurable += acked - stored
				v.Violations = append(v.Violations, fmt.Sprintf("player-%d %s: stored %d, acknowledged durably %d", p, name, stored, acked))
			case stored < acked:
				v.LostMemory += acked - stored
				if !v.LostMemoryAllowed {
					v.Violations = append(v.Violations, fmt.Sprintf("player-%d %s: stored %d, acknowledged %d, and no node crashed", p, name, stored, acked))
				}
			case stored > acked+unknown:
				v.DuplicateApplies += stored - acked - unknown
				v.Violations = append(v.Violations, fmt.Sprintf("player-%d %s: stored %d, more than acknowledged %d plus unknown %d", p, name, stored, acked, unknown))
			}
		}
		check("coins", got.Coins, l.coins, l.coUnk, true)
		check("gifts", got.Gifts, l.gifts, l.giUnk, true)
		check("gems", got.Gems, 100*int64(len(l.receipts)), 100*l.rcUnk, true)
		check("xp", got.XP, l.xp, l.xpUnk, false)
		v.StaleReads += l.stale
		if l.stale > 0 {
			v.Violations = append(v.Violations, fmt.Sprintf("player-%d: %d stale reads", p, l.stale))
		}
		v.UnknownOutcomes += l.coUnk + l.giUnk + l.rcUnk + l.xpUnk
		l.mu.Unlock()
	}
	return v, nil
}
