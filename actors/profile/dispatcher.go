package profile

import "sync"

// workerDispatcher runs actors' mailbox passes on long-lived worker
// goroutines instead of a new goroutine per pass (protoactor's default).
// A fresh goroutine starts with a small stack that grows, by copying, on
// every pass through the request path; profiled, that growth was the
// largest single cost of a memory-lane update. A pass finding no idle
// worker still gets a goroutine of its own, so no actor ever waits for
// another's pass.
type workerDispatcher struct {
	work       chan func() // unbuffered: a send succeeds only to an idle worker
	quit       chan struct{}
	throughput int
	stop       sync.Once
}

func newWorkerDispatcher(workers, throughput int) *workerDispatcher {
	d := &workerDispatcher{work: make(chan func()), quit: make(chan struct{}), throughput: throughput}
	for range workers {
		go func() {
			for {
				select {
				case fn := <-d.work:
					fn()
				case <-d.quit:
					return
				}
			}
		}()
	}
	return d
}

// Schedule hands fn to an idle worker, or to a new goroutine.
func (d *workerDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
	default:
		go fn()
	}
}

// Throughput is how many messages one pass processes before yielding.
func (d *workerDispatcher) Throughput() int { return d.throughput }

// close ends the workers; passes scheduled later run on their own
// goroutines.
func (d *workerDispatcher) close() {
	d.stop.Do(func() { close(d.quit) })
}
