package sqlstore

import (
	"sync"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// listCache remembers, per profile, the retained list this store's last
// save of it wrote, so the next save plans its retention without reading
// the list first: one round trip per batch instead of two. An entry is a
// hint, trusted only for saves under the epoch that wrote it (a new
// activation, possibly after another node saved the profile, reads the
// list again); the save writes the planned list only if the stored list is
// still the one planned from, and otherwise saves without pruning and
// forgets the entry, so a stale entry can delay pruning by one save, never
// lose a snapshot or keep a wrong list.
//
// Plans made from the cache need the database's clock for retention
// buckets; the cache keeps the offset between the database's clock and
// this node's, measured at each read of the lists.
type listCache struct {
	mu      sync.Mutex
	max     int
	entries map[persistence.ProfileKey]listEntry
	offset  time.Duration // database clock minus local clock
	synced  bool          // offset measured at least once
}

type listEntry struct {
	epoch int64
	// pairs holds each retained snapshot's seq and save time (Unix ms),
	// interleaved: one small array per profile instead of two, since the
	// cache holds an entry for every resident profile.
	pairs []int64
}

// newListEntry records a profile's retained seqs and their save times.
func newListEntry(epoch int64, seqs, mss []int64) listEntry {
	pairs := make([]int64, 0, 2*len(seqs))
	for i, seq := range seqs {
		pairs = append(pairs, seq, mss[i])
	}
	return listEntry{epoch: epoch, pairs: pairs}
}

// lists returns the retained seqs and their save times.
func (e listEntry) lists() (seqs, mss []int64) {
	seqs, mss = make([]int64, 0, len(e.pairs)/2), make([]int64, 0, len(e.pairs)/2)
	for i := 0; i+1 < len(e.pairs); i += 2 {
		seqs, mss = append(seqs, e.pairs[i]), append(mss, e.pairs[i+1])
	}
	return seqs, mss
}

func newListCache(max int) *listCache {
	return &listCache{max: max, entries: make(map[persistence.ProfileKey]listEntry)}
}

// get returns key's list if it was written under epoch, and the estimated
// database time now.
func (c *listCache) get(key persistence.ProfileKey, epoch int64) (listEntry, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || e.epoch != epoch || !c.synced {
		return listEntry{}, time.Time{}, false
	}
	return e, time.Now().Add(c.offset), true
}

// put remembers the list a save wrote.
func (c *listCache) put(key persistence.ProfileKey, e listEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k := range c.entries { // any entry: a miss costs one read
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = e
}

// forget drops key's entry.
func (c *listCache) forget(key persistence.ProfileKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}

// sync records the database clock read between sent and received.
func (c *listCache) sync(dbNow, sent, received time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = dbNow.Sub(sent.Add(received.Sub(sent) / 2))
	c.synced = true
}

// listCacheSize bounds the cache: about 100 bytes an entry, so 200,000
// profiles (a busy node's resident set) cost about 20 MB.
const listCacheSize = 200_000
