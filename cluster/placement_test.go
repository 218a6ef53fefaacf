package cluster

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/hearth-profiles/hearth/persistence"
)

// idKinds are the shapes of profile ids games use. Sequential and prefixed
// ids are the ones the first placement (FNV-1a with no final mixing) put
// almost all on one node.
var idKinds = []struct {
	name string
	id   func(buf []byte, i int, rng *rand.Rand) []byte
}{
	{"sequential", func(b []byte, i int, _ *rand.Rand) []byte {
		return strconv.AppendInt(append(b, "player"...), int64(i+1), 10)
	}},
	{"numeric", func(b []byte, i int, _ *rand.Rand) []byte { return strconv.AppendInt(b, int64(1_000_000+i), 10) }},
	{"prefixed", func(b []byte, i int, _ *rand.Rand) []byte { return fmt.Appendf(b, "bb-%06d", i) }},
	{"random", func(b []byte, _ int, rng *rand.Rand) []byte { return strconv.AppendUint(b, rng.Uint64(), 16) }},
}

// testMembers makes n member ids shaped like the node's (hostname, random
// suffix, generation), from a fixed seed so every run checks the same ones.
func testMembers(n int, seed uint64) []Member {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]Member, n)
	for i := range out {
		node := fmt.Sprintf("hearth-%08x", rng.Uint32())
		out[i] = Member{ID: node + "~0", NodeID: node, Address: fmt.Sprint("10.0.0.1:", 7000+i)}
	}
	return out
}

func testKeys(kind int, n int) []persistence.ProfileKey {
	rng := rand.New(rand.NewPCG(42, uint64(kind)))
	keys := make([]persistence.ProfileKey, n)
	var buf []byte
	for i := range keys {
		buf = idKinds[kind].id(buf[:0], i, rng)
		keys[i] = persistence.ProfileKey{Namespace: "game", ID: string(buf)}
	}
	return keys
}

// shares counts the keys each member (by position in the list) owns.
func shares(p *placement, keys []persistence.ProfileKey) []int {
	out := make([]int, len(p.members))
	for _, k := range keys {
		out[p.index(keyHash(k))]++
	}
	return out
}

// maxMin is the largest and smallest share relative to a fair one.
func maxMin(counts []int, keys int) (hi, lo float64) {
	fair := float64(keys) / float64(len(counts))
	hi, lo = 0, 1e9
	for _, c := range counts {
		hi, lo = max(hi, float64(c)/fair), min(lo, float64(c)/fair)
	}
	return hi, lo
}

// TestPlacementIsBalanced: for every id shape and 3, 10 and 100 members,
// the largest share is at most 1.1 times the smallest. With 10,000 ids per
// member a fair random placement's shares vary by 1% (one standard
// deviation), so the largest of 100 shares over the smallest is about 1.05:
// 1.1 is far outside chance for a good hash and far inside what the unmixed
// FNV placement did (0/210/90).
func TestPlacementIsBalanced(t *testing.T) {
	for _, members := range []int{3, 10, 100} {
		ms := testMembers(members, uint64(members))
		p := newPlacement(ms)
		for kind := range idKinds {
			keys := testKeys(kind, 10_000*members)
			hi, lo := maxMin(shares(p, keys), len(keys))
			t.Logf("%3d members, %-10s ids: max %.3f min %.3f of fair, max/min %.3f", members, idKinds[kind].name, hi, lo, hi/lo)
			if hi/lo > 1.1 {
				t.Errorf("%d members, %s ids: max/min share %.3f (max %.3f, min %.3f of fair)", members, idKinds[kind].name, hi/lo, hi, lo)
			}
		}
	}
}

// TestPlacementAddingAMemberMovesOnlyItsShare: a new member takes about
// 1/(N+1) of the keys, and every key that moves, moves to it; removing it
// again restores the old owners exactly.
func TestPlacementAddingAMemberMovesOnlyItsShare(t *testing.T) {
	for _, members := range []int{3, 10, 100} {
		all := testMembers(members+1, 1000+uint64(members))
		before, after := newPlacement(all[:members]), newPlacement(all)
		added := all[members]
		for kind := range idKinds {
			keys := testKeys(kind, 2000*(members+1))
			moved := 0
			for _, k := range keys {
				was, _ := before.owner(k)
				now, _ := after.owner(k)
				if was.ID != now.ID {
					moved++
					if now.ID != added.ID {
						t.Fatalf("%d members: %s moved from %s to %s, not to the new member", members, k, was.ID, now.ID)
					}
				}
			}
			want := float64(len(keys)) / float64(members+1)
			t.Logf("%3d -> %3d members, %-10s ids: %.3f of the fair 1/N share moved", members, members+1, idKinds[kind].name, float64(moved)/want)
			if r := float64(moved) / want; r < 0.9 || r > 1.1 {
				t.Errorf("%d -> %d members, %s ids: %d keys moved, want about %.0f", members, members+1, idKinds[kind].name, moved, want)
			}
		}
	}
}

// TestPlacementIsAPureFunctionOfTheList: every node computes the same owner
// from the same list, whatever order it was built in, and the pure form
// agrees with the precomputed table.
func TestPlacementIsAPureFunctionOfTheList(t *testing.T) {
	ms := testMembers(7, 7)
	p := newPlacement(ms)
	for _, k := range testKeys(3, 1000) {
		want, _ := p.owner(k)
		if got := owner(ms, k); got != want {
			t.Fatalf("%s: pure owner %s, table %s", k, got.ID, want.ID)
		}
	}
	if m, ok := newPlacement(nil).owner(persistence.ProfileKey{Namespace: "game", ID: "x"}); ok || m != (Member{}) {
		t.Fatalf("empty list: %v %v", m, ok)
	}
}

// legacyOwner is the first placement (FNV-1a over member id and key per
// member, no final mixing), kept to benchmark against.
func legacyOwner(members []Member, key persistence.ProfileKey) Member {
	var best uint64
	var m Member
	for _, c := range members {
		h := fnv.New64a()
		_, _ = h.Write([]byte(c.ID))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(key.Namespace))
		_, _ = h.Write([]byte{'/'})
		_, _ = h.Write([]byte(key.ID))
		if s := h.Sum64(); s >= best {
			best, m = s, c
		}
	}
	return m
}

// BenchmarkOwner compares a lookup with the precomputed table against the
// first placement's per-member FNV pass.
//
//	go test -run '^$' -bench Owner -benchmem ./cluster/
func BenchmarkOwner(b *testing.B) {
	for _, n := range []int{3, 10, 100} {
		ms := testMembers(n, 1)
		keys := testKeys(0, 1024)
		b.Run(fmt.Sprintf("rendezvous-xxhash-fmix/members=%d", n), func(b *testing.B) {
			p := newPlacement(ms)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p.owner(keys[i%len(keys)])
			}
		})
		b.Run(fmt.Sprintf("legacy-fnv/members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				legacyOwner(ms, keys[i%len(keys)])
			}
		})
	}
}
