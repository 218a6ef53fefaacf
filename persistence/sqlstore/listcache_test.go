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
		mss := make([]int64, len(e.mss))
		for i, ms := range e.mss {
			mss[i] = ms - d.Milliseconds()
		}
		e.mss = mss
		c.entries[k] = e
	}
}

// forgetAll drops every entry.
func (c *listCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}
