// Package profile runs a node's profile activations: each is a protoactor
// actor around a pure activation.Machine (actors/activation), performing
// the I/O the machine asks for (batched acquires through the activator,
// saves through the group committer, store reads, events to the hub) and
// feeding the answers back as messages, so nothing blocks its mailbox. The
// Host spawns, routes, drains and wakes them. docs/ARCHITECTURE.md shows
// the message flows.
package profile

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// Mailbox messages of an activation. Requests carry their reply channel
// (buffered: the actor never blocks answering, and a caller that gave up
// leaves the answer to the garbage collector).
type (
	request struct {
		msg      proto.Message
		replyTo  any // chan any, or *watchReply
		deadline time.Time
	}
	// watchReply answers a Watch request: the WATCH_STARTED event goes to
	// reply and the subscription starts in the same step, so no event
	// between the two is missed.
	watchReply struct {
		reply chan any
		sub   *watchSub
	}
	acquireDone struct {
		res persistence.AcquireResult
		err error
	}
	saveDone struct {
		no  uint64
		res persistence.SaveResult
		err error
	}
	readDone    activation.ReadDone
	releaseDone struct{ err error }
	deleteDone  struct{ err error }
	tick        struct{}
	passivate   struct {
		reason string
		reply  chan any
	}
	ownerReleased struct{}
)

// Store answers, timer ticks and handoff notices are not requests: they do
// not count as activity, so they never keep an idle profile loaded.
func (acquireDone) NotInfluenceReceiveTimeout()   {}
func (saveDone) NotInfluenceReceiveTimeout()      {}
func (readDone) NotInfluenceReceiveTimeout()      {}
func (releaseDone) NotInfluenceReceiveTimeout()   {}
func (deleteDone) NotInfluenceReceiveTimeout()    {}
func (tick) NotInfluenceReceiveTimeout()          {}
func (ownerReleased) NotInfluenceReceiveTimeout() {}

// shell is the actor around one activation.
type shell struct {
	h      *Host
	e      *entry
	ns     *activation.Namespace
	create bool

	m    *activation.Machine
	self *actor.PID
	wake wakeEntry
	log  *eventLog
}

// wakeUp is the scheduler's call: the activation asked to be woken now.
func (s *shell) wakeUp() { s.h.system.Root.Send(s.self, tick{}) }

// Receive turns a mailbox message into a machine event and performs what
// the machine then asks for.
func (s *shell) Receive(c actor.Context) {
	now := s.h.cfg.Clock.Now()
	switch msg := c.Message().(type) {
	case *actor.Started:
		s.self = c.Self()
		s.wake = wakeEntry{index: -1, target: s}
		s.m = activation.New(s.h.acfg, s.e.key, s.ns, now, s.create)
	case *request:
		s.m.Step(now, activation.Request{ReplyTo: msg.replyTo, Msg: msg.msg, Deadline: msg.deadline})
	case acquireDone:
		ev := activation.AcquireDone{Acquired: msg.res.Acquired, Err: msg.res.Err}
		if msg.err != nil {
			ev.Err = msg.err
		}
		s.m.Step(now, ev)
	case saveDone:
		s.m.Step(now, activation.SaveDone{No: msg.no, Result: msg.res, Err: msg.err})
	case readDone:
		s.m.Step(now, activation.ReadDone(msg))
	case releaseDone:
		s.m.Step(now, activation.ReleaseDone{Err: msg.err})
	case deleteDone:
		s.m.Step(now, activation.DeleteDone{Err: msg.err})
	case tick:
		s.m.Step(now, activation.Tick{})
	case passivate:
		var to any
		if msg.reply != nil {
			to = msg.reply
		}
		s.m.Step(now, activation.Passivate{Reason: msg.reason, ReplyTo: to})
	case ownerReleased:
		s.m.Step(now, activation.OwnerReleased{})
	case *actor.Stopped:
		s.stopped()
		return
	default:
		return
	}
	s.perform(c)
}

