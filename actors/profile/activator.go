package profile

import (
	"context"
	"sync"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// acquirer is the store call the activator needs.
type acquirer interface {
	AcquireBatch(ctx context.Context, nodeID string, reqs []persistence.AcquireRequest) ([]persistence.AcquireResult, error)
}

// activator batches the ownership acquisitions of a node's activations
// into few store transactions, as the group committer does for saves: while
// batches are in flight, new requests queue and go out together as the
// next one. A thousand players joining at once cost a few transactions,
// not a thousand.
type activator struct {
	store    acquirer
	nodeID   string
	maxBatch int
	writers  int
	timeout  time.Duration

	mu       sync.Mutex
	queue    []acquireItem
	inflight int
	closed   bool
}

type acquireItem struct {
	req  persistence.AcquireRequest
	done func(persistence.AcquireResult, error)
}

func newActivator(store acquirer, nodeID string, maxBatch, writers int, timeout time.Duration) *activator {
	return &activator{store: store, nodeID: nodeID, maxBatch: maxBatch, writers: writers, timeout: timeout}
}

// submit asks for key's ownership; done runs on an activator goroutine and
// must not block.
func (a *activator) submit(key persistence.ProfileKey, create bool, done func(persistence.AcquireResult, error)) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		done(persistence.AcquireResult{}, errActivatorClosed)
		return
	}
	a.queue = append(a.queue, acquireItem{req: persistence.AcquireRequest{Key: key, Create: create}, done: done})
	batch := a.takeLocked()
	a.mu.Unlock()
	if batch != nil {
		go a.run(batch)
	}
}

// takeLocked takes the next batch if a writer is free.
func (a *activator) takeLocked() []acquireItem {
	if a.inflight >= a.writers || len(a.queue) == 0 {
		return nil
	}
	n := min(len(a.queue), a.maxBatch)
	batch := a.queue[:n:n]
	a.queue = append([]acquireItem(nil), a.queue[n:]...)
	a.inflight++
	return batch
}

func (a *activator) run(batch []acquireItem) {
	for batch != nil {
		reqs := make([]persistence.AcquireRequest, len(batch))
		for i, it := range batch {
			reqs[i] = it.req
		}
		ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
		res, err := a.store.AcquireBatch(ctx, a.nodeID, reqs)
		cancel()
		for i, it := range batch {
			switch {
			case err != nil:
				it.done(persistence.AcquireResult{}, err)
			case i < len(res):
				it.done(res[i], nil)
			default:
				it.done(persistence.AcquireResult{}, errShortAcquire)
			}
		}
		a.mu.Lock()
		a.inflight--
		batch = a.takeLocked()
		a.mu.Unlock()
	}
}

// close refuses later submissions; batches in flight finish.
func (a *activator) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	for _, it := range a.queue {
		go it.done(persistence.AcquireResult{}, errActivatorClosed)
	}
	a.queue = nil
}
