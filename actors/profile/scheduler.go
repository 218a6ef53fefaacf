package profile

import (
	"container/heap"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// scheduler wakes activations at the instants they ask for. One per node,
// with one entry per activation that has something pending, instead of
// timers per activation: a node holding 200,000 idle profiles keeps a heap
// and one clock timer, and an idle profile costs a heap slot, not a
// goroutine or runtime timer.
type scheduler struct {
	clock clockwork.Clock

	mu    sync.Mutex
	items wakeHeap
	timer clockwork.Timer
	next  time.Time // when timer fires; zero when stopped
}

// wakeEntry is one activation's place in the scheduler. It belongs to the
// activation, which is the only one to Set it.
type wakeEntry struct {
	at     time.Time
	index  int // in the heap; -1 when not scheduled
	target waker
}

// waker is what a due entry wakes.
type waker interface{ wakeUp() }

func newScheduler(clock clockwork.Clock) *scheduler {
	return &scheduler{clock: clock}
}

// set schedules e.fire at at (zero: unschedule). Setting an earlier instant
// than the scheduler's next wake-up re-arms its one timer.
func (s *scheduler) set(e *wakeEntry, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case at.IsZero():
		if e.index >= 0 {
			heap.Remove(&s.items, e.index)
		}
	case e.index >= 0:
		if e.at.Equal(at) {
			return
		}
		e.at = at
		heap.Fix(&s.items, e.index)
	default:
		e.at = at
		heap.Push(&s.items, e)
	}
	s.arm()
}

// arm points the timer at the earliest entry. Called with mu held.
func (s *scheduler) arm() {
	if len(s.items) == 0 {
		return // a pending timer finds nothing due and does not re-arm
	}
	head := s.items[0].at
	if !s.next.IsZero() && !head.Before(s.next) {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.next = head
	s.timer = s.clock.AfterFunc(max(head.Sub(s.clock.Now()), 0), s.run)
}

// run fires every due entry and re-arms for the next.
func (s *scheduler) run() {
	now := s.clock.Now()
	var due []waker
	s.mu.Lock()
	s.next = time.Time{}
	for len(s.items) > 0 && !s.items[0].at.After(now) {
		e := heap.Pop(&s.items).(*wakeEntry)
		due = append(due, e.target)
	}
	s.arm()
	s.mu.Unlock()
	for _, w := range due {
		w.wakeUp()
	}
}

// stop drops every entry and the timer.
func (s *scheduler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.items {
		e.index = -1
	}
	s.items = nil
	if s.timer != nil {
		s.timer.Stop()
	}
	s.next = time.Time{}
}

// len is how many activations are scheduled.
func (s *scheduler) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// wakeHeap is a min-heap of entries by time.
type wakeHeap []*wakeEntry

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h wakeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *wakeHeap) Push(x any) {
	e := x.(*wakeEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *wakeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}

// nextAt is the earliest scheduled instant (zero when none).
func (s *scheduler) nextAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.items) == 0 {
		return time.Time{}
	}
	return s.items[0].at
}
