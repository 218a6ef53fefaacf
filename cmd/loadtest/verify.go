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
	// LostMemoryAllowed: memory-lane writes may be lost only after a crash,
	// and only those acknowledged after the profile's last save.
	LostMemoryAllowed bool `json:"lost_memory_allowed"`
	// LostMemorySaved counts lost memory-lane writes that a committed save
	// must have held (acknowledged at a version at or below a snapshot's
	// of the same lineage): a violation, crash or not.
	LostMemorySaved int64    `json:"lost_memory_saved"`
	Violations      []string `json:"violations,omitempty"`
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

// stored is what the verifier reads of a profile: the newest document's
// counters and the document version of every retained snapshot.
type stored struct {
	counters
	versions []int64
}

// reader reads a player's stored profile straight from the database.
type reader func(ctx context.Context, id string) (stored, error)

// storeReader reads a Hearth store: every retained snapshot's version, and
// the newest one's counters.
func storeReader(s persistence.Store, namespace string) reader {
	return func(ctx context.Context, id string) (stored, error) {
		key := persistence.ProfileKey{Namespace: namespace, ID: id}
		vs, err := s.Versions(ctx, key)
		if errors.Is(err, persistence.ErrNotFound) || err == nil && len(vs) == 0 {
			return stored{}, nil
		}
		if err != nil {
			return stored{}, err
		}
		var out stored
		for i, vi := range vs { // newest first
			snap, err := s.Version(ctx, key, vi.Seq)
			if errors.Is(err, persistence.ErrNotFound) {
				continue // pruned meanwhile
			}
			if err != nil {
				return stored{}, err
			}
			doc, version, err := activation.DecodeStored(snap.Document)
			if err != nil {
				return stored{}, fmt.Errorf("snapshot %d: %w", vi.Seq, err)
			}
			out.versions = append(out.versions, version)
			if i == 0 {
				if err := json.Unmarshal(doc, &out.counters); err != nil {
					return stored{}, err
				}
			}
		}
		return out, nil
	}
}

// Which memory-lane writes a crash may lose. A document version is issued
// once: an owner that takes a profile over after a crash starts at
// (epoch-1)<<32, above every version earlier owners issued, while a planned
// move continues the count. So version>>32 names a lineage: the states
// since the last takeover, each saved state holding every version before
// it in its lineage. Snapshots commit in order (a takeover reads the
// newest), so the newest snapshot holds every effect of every lineage up
// to that lineage's newest saved version. A memory-lane write acknowledged
// at version v is therefore held for good once any snapshot of v's lineage
// with a version >= v committed; only writes above their lineage's last
// save may be lost, and only in a crash.
const lineageShift = 32

// segmentMax is, per lineage, the highest version known to be in a
// committed snapshot: from the acknowledgements (durable writes and
// releases answer only after their snapshot committed) and from the
// snapshots the store retained (extra; the store keeps only the newest
// few).
func (l *ledger) segmentMax(snapshots []int64) map[int64]int64 {
	m := map[int64]int64{}
	for _, vs := range [][]int64{l.saved, snapshots} {
		for _, v := range vs {
			if seg := v >> lineageShift; v > m[seg] {
				m[seg] = v
			}
		}
	}
	return m
}

// memCovered counts the acknowledged memory-lane writes a committed save
// holds.
func (l *ledger) memCovered(segMax map[int64]int64) int64 {
	var n int64
	for _, v := range l.memAcks {
		if m, ok := segMax[v>>lineageShift]; ok && v <= m {
			n++
		}
	}
	return n
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
		// Crash or not, a memory-lane write a committed save held is never
		// lost. (Without a crash the check above is stricter and already
		// reported it.)
		if saved := l.memCovered(l.segmentMax(got.versions)); got.XP < saved {
			v.LostMemorySaved += saved - got.XP
			if v.LostMemoryAllowed {
				v.Violations = append(v.Violations, fmt.Sprintf("player-%d xp: stored %d, but %d memory-lane writes were acknowledged at or below a version a committed save holds", p, got.XP, saved))
			}
		}
		v.StaleReads += l.stale
		if l.stale > 0 {
			v.Violations = append(v.Violations, fmt.Sprintf("player-%d: %d stale reads", p, l.stale))
		}
		v.UnknownOutcomes += l.coUnk + l.giUnk + l.rcUnk + l.xpUnk
		l.mu.Unlock()
	}
	return v, nil
}
