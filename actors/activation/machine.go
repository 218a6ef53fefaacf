package activation

import (
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/hearth-profiles/hearth/actors/session"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// phase is where an activation is in its life.
type phase uint8

const (
	phaseAcquiring   phase = iota // asking the store for ownership, or waiting for the previous owner
	phaseActive                   // serving requests
	phasePassivating              // final save in flight; new requests go to the next activation
	phaseEnded                    // stopped: passivated, fenced, failed, deleted, not found
)

// Machine is one activation. Its methods are called from one goroutine (the
// actor's); nothing in it is shared.
type Machine struct {
	cfg *Config
	key persistence.ProfileKey
	ns  *Namespace
	// jitter decorrelates the autosaves of profiles changed together.
	jitter uint64

	phase     phase
	endReason error // phaseEnded: what later requests are answered (nil: NotServing)

	// acq is the state of taking ownership; nil once the profile is owned
	// (a resident profile does not carry it).
	acq *acquiring

	// The profile.
	epoch        int64
	doc          any    // decoded document; nil when compacted (docBytes holds it)
	docBytes     []byte // the encoded document, or nil when it must be re-encoded
	sizeBound    int64  // an upper bound on len(encoded doc), exact after an encode
	version      int64  // grows by one per applied change; never reused (rebase.go)
	savedVersion int64  // the version in the newest committed snapshot
	schema       int64
	savedSeq     int64
	lastSave     time.Time
	sess         session.State
	sessGen      uint64 // bumped at every session change that must be saved
	savedSessGen uint64 // sessGen as of the newest committed snapshot
	lastActivity time.Time
	records      records
	keys         keyFilter // every idempotency key this profile has recorded (or may have)
	eventSeq     int64
	// users are the user ids associated with the profile; usersGen counts
	// their changes, savedUsersGen as of the newest committed snapshot.
	users                   []string
	usersGen, savedUsersGen uint64

	// Saving.
	saveNo      uint64 // saves started
	committedNo uint64 // the newest save that committed
	inflight    *inflightSave
	saveAgain   bool
	retryDelay  time.Duration
	saveRetryAt time.Time
	autosaveAt  time.Time
	waiters     []saveWaiter

	// Requests.
	queue     []Request // not yet served, in arrival order
	parked    *parked   // a request waiting for a store call; the queue waits behind it
	readNo    uint64
	acquirers []acquireWaiter
	lingerAt  time.Time

	passivating *passivation

	// out accumulates what the current Step asks for; nil between steps
	// (it comes from a pool, so an idle profile does not carry one).
	out          *Ready
	stoppingSent bool
}

// acquiring is an activation's state while it takes ownership.
type acquiring struct {
	create   bool
	inflight bool      // an AcquireCall is in flight
	since    time.Time // when this activation first asked
	retryAt  time.Time // when to ask again (zero: not waiting)
	held     *persistence.HeldError
	waited   bool
	// notified: the previous owner's release notice came while an
	// acquire was in flight, whose read may predate the release.
	notified bool
}

// readyPool recycles the Ready an activation fills during a Step.
var readyPool = sync.Pool{New: func() any { return new(Ready) }}

// emit is the Ready being filled by this Step.
func (m *Machine) emit() *Ready {
	if m.out == nil {
		m.out = readyPool.Get().(*Ready)
	}
	return m.out
}

// New starts an activation of key: its first Ready asks the store for
// ownership. create says whether the request that caused it may create the
// profile (a read must not).
func New(cfg *Config, key persistence.ProfileKey, ns *Namespace, now time.Time, create bool) *Machine {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key.String()))
	m := &Machine{
		cfg: cfg, key: key, ns: ns, jitter: h.Sum64(), lastActivity: now,
		acq: &acquiring{create: create, since: now},
	}
	m.cfg.Metrics.Loaded.Inc()
	m.askOwnership()
	return m
}

