package activation

import (
	"math"

	"github.com/hearth-profiles/hearth/persistence"
)

// recentRecords is how many committed idempotency results an activation
// keeps in memory, so retries of recent keys need no store read. Older keys
// are found in the store.
const recentRecords = 1024

// Record key prefixes keep the two kinds of idempotency key apart: an update
// key "42" and a purchase receipt "42" are different records.
const (
	updateKeyPrefix   = "u:"
	purchaseKeyPrefix = "p:"
	// PurchaseKeyPrefix marks purchase records for readers of the history.
	PurchaseKeyPrefix = purchaseKeyPrefix
)

// pendingRecord is an idempotency record applied in memory and not yet
// committed. It goes into the store with the snapshot that holds its effect,
// in the same transaction, so the two commit or vanish together.
type pendingRecord struct {
	key     string
	result  []byte
	version int64 // the document version that applied it
}

// records tracks an activation's idempotency records: pending ones in the
// order they were applied, and a bounded memory of committed ones.
type records struct {
	pending     []*pendingRecord
	byKey       map[string]*pendingRecord
	recent      map[string][]byte
	recentOrder []string // FIFO of recent's keys
}

// The zero records is empty and allocates nothing: most resident profiles
// have no idempotency keys in flight.

// lookup finds a key in memory: pending (not yet durable) or recently
// committed.
func (r *records) lookup(key string) (result []byte, pending *pendingRecord, found bool) {
	if p, ok := r.byKey[key]; ok {
		return p.result, p, true
	}
	if res, ok := r.recent[key]; ok {
		return res, nil, true
	}
	return nil, nil, false
}

func (r *records) add(p *pendingRecord) {
	if r.byKey == nil {
		r.byKey = make(map[string]*pendingRecord)
	}
	r.pending = append(r.pending, p)
	r.byKey[p.key] = p
}

// forSave returns the records the next save carries (at most max, oldest
// first) and the highest document version that save may claim as durable:
// if records are left behind, the versions that applied them are not durable
// until a later save carries them.
func (r *records) forSave(max int) ([]persistence.Record, int64) {
	n := min(len(r.pending), max)
	out := make([]persistence.Record, n)
	for i, p := range r.pending[:n] {
		out[i] = persistence.Record{Key: p.key, Result: p.result}
	}
	bound := int64(math.MaxInt64)
	if n < len(r.pending) {
		bound = r.pending[n].version - 1
	}
	return out, bound
}

// committed moves the first n pending records (the ones a save carried) to
// the recent memory.
func (r *records) committed(n int) {
	for _, p := range r.pending[:n] {
		delete(r.byKey, p.key)
		r.remember(p.key, p.result)
	}
	r.pending = append(r.pending[:0:0], r.pending[n:]...)
	if len(r.pending) == 0 {
		r.pending, r.byKey = nil, nil
	}
}

// remember keeps a committed result in the bounded recent memory.
func (r *records) remember(key string, result []byte) {
	if _, ok := r.recent[key]; ok {
		return
	}
	if r.recent == nil {
		r.recent = make(map[string][]byte)
	}
	if len(r.recentOrder) >= recentRecords {
		delete(r.recent, r.recentOrder[0])
		r.recentOrder = r.recentOrder[1:]
	}
	r.recent[key] = result
	r.recentOrder = append(r.recentOrder, key)
}
