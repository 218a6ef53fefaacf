package profile

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// eventHub holds the recent events of a node's activations for long polls
// (PollEvents) and feeds Watch streams. Each activation has a log while it
// is loaded; the log buffers events only while someone polls that profile,
// so profiles nobody follows cost a few counters, not a buffer.
//
// A cursor names an activation (its ownership epoch, unique per profile
// across nodes) and a position in its event sequence: "epoch.seq". A cursor
// from an activation that has ended, or older than the buffer, cannot be
// served exactly; the poller is told to resynchronise (re-read).
type eventHub struct {
	clock clockwork.Clock
	// keep is how many events a polled profile's buffer holds; linger is
	// how long a buffer is kept after the last poll.
	keep   int
	linger time.Duration

	mu   sync.Mutex
	logs map[persistence.ProfileKey]*eventLog
	// ended keeps the logs of activations that ended, for linger, so a
	// poller still gets the last events and ENDED; endedOrder prunes them.
	ended      map[persistence.ProfileKey]*eventLog
	endedOrder []endedLog

	waiting atomic.Int64 // polls waiting for an event
}

// eventLog is one activation's events. Guarded by the hub's mutex.
type eventLog struct {
	key     persistence.ProfileKey
	epoch   int64
	head    int64 // seq of the last event published
	version int64 // the document version after the last event
	ended   bool

	// f is who follows the log: nil for a profile nobody polls or
	// watches (most of a node's resident profiles), which then costs only
	// the fields above (BenchmarkResidentProfiles).
	f *followers
}

// followers are an eventLog's pollers and watchers.
type followers struct {
	// buf holds events with seq in [from, head] while buffering; nil when
	// nobody polled since polledUntil.
	buf         []*hearthv1.WatchEvent
	from        int64
	polledUntil time.Time

	subs    map[*watchSub]struct{}
	waiters []chan struct{} // polls waiting for an event
}

// firstSeq is the seq of the oldest event the log can hand out: its
// oldest buffered one, or the next one when it buffers none.
func (l *eventLog) firstSeq() int64 {
	if l.f != nil && l.f.buf != nil {
		return l.f.from
	}
	return l.head + 1
}

// followed returns the log's followers, making them if it has none.
func (l *eventLog) followed() *followers {
	if l.f == nil {
		l.f = &followers{}
	}
	return l.f
}

// unfollowIfIdle drops followers that no longer follow anything.
func (l *eventLog) unfollowIfIdle() {
	if f := l.f; f != nil && f.buf == nil && len(f.subs) == 0 && len(f.waiters) == 0 {
		l.f = nil
	}
}

// watchSub is one Watch stream's subscription: events with Seq > after.
type watchSub struct {
	events   chan *hearthv1.WatchEvent
	overflow chan struct{}
	after    int64
	once     sync.Once
}

func newWatchSub(buffer int) *watchSub {
	return &watchSub{events: make(chan *hearthv1.WatchEvent, buffer), overflow: make(chan struct{})}
}

func (s *watchSub) deliver(ev *hearthv1.WatchEvent) {
	if ev.GetSeq() <= s.after && ev.GetKind() != hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED {
		return
	}
	select {
	case s.events <- ev:
	default:
		s.once.Do(func() { close(s.overflow) })
	}
}

type endedLog struct {
	log *eventLog
	at  time.Time
}

func newEventHub(clock clockwork.Clock, keep int, linger time.Duration) *eventHub {
	return &eventHub{clock: clock, keep: keep, linger: linger,
		logs: make(map[persistence.ProfileKey]*eventLog), ended: make(map[persistence.ProfileKey]*eventLog)}
}

// open starts key's log for the activation holding epoch, whose events so
// far end at seq, with the document at version.
func (h *eventHub) open(key persistence.ProfileKey, epoch, seq, version int64) *eventLog {
	l := &eventLog{key: key, epoch: epoch, head: seq, version: version}
	h.mu.Lock()
	if old := h.logs[key]; old != nil {
		// The previous activation's log; it has ended (the Host never runs
		// two activations of a profile at once).
		h.endLocked(old)
	}
	h.logs[key] = l
	h.mu.Unlock()
	return l
}

// publish appends an activation's events and wakes its followers.
func (h *eventHub) publish(l *eventLog, events []*hearthv1.WatchEvent) {
	if len(events) == 0 {
		return
	}
	now := h.clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	f := l.f
	if f != nil && f.buf != nil && now.After(f.polledUntil) {
		f.buf = nil // nobody polls any more
	}
	for _, ev := range events {
		l.head = ev.GetSeq()
		l.version = ev.GetVersion()
		if f == nil {
			continue
		}
		if f.buf != nil {
			f.buf = append(f.buf, ev)
			if over := len(f.buf) - h.keep; over > 0 {
				clear(f.buf[:over])
				f.buf = f.buf[over:]
			}
			f.from = l.head - int64(len(f.buf)) + 1
		}
		for s := range f.subs {
			s.deliver(ev)
		}
	}
	if events[len(events)-1].GetKind() == hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED {
		// The activation has ended, though its actor has yet to stop: a
		// poll from now on is told the profile is not loaded here (its
		// watchers had their ENDED above).
		if f != nil {
			f.subs = nil
		}
		h.endLocked(l)
		return
	}
	l.wakeLocked()
	l.unfollowIfIdle()
}

func (l *eventLog) wakeLocked() {
	if l.f == nil {
		return
	}
	for _, w := range l.f.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	l.f.waiters = nil
}

// follow keeps the log's events from now on: an answer handed out a cursor
// that a poll will use.
func (h *eventHub) follow(l *eventLog) {
	now := h.clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	l.startBuffer(now, h.linger)
}

