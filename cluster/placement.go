package cluster

import (
	"github.com/cespare/xxhash/v2"

	"github.com/hearth-profiles/hearth/persistence"
)

// Placement decides which member owns a profile: rendezvous (highest
// random weight) hashing. Every member scores the key and the highest score
// wins, so adding a member moves only the keys it now wins (about 1/N of
// them, all to the new member) and removing one moves only its own keys.
//
// The score must look random for any pair of key and member, or the shares
// skew. The first version scored FNV-1a(member id + key) with no final
// mixing: FNV-1a's last bytes barely reach the high bits, so ids that differ
// only at the end (player1, player2, ...; bb-000, bb-001, ...) sorted the
// members the same way, and player1..player300 split 0/210/90 over three
// nodes. Here the key is hashed once with xxhash (well mixed in every bit),
// combined with each member's precomputed xxhash seed, and the pair passed
// through murmur3's 64-bit finalizer, whose every output bit depends on
// every input bit. A lookup costs one hash of the key plus a multiply-xor
// per member, less than the old one FNV pass over id and key per member.
//
// A consistent-hash ring with virtual nodes would make a lookup O(log V) but
// needs hundreds of virtual nodes per member to come as close to fair, and
// its table must be rebuilt and held per view; with tens of members the
// rendezvous loop is cheaper and needs no tuning (docs/BENCHMARKS.md).

// placement is an immutable routing table over one member list: each
// member's seed is computed once per member-list change, not per request.
type placement struct {
	members []Member
	seeds   []uint64
}

// newPlacement precomputes each member's seed from its node id (the store
// incarnation), not its member id: a node that Consul dropped and that
// re-joined under a new member id gets its own profiles back, instead of a
// new random share that would move 2/N of all profiles.
func newPlacement(members []Member) *placement {
	p := &placement{members: members, seeds: make([]uint64, len(members))}
	for i, m := range members {
		id := m.NodeID
		if id == "" {
			id = m.ID
		}
		p.seeds[i] = fmix64(xxhash.Sum64String(id))
	}
	return p
}

// owner returns the member owning key; ok is false when there is none.
// Ties (probability 2^-64) go to the earlier member of the list, so every
// node with the same list picks the same owner.
func (p *placement) owner(key persistence.ProfileKey) (m Member, ok bool) {
	if len(p.members) == 0 {
		return Member{}, false
	}
	return p.members[p.index(keyHash(key))], true
}

// index is the position in the list of the member owning the key with
// hash k; the list must not be empty.
func (p *placement) index(k uint64) int {
	seeds := p.seeds
	best, at := fmix64(k^seeds[0]), 0
	for i := 1; i < len(seeds); i++ {
		if s := fmix64(k ^ seeds[i]); s > best {
			best, at = s, i
		}
	}
	return at
}

// owner is the pure form: the member of members owning key (the zero Member
// when members is empty). Routers use a placement built once per list.
func owner(members []Member, key persistence.ProfileKey) Member {
	m, _ := newPlacement(members).owner(key)
	return m
}

// keyHash hashes a profile key. The NUL between namespace and id cannot
// occur in either (persistence.ValidateKey), so no two keys share a byte
// string.
func keyHash(key persistence.ProfileKey) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(key.Namespace)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(key.ID)
	return d.Sum64()
}

// fmix64 is murmur3's 64-bit finalizer: a bijection in which every input
// bit flips each output bit with probability close to 1/2.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