// perform does what the machine's Ready says, in order: answers (and Watch
// subscriptions), events, store calls, the wake-up, the stop.
func (s *shell) perform(c actor.Context) {
	r := s.m.Ready()
	if s.log == nil && s.m.Epoch() != 0 {
		seq, version := s.m.EventSeq(), s.m.Version()
		if len(r.Events) > 0 {
			// The log starts before this step's events.
			first := r.Events[0]
			seq, version = first.GetSeq()-1, first.GetVersion()
			if k := first.GetKind(); k == hearthv1.WatchEventKind_WATCH_EVENT_KIND_UPDATED || k == hearthv1.WatchEventKind_WATCH_EVENT_KIND_RESTORED {
				version--
			}
		}
		s.log = s.h.events.open(s.e.key, s.m.Epoch(), seq, version)
	}
	if r.Followed && s.log != nil {
		s.h.events.follow(s.log)
	}
	for _, rp := range r.Replies {
		s.answer(rp)
	}
	if s.log != nil {
		s.h.events.publish(s.log, r.Events)
	}
	if r.Stopping {
		s.e.stopping()
	}
	key, self, system := s.e.key, s.self, s.h.system
	if a := r.Acquire; a != nil {
		s.h.activator.submit(key, a.Create, func(res persistence.AcquireResult, err error) {
			system.Root.Send(self, acquireDone{res: res, err: err})
		})
	}
	if sv := r.Save; sv != nil {
		no := sv.No
		s.h.cfg.Committer.Submit(sv.Row, func(res persistence.SaveResult, err error) {
			system.Root.Send(self, saveDone{no: no, res: res, err: err})
		})
	}
	for _, rd := range r.Reads {
		go s.read(rd)
	}
	if rl := r.Release; rl != nil {
		go func(epoch int64) {
			ctx, cancel := context.WithTimeout(context.Background(), s.h.cfg.StoreTimeout)
			defer cancel()
			system.Root.Send(self, releaseDone{err: s.h.cfg.Store.Release(ctx, s.h.cfg.NodeID, key, epoch)})
		}(rl.Epoch)
	}
	if d := r.Delete; d != nil {
		go func(epoch int64) {
			ctx, cancel := context.WithTimeout(context.Background(), s.h.cfg.StoreTimeout)
			defer cancel()
			system.Root.Send(self, deleteDone{err: s.h.cfg.Store.Delete(ctx, s.h.cfg.NodeID, key, epoch)})
		}(d.Epoch)
	}
	if r.HandedOff && s.h.cfg.OnReleased != nil {
		s.h.cfg.OnReleased(key)
	}
	s.h.sched.set(&s.wake, r.WakeAt)
	stop := r.Stop
	activation.Recycle(r)
	if stop {
		c.Stop(s.self)
	}
}

// answer delivers one reply.
func (s *shell) answer(rp activation.Reply) {
	switch to := rp.To.(type) {
	case chan any:
		to <- rp.Msg
	case *watchReply:
		if ev, ok := rp.Msg.(*hearthv1.WatchEvent); ok && ev.GetKind() == hearthv1.WatchEventKind_WATCH_EVENT_KIND_WATCH_STARTED && s.log != nil {
			to.sub.after = ev.GetSeq()
			s.h.events.subscribe(s.log, to.sub)
		}
		to.reply <- rp.Msg
	}
}

// read performs a store read off the actor's goroutine.
func (s *shell) read(rd activation.ReadCall) {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.cfg.StoreTimeout)
	defer cancel()
	d := readDone{No: rd.No}
	switch rd.Kind {
	case activation.ReadRecord:
		d.Record, d.Err = s.h.cfg.Store.Record(ctx, s.e.key, rd.RecordKey)
	case activation.ReadVersion:
		d.Snapshot, d.Err = s.h.cfg.Store.Version(ctx, s.e.key, rd.Seq)
	}
	s.h.system.Root.Send(s.self, d)
}

// stopped cleans up after the actor stopped, normally or after a panic.
func (s *shell) stopped() {
	s.h.sched.set(&s.wake, time.Time{})
	if s.log != nil {
		s.h.events.end(s.log)
	}
	if s.m != nil && !s.m.Ended() {
		// Stopped without ending (a panic): the machine did not count
		// itself out.
		s.h.cfg.Metrics.Loaded.Dec()
	}
	s.e.stopped()
}
