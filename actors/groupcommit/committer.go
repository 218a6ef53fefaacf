// Package groupcommit batches snapshot saves from many profile actors on one
// node into single store transactions.
//
// A store transaction costs a round trip and a commit whatever its size, so
// one row per transaction caps a node at about a thousand durable saves a
// second on SQL (docs/BENCHMARKS.md). The committer queues rows while a batch
// is in flight and sends everything queued as the next batch: under light
// load a row goes out at once, alone; under heavy load batches grow, and
// durable throughput grows with concurrency instead of being capped by
// latency. There is no timer: waiting to fill a batch would add latency to
// the lightly loaded case and gain nothing.
package groupcommit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// ErrClosed answers rows submitted after Close.
var ErrClosed = errors.New("groupcommit: committer closed")

// Done receives a row's result. err is non-nil when the whole batch failed
// (nothing was written; the outcome of an ambiguous commit is resolved by
// the next save's Superseded outcome). Done runs on a committer goroutine and
// must not block: actors hand the result to their mailbox.
type Done func(persistence.SaveResult, error)

// Options tunes a Committer. Zero values take the defaults.
type Options struct {
	// MaxBatch caps the rows per transaction (default 200, and never above
	// the store's MaxBatchRows).
	MaxBatch int
	// Writers is the number of batches in flight at once (default 1). One
	// writer gives the largest batches; more help when the store's latency,
	// not its throughput, is the limit.
	Writers int
	// Timeout bounds one batch's transaction (default 10 s).
	Timeout time.Duration
	// QueueSize bounds the rows waiting; Submit blocks when it is full, which
	// pushes back on the actors (default 4 x MaxBatch).
	QueueSize int
	// OnBatch, if set, observes every batch (metrics).
	OnBatch func(rows int, took time.Duration, err error)
}

func (o Options) withDefaults(limits persistence.Limits) Options {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 200
	}
	if limits.MaxBatchRows > 0 && o.MaxBatch > limits.MaxBatchRows {
		o.MaxBatch = limits.MaxBatchRows
	}
	if o.Writers <= 0 {
		o.Writers = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4 * o.MaxBatch
	}
	return o
}

type request struct {
	row  persistence.SaveRow
	done Done
}

// Committer is one node's group-commit writer. It is safe for concurrent use.
type Committer struct {
	store  persistence.Snapshots
	nodeID string
	opts   Options

	mu     sync.RWMutex // held shared by Submit, exclusively by Close
	closed bool
	queue  chan request
	wg     sync.WaitGroup
}

// New starts a committer writing as nodeID. limits are the store's (for the
// batch cap).
func New(store persistence.Snapshots, limits persistence.Limits, nodeID string, opts Options) *Committer {
	opts = opts.withDefaults(limits)
	c := &Committer{
		store:  store,
		nodeID: nodeID,
		opts:   opts,
		queue:  make(chan request, opts.QueueSize),
	}
	c.wg.Add(opts.Writers)
	for range opts.Writers {
		go c.write()
	}
	return c
}

// Submit queues a row; done is called exactly once with its result.
func (c *Committer) Submit(row persistence.SaveRow, done Done) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		done(persistence.SaveResult{Key: row.Key}, ErrClosed)
		return
	}
	c.queue <- request{row: row, done: done}
}

// Queued reports how many rows wait for a batch (for metrics and tests).
func (c *Committer) Queued() int { return len(c.queue) }

// Close stops accepting rows, writes every row already queued, and returns
// when the last batch has been answered.
func (c *Committer) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return
	}
	c.closed = true
	close(c.queue)
	c.mu.Unlock()
	c.wg.Wait()
}

// write is one writer: it takes whatever is queued (up to MaxBatch), saves
// it, answers, and repeats.
func (c *Committer) write() {
	defer c.wg.Done()
	var carry []request // rows held back because their profile was already in the batch
	for {
		var batch []request
		batch, carry = c.next(carry)
		if len(batch) == 0 {
			return
		}
		c.save(batch)
	}
}

// next gathers a batch: the carried-over rows first, then a blocking read if
// the batch is still empty, then everything queued without blocking. A
// profile appears at most once per batch (a store batch must not name a
// profile twice); a second row for it waits for the next batch.
func (c *Committer) next(carry []request) (batch, rest []request) {
	seen := make(map[persistence.ProfileKey]bool)
	add := func(r request) {
		if seen[r.row.Key] || len(batch) >= c.opts.MaxBatch {
			rest = append(rest, r)
			return
		}
		seen[r.row.Key] = true
		batch = append(batch, r)
	}
	for _, r := range carry {
		add(r)
	}
	if len(batch) == 0 {
		r, ok := <-c.queue
		if !ok {
			return nil, nil
		}
		add(r)
	}
	for len(batch) < c.opts.MaxBatch {
		select {
		case r, ok := <-c.queue:
			if !ok {
				return batch, rest
			}
			add(r)
		default:
			return batch, rest
		}
	}
	return batch, rest
}

func (c *Committer) save(batch []request) {
	rows := make([]persistence.SaveRow, len(batch))
	for i, r := range batch {
		rows[i] = r.row
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	start := time.Now()
	results, err := c.store.Save(ctx, c.nodeID, rows)
	cancel()
	if c.opts.OnBatch != nil {
		c.opts.OnBatch(len(rows), time.Since(start), err)
	}
	if err == nil && len(results) != len(rows) {
		err = errors.New("groupcommit: store answered a different number of rows than it was sent")
	}
	for i, r := range batch {
		if err != nil {
			r.done(persistence.SaveResult{Key: r.row.Key}, err)
			continue
		}
		r.done(results[i], nil)
	}
}
