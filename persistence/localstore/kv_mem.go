package localstore

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/google/btree"
)

// memEngine keeps each bucket in a github.com/google/btree B-tree.
//
// Why a B-tree rather than a map plus sorted keys: Scan needs ordered
// iteration from an arbitrary start key (record paging, snapshot retention),
// and a sorted slice makes every insert O(n). More importantly, btree.Clone is
// an O(1) lazy copy-on-write clone, which gives atomic transactions for free:
// an Update clones each bucket it first writes, writes the clone, and on
// success swaps the clones in. A failed (or panicking) Update just drops its
// clones, so nothing is ever half-written and no undo log is needed.
//
// Concurrency is deliberately simple: Update holds the write lock for its
// whole duration, View the read lock. The memory store exists for tests and
// the fake; correctness beats parallelism.
type memEngine struct {
	mu     sync.RWMutex
	trees  map[string]*btree.BTreeG[memItem]
	closed bool
}

type memItem struct {
	key string
	val []byte
}

func memLess(a, b memItem) bool { return a.key < b.key }

// memDegree is the B-tree degree; 32 is the package's usual recommendation.
const memDegree = 32

func newMemEngine() *memEngine {
	e := &memEngine{trees: make(map[string]*btree.BTreeG[memItem], len(allBuckets))}
	for _, b := range allBuckets {
		e.trees[string(b)] = btree.NewG(memDegree, memLess)
	}
	return e
}

func (e *memEngine) Update(fn func(kvTx) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	tx := &memTx{e: e, writable: true, dirty: make(map[string]*btree.BTreeG[memItem])}
	defer tx.end()
	if err := fn(tx); err != nil {
		return err // the clones in tx.dirty are dropped: nothing was written
	}
	for name, t := range tx.dirty {
		e.trees[name] = t
	}
	return nil
}

func (e *memEngine) View(fn func(kvTx) error) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return errClosed
	}
	tx := &memTx{e: e}
	defer tx.end()
	return fn(tx)
}

func (e *memEngine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	e.trees = nil
	return nil
}

type memTx struct {
	e        *memEngine
	writable bool
	done     bool
	dirty    map[string]*btree.BTreeG[memItem] // clones of the buckets this tx wrote
}

func (tx *memTx) end() { tx.done = true }

// tree returns the bucket as this transaction sees it; forWrite clones the
// committed tree on first write.
func (tx *memTx) tree(bucket []byte, forWrite bool) (*btree.BTreeG[memItem], error) {
	if tx.done {
		return nil, fmt.Errorf("localstore: memory transaction used after it ended")
	}
	name := string(bucket)
	if t, ok := tx.dirty[name]; ok {
		return t, nil
	}
	t, ok := tx.e.trees[name]
	if !ok {
		return nil, fmt.Errorf("localstore: no bucket %q", name)
	}
	if !forWrite {
		return t, nil
	}
	if !tx.writable {
		return nil, errReadOnly
	}
	c := t.Clone()
	tx.dirty[name] = c
	return c, nil
}

func (tx *memTx) Get(bucket, key []byte) []byte {
	t, err := tx.tree(bucket, false)
	if err != nil {
		return nil
	}
	it, ok := t.Get(memItem{key: string(key)})
	if !ok {
		return nil
	}
	return it.val
}

func (tx *memTx) Put(bucket, key, val []byte) error {
	t, err := tx.tree(bucket, true)
	if err != nil {
		return err
	}
	if len(key) == 0 {
		return fmt.Errorf("localstore: empty key in bucket %q", bucket)
	}
	// Stored values are never modified in place, so a value handed out by Get
	// stays valid even after a later transaction replaces it. A nil value
	// would read back as "absent", so store an empty non-nil slice.
	v := bytes.Clone(val)
	if v == nil {
		v = []byte{}
	}
	t.ReplaceOrInsert(memItem{key: string(key), val: v})
	return nil
}

func (tx *memTx) Delete(bucket, key []byte) error {
	t, err := tx.tree(bucket, true)
	if err != nil {
		return err
	}
	t.Delete(memItem{key: string(key)})
	return nil
}

func (tx *memTx) Scan(bucket, prefix, start []byte, fn func(k, v []byte) (bool, error)) error {
	t, err := tx.tree(bucket, false)
	if err != nil {
		return err
	}
	from := prefix
	if bytes.Compare(start, prefix) > 0 {
		from = start
	}
	p := string(prefix)
	var ferr error
	t.AscendGreaterOrEqual(memItem{key: string(from)}, func(it memItem) bool {
		if !strings.HasPrefix(it.key, p) {
			return false
		}
		more, err := fn([]byte(it.key), it.val)
		if err != nil {
			ferr = err
			return false
		}
		return more
	})
	return ferr
}