// Step feeds one event to the machine.
func (m *Machine) Step(now time.Time, ev Event) {
	switch e := ev.(type) {
	case Request:
		m.onRequest(now, e)
	case AcquireDone:
		m.onAcquireDone(now, e)
	case SaveDone:
		m.onSaveDone(now, e)
	case ReadDone:
		m.onReadDone(now, e)
	case ReleaseDone:
		m.onReleaseDone(now, e)
	case DeleteDone:
		m.onDeleteDone(now, e)
	case Tick:
		m.onTick(now)
	case Passivate:
		m.onPassivate(now, e)
	case OwnerReleased:
		m.onOwnerReleased(now)
	}
	m.serveQueue(now)
}

// Ready returns what the shell must do now and forgets it. Hand it back
// with Recycle once performed, so its buffers serve the next step.
func (m *Machine) Ready() Ready {
	var r Ready
	if m.out != nil {
		r = *m.out
		r.buf = m.out
		m.out = nil
	}
	r.WakeAt = m.wakeAt()
	return r
}

// Recycle returns a performed Ready's buffers for reuse. Nothing of r may
// be used afterwards (replies and events it held are not touched: only
// the slices holding them are reused).
func Recycle(r Ready) {
	b := r.buf
	if b == nil {
		return
	}
	clear(r.Replies)
	clear(r.Events)
	clear(r.Reads)
	*b = Ready{Replies: r.Replies[:0], Events: r.Events[:0], Reads: r.Reads[:0]}
	readyPool.Put(b)
}

// Key is the profile this activation serves.
func (m *Machine) Key() persistence.ProfileKey { return m.key }

// Epoch is the ownership epoch (0 until acquired).
func (m *Machine) Epoch() int64 { return m.epoch }

// Ended reports whether the activation has ended.
func (m *Machine) Ended() bool { return m.phase == phaseEnded }

func (m *Machine) reply(to any, msg any) {
	if to == nil || msg == nil {
		return
	}
	m.emit().Replies = append(m.emit().Replies, Reply{To: to, Msg: msg})
}

func (m *Machine) replyError(r Request, err error) {
	m.reply(r.ReplyTo, errorResponse(r.Msg, err))
}

// publish emits an event for watchers and pollers, numbered in this
// activation's sequence.
func (m *Machine) publish(ev *hearthv1.WatchEvent) {
	m.eventSeq++
	ev.Seq = m.eventSeq
	ev.Profile = m.ref()
	if ev.Version == 0 {
		ev.Version = m.version
	}
	m.emit().Events = append(m.emit().Events, ev)
}

// Version is the document version.
func (m *Machine) Version() int64 { return m.version }

// EventSeq is the sequence number of the last event published.
func (m *Machine) EventSeq() int64 { return m.eventSeq }

// ref is the profile's wire reference, made when an event or a read needs
// it: kept on every activation it would cost each resident profile 80 bytes.
func (m *Machine) ref() *hearthv1.ProfileRef {
	return &hearthv1.ProfileRef{Namespace: m.key.Namespace, Id: m.key.ID}
}

// dirty reports whether memory holds changes the store does not.
func (m *Machine) dirty() bool {
	return m.version > m.savedVersion || m.sessGen != m.savedSessGen || m.usersGen != m.savedUsersGen
}

// changed notes that memory now holds unsaved changes: the autosave clock
// starts at the first of them.
func (m *Machine) changed(now time.Time) {
	if m.autosaveAt.IsZero() {
		base := m.cfg.Timing.AutosaveInterval
		spread := float64(base) * m.cfg.Timing.AutosaveJitter
		// A per-profile, per-save fraction in [0, 1): no random source to
		// carry, and profiles changed together still spread their saves.
		m.jitter = m.jitter*6364136223846793005 + 1442695040888963407
		frac := float64(m.jitter>>11) / (1 << 53)
		m.autosaveAt = now.Add(time.Duration(float64(base) - spread + 2*spread*frac))
	}
}

// stopServing tells the shell, once, that new requests must wait for the
// next activation.
func (m *Machine) stopServing() {
	if !m.stoppingSent {
		m.stoppingSent = true
		m.emit().Stopping = true
	}
}

// errNotServing is the endReason of an activation whose later requests go
// to the next activation.
var errNotServing = errors.New("activation ended")
