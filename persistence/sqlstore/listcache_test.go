package sqlstore

import "time"

// Tests that change the database behind the store (moving its stored times
// back, dropping lists) tell the cache what changed, as no node would.

// shift moves every remembered saving time back by d, as the harness moves
// the stored ones.
func (c *listCache) shift(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		seqs, mss := e.lists()
		for i := range mss {
			mss[i] -= d.Milliseconds()
		}
		c.entries[k] = newListEntry(e.epoch, seqs, mss)
	}
}

// forgetAll drops every entry.
func (c *listCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}