// startBuffer keeps the log's events (from its head on, if it kept none)
// until linger after now. Called with the hub's mutex held.
func (l *eventLog) startBuffer(now time.Time, linger time.Duration) {
	f := l.followed()
	f.polledUntil = now.Add(linger)
	if f.buf == nil {
		f.buf = make([]*hearthv1.WatchEvent, 0, 4)
		f.from = l.head + 1
	}
}

// subscribe adds a Watch stream to the log.
func (h *eventHub) subscribe(l *eventLog, s *watchSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l.ended {
		s.deliver(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED})
		return
	}
	f := l.followed()
	if f.subs == nil {
		f.subs = make(map[*watchSub]struct{})
	}
	f.subs[s] = struct{}{}
}

func (h *eventHub) unsubscribe(key persistence.ProfileKey, s *watchSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := h.logs[key]; l != nil && l.f != nil {
		delete(l.f.subs, s)
		l.unfollowIfIdle()
	}
}

// end closes an activation's log: its watchers get ENDED (if the activation
// did not publish one), its pollers are woken and will be told to
// resynchronise.
func (h *eventHub) end(l *eventLog) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endLocked(l)
}

func (h *eventHub) endLocked(l *eventLog) {
	if l.ended {
		return
	}
	l.ended = true
	if l.f != nil {
		for s := range l.f.subs {
			s.deliver(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED, Seq: l.head + 1})
		}
		l.f.subs = nil
	}
	l.wakeLocked()
	if h.logs[l.key] == l {
		delete(h.logs, l.key)
	}
	// Keep it a while for pollers that follow it (its events end with
	// ENDED), and forget the ones ended longer ago.
	now := h.clock.Now()
	if l.f != nil && l.f.buf != nil {
		h.ended[l.key] = l
		h.endedOrder = append(h.endedOrder, endedLog{log: l, at: now})
	}
	for len(h.endedOrder) > 0 && now.Sub(h.endedOrder[0].at) > h.linger {
		old := h.endedOrder[0].log
		if h.ended[old.key] == old {
			delete(h.ended, old.key)
		}
		h.endedOrder[0] = endedLog{}
		h.endedOrder = h.endedOrder[1:]
	}
}

// poll answers a PollEvents request from this node's logs, waiting up to
// wait when no profile has anything new. keys are the cursors' profiles,
// already validated.
func (h *eventHub) poll(ctx context.Context, keys []persistence.ProfileKey, cursors []*hearthv1.EventCursor, wait time.Duration) []*hearthv1.ProfileEvents {
	deadline := h.clock.Now().Add(wait)
	for {
		woken := make(chan struct{}, 1)
		out, news := h.collect(keys, cursors, woken)
		left := deadline.Sub(h.clock.Now())
		if news || left <= 0 {
			h.forget(keys, woken)
			return out
		}
		h.waiting.Add(1)
		select {
		case <-woken:
		case <-ctx.Done():
			h.waiting.Add(-1)
			h.forget(keys, woken)
			return out
		case <-h.clock.After(left):
		}
		h.waiting.Add(-1)
	}
}

// collect reads each cursor's events; news is true when any profile has
// events or must resynchronise. With nothing new it registers woken on
// every log read.
func (h *eventHub) collect(keys []persistence.ProfileKey, cursors []*hearthv1.EventCursor, woken chan struct{}) (out []*hearthv1.ProfileEvents, news bool) {
	now := h.clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	out = make([]*hearthv1.ProfileEvents, len(cursors))
	var logs []*eventLog
	for i, c := range cursors {
		pe := &hearthv1.ProfileEvents{Profile: c.GetProfile()}
		out[i] = pe
		epoch, seq, ok := activation.ParseCursor(c.GetCursor())
		l := h.logs[keys[i]]
		if l == nil {
			// Not loaded here: nothing can happen to it until a request
			// activates it. A poller following the activation that ended
			// gets its last events and ENDED; a poller whose cursor cannot
			// be served may have missed events.
			if e := h.ended[keys[i]]; e != nil && ok && epoch == e.epoch && seq+1 >= e.firstSeq() && seq <= e.head {
				if seq < e.head {
					pe.Events = e.since(seq)
					news = true
				}
				continue // cursor "": follow the next activation from its start
			}
			pe.Resync = c.GetCursor() != ""
			news = news || pe.Resync
			continue
		}
		pe.Loaded = true
		logs = append(logs, l)
		l.startBuffer(now, h.linger)
		pe.Cursor = activation.Cursor(l.epoch, l.head)
		pe.Version = l.version
		if c.GetCursor() == "" {
			continue // starts from now
		}
		switch {
		case !ok || epoch != l.epoch || seq > l.head || seq+1 < l.firstSeq():
			pe.Resync = true
			news = true
		case seq < l.head:
			pe.Events = l.since(seq)
			news = true
		}
	}
	if !news {
		for _, l := range logs {
			f := l.followed() // startBuffer made them; followed says so
			f.waiters = append(f.waiters, woken)
		}
	}
	return out, news
}

// since copies the buffered events after seq (which must be buffered).
func (l *eventLog) since(seq int64) []*hearthv1.WatchEvent {
	return append([]*hearthv1.WatchEvent(nil), l.f.buf[int(seq+1-l.f.from):]...)
}

// forget removes a finished poll's wake-up channel from the logs.
func (h *eventHub) forget(keys []persistence.ProfileKey, woken chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		l := h.logs[k]
		if l == nil || l.f == nil {
			continue
		}
		kept := l.f.waiters[:0]
		for _, w := range l.f.waiters {
			if w != woken {
				kept = append(kept, w)
			}
		}
		l.f.waiters = kept
	}
}
