package profile

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
)

// timerKind names one of an activation's timers; each kind has at most one
// armed timer.
type timerKind int

const (
	timerAutosave  timerKind = iota + 1 // save a dirty profile
	timerIdle                           // passivate an idle profile
	timerLinger                         // passivate after a release
	timerSession                        // a session lapses or an acquire wait ends
	timerSaveRetry                      // retry a failed save
	timerPassivate                      // give up a final save that cannot commit
)

// timerFired is the message a timer sends. It implements
// actor.NotInfluenceReceiveTimeout, and the activation does not count it as
// activity, so timers never keep an idle profile alive.
type timerFired struct {
	kind timerKind
	gen  uint64
}

func (timerFired) NotInfluenceReceiveTimeout() {}

// timers arms the activation's timers on the injected clock. A re-armed or
// stopped timer may still deliver a message it had already sent; the
// generation number lets the activation ignore it.
type timers struct {
	armed map[timerKind]armedTimer
	gen   uint64
}

type armedTimer struct {
	timer clockwork.Timer
	gen   uint64
}

// arm (re)starts the timer of kind to fire after d.
func (t *timers) arm(clock clockwork.Clock, system *actor.ActorSystem, self *actor.PID, kind timerKind, d time.Duration) {
	if t.armed == nil {
		t.armed = make(map[timerKind]armedTimer)
	}
	t.stop(kind)
	t.gen++
	gen := t.gen
	if d < 0 {
		d = 0
	}
	timer := clock.AfterFunc(d, func() { system.Root.Send(self, timerFired{kind: kind, gen: gen}) })
	t.armed[kind] = armedTimer{timer: timer, gen: gen}
}

// current reports whether a fired message is from the timer armed now, and
// disarms it if so.
func (t *timers) current(m timerFired) bool {
	at, ok := t.armed[m.kind]
	if !ok || at.gen != m.gen {
		return false
	}
	delete(t.armed, m.kind)
	return true
}

func (t *timers) stop(kind timerKind) {
	if at, ok := t.armed[kind]; ok {
		at.timer.Stop()
		delete(t.armed, kind)
	}
}

func (t *timers) stopAll() {
	for k := range t.armed {
		t.stop(k)
	}
}

// arm is the activation's shorthand.
func (a *activation) arm(kind timerKind, d time.Duration) {
	a.timers.arm(a.cfg.Clock, a.system, a.self, kind, d)
}

// armAutosave schedules the next autosave with jitter, so profiles loaded
// together spread their saves.
func (a *activation) armAutosave() {
	base := a.cfg.Timing.AutosaveInterval
	spread := float64(base) * a.cfg.Timing.AutosaveJitter
	d := time.Duration(float64(base) - spread + 2*spread*a.rng.Float64())
	a.arm(timerAutosave, d)
}

func (a *activation) onTimer(ctx actor.Context, m timerFired) {
	if !a.timers.current(m) {
		return
	}
	now := a.cfg.Clock.Now()
	switch m.kind {
	case timerAutosave:
		if a.phase != phaseActive {
			return
		}
		if a.dirty() {
			a.flush()
		}
		a.armAutosave()
	case timerIdle:
		if a.phase != phaseActive {
			return
		}
		idle := now.Sub(a.lastActivity)
		if idle >= a.cfg.Timing.IdleTimeout && !a.sess.Held(now) && len(a.acquirers) == 0 {
			a.beginPassivation(ctx, "idle", nil)
			return
		}
		wait := a.cfg.Timing.IdleTimeout - idle
		if wait <= 0 {
			wait = a.cfg.Timing.IdleTimeout // a session is held: look again later
		}
		a.arm(timerIdle, wait)
	case timerLinger:
		if a.phase != phaseActive || a.sess.Held(now) || len(a.acquirers) > 0 {
			return
		}
		// Requests without a session (reads, cross-server updates) keep a
		// released profile loaded for another linger.
		if quiet := now.Sub(a.lastActivity); quiet < a.cfg.Timing.ReleaseLinger {
			a.arm(timerLinger, a.cfg.Timing.ReleaseLinger-quiet)
			return
		}
		a.beginPassivation(ctx, "release", nil)
	case timerSession:
		if a.phase == phaseActive {
			a.lapseSession()
			a.serveAcquirers(ctx)
		}
	case timerSaveRetry:
		if a.phase == phaseActive || a.phase == phasePassivating {
			a.flush()
		}
	case timerPassivate:
		if a.phase == phasePassivating {
			a.abandon()
		}
	}
}
