package profile

import (
	"context"
	"errors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// passivation is an activation's orderly end: save, release ownership, stop.
type passivation struct {
	reason  string
	waiters []*actor.PID // PassivateRequest senders
}

func (a *activation) onPassivate(ctx actor.Context, m *hearthv1.PassivateRequest) {
	reason := m.GetReason()
	if reason == "" {
		reason = "requested"
	}
	a.beginPassivation(ctx, reason, ctx.Sender())
}

// beginPassivation stops serving (the Host routes new requests to the next
// activation, which waits until this one has stopped) and starts the final
// save, which releases ownership in the same write.
func (a *activation) beginPassivation(ctx actor.Context, reason string, sender *actor.PID) {
	if a.passivating != nil {
		if sender != nil {
			a.passivating.waiters = append(a.passivating.waiters, sender)
		}
		return
	}
	a.log.Debug("passivating", "reason", reason, "dirty", a.dirty())
	a.passivating = &passivation{reason: reason}
	if sender != nil {
		a.passivating.waiters = append(a.passivating.waiters, sender)
	}
	a.phase = phasePassivating
	a.life.stopping()
	for _, w := range a.acquirers {
		ctx.Send(w.sender, notServing{reason: "passivating"})
	}
	a.acquirers = nil
	a.timers.stopAll()
	a.arm(timerPassivate, a.cfg.Timing.PassivateTimeout)
	a.flush()
}

// releaseClean gives up ownership of a profile with nothing to save.
func (a *activation) releaseClean() {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timing.StoreTimeout)
	err := a.cfg.Store.Release(ctx, a.cfg.NodeID, a.key, a.epoch)
	cancel()
	switch {
	case err == nil:
		a.finishPassivation()
	case errors.Is(err, persistence.ErrFenced):
		a.fence("release")
	case errors.Is(err, persistence.ErrNotFound):
		a.finishPassivation()
	default:
		a.log.Warn("release failed; retrying", "err", err)
		a.retryDelay = min(max(2*a.retryDelay, a.cfg.Timing.SaveRetry), a.cfg.Timing.SaveRetryMax)
		a.arm(timerSaveRetry, a.retryDelay)
	}
}

// finishPassivation ends an orderly passivation: everything is saved and
// ownership released.
func (a *activation) finishPassivation() {
	p := a.passivating
	a.cfg.Metrics.Passivations.WithLabelValues(p.reason).Inc()
	for _, w := range p.waiters {
		a.send(w, &hearthv1.PassivateResponse{SavedSeq: a.savedSeq})
	}
	a.end(nil)
}

// abandon ends a passivation whose final save could not commit in time. The
// unsaved changes are lost, as in a crash; ownership is released if the
// store allows, so the next owner need not wait for this node's lease.
func (a *activation) abandon() {
	a.log.Error("final save did not commit in time; unsaved changes are lost",
		"saved_seq", a.savedSeq, "version", a.version, "saved_version", a.savedVersion)
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timing.StoreTimeout)
	if err := a.cfg.Store.Release(ctx, a.cfg.NodeID, a.key, a.epoch); err != nil {
		a.log.Warn("could not release the profile either; it frees when this node's lease lapses", "err", err)
	}
	cancel()
	err := errorf(codeUnavailable, "profile %s could not be saved before it stopped", a.key)
	a.cfg.Metrics.Passivations.WithLabelValues("abandoned").Inc()
	for _, w := range a.passivating.waiters {
		a.send(w, &hearthv1.PassivateResponse{Error: protoErr(err)})
	}
	a.failWaiters(^uint64(0), err)
	a.end(err)
}

// fence stops an activation that lost ownership: another activation took
// the profile, so this one must not write again. Every waiting caller gets
// FENCED; nothing is saved or released.
func (a *activation) fence(during string) {
	a.cfg.Metrics.Fenced.Inc()
	a.cfg.Metrics.Passivations.WithLabelValues("fenced").Inc()
	a.log.Warn("fenced: another activation owns this profile; stopping without writing",
		"during", during, "epoch", a.epoch, "unsaved_versions", a.version-a.savedVersion)
	err := errorf(codeFenced, "profile %s was taken by another activation; retry to reach it", a.key)
	a.phase = phaseFenced
	a.life.stopping()
	a.failWaiters(^uint64(0), err)
	for _, w := range a.acquirers {
		a.send(w.sender, errorResponse(w.req, err))
	}
	a.acquirers = nil
	if a.passivating != nil {
		for _, w := range a.passivating.waiters {
			a.send(w, &hearthv1.PassivateResponse{Error: protoErr(err)})
		}
	}
	a.end(err)
	a.phase = phaseFenced // queued requests are answered FENCED until stopNow
}

// gone stops an activation whose profile was deleted by a newer owner.
func (a *activation) gone() {
	a.log.Warn("profile was deleted by another activation; stopping")
	err := errorf(codeNotFound, "profile %s was deleted", a.key)
	a.cfg.Metrics.Passivations.WithLabelValues("gone").Inc()
	a.life.stopping()
	a.failWaiters(^uint64(0), err)
	a.end(err) // queued requests go to the next activation, which re-creates it
}

// end tells watchers, stops the timers and queues the actor's stop behind
// every request already in its mailbox.
func (a *activation) end(err error) {
	a.timers.stopAll()
	a.publish(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED, Error: protoErr(err)})
	a.watchers = map[string]*actor.PID{}
	a.phase = phaseStopped
	a.system.Root.Send(a.self, stopNow{})
}
