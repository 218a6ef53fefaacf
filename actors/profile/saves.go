package profile

import (
	"fmt"
	"math"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hearth-profiles/hearth/persistence"
)

// inflightSave is the one save an activation has in the committer at a time.
type inflightSave struct {
	no      uint64
	seq     int64
	version int64 // the highest version this save makes durable
	sessGen uint64
	records int // pending records it carries (a prefix of records.pending)
	release bool
	started time.Time
}

// saveDone carries a committer result back into the actor's mailbox.
type saveDone struct {
	no     uint64
	result persistence.SaveResult
	err    error
}

func (saveDone) NotInfluenceReceiveTimeout() {}

// saveWaiter is a caller answered after a save: a durable update, a Save, a
// Release, a Restore. It is satisfied by the first save that started after it
// was registered (needNo) and covers its version.
type saveWaiter struct {
	sender  *actor.PID
	needNo  uint64
	version int64
	since   time.Time
	durable bool // observed in the durable-wait histogram
	answer  func(err error) any
}

// afterSave answers sender with answer(nil) once the state as of now is
// committed, or answer(err) if the save carrying it fails. If nothing is
// unsaved, it answers at once.
func (a *activation) afterSave(sender *actor.PID, version int64, answer func(err error) any) {
	a.addWaiter(saveWaiter{sender: sender, version: version, answer: answer})
}

func (a *activation) addWaiter(w saveWaiter) {
	if !a.dirty() && a.inflight == nil && w.version <= a.savedVersion {
		a.send(w.sender, w.answer(nil))
		return
	}
	w.needNo = a.saveNo + 1
	w.since = a.cfg.Clock.Now()
	a.waiters = append(a.waiters, w)
	a.flush()
}

// flush starts a save if there is something to save and none is in flight;
// with one in flight it asks for another when that one ends. Passivation's
// final save also releases ownership.
func (a *activation) flush() {
	if a.inflight != nil {
		a.saveAgain = true
		return
	}
	a.saveAgain = false
	// A session that expired but has not been lapsed yet must not be saved
	// as held: the next owner would revive it for a full TTL.
	a.lapseSession()
	if !a.dirty() {
		a.settleWaiters()
		if a.passivating != nil {
			a.releaseClean()
		}
		return
	}
	doc, err := a.encoded()
	var env []byte
	if err == nil {
		env, err = encodeEnvelope(a.version, a.sess, a.keys, doc)
	}
	if err != nil {
		// The document was validated when it changed, so this is a bug;
		// answer the waiters rather than hang them.
		a.log.Error("cannot encode profile for saving", "err", err)
		a.failWaiters(math.MaxUint64, fmt.Errorf("encode profile: %w", err))
		return
	}
	recs, bound := a.records.forSave(a.cfg.Store.Limits().WithDefaults().MaxRecordsPerRow)
	a.saveNo++
	in := &inflightSave{
		no:      a.saveNo,
		seq:     a.savedSeq + 1,
		version: min(a.version, bound),
		sessGen: a.sessGen,
		records: len(recs),
		release: a.passivating != nil && bound == math.MaxInt64,
		started: a.cfg.Clock.Now(),
	}
	a.inflight = in
	row := persistence.SaveRow{
		Key:           a.key,
		Epoch:         a.epoch,
		Seq:           in.seq,
		SchemaVersion: a.schema,
		Document:      env,
		Records:       recs,
		Release:       in.release,
	}
	system, self, no := a.system, a.self, in.no
	a.cfg.Committer.Submit(row, func(res persistence.SaveResult, err error) {
		system.Root.Send(self, saveDone{no: no, result: res, err: err})
	})
}

func (a *activation) onSaveDone(ctx actor.Context, m saveDone) {
	in := a.inflight
	if in == nil || in.no != m.no {
		return // from a previous incarnation of this actor, or after a stop
	}
	a.inflight = nil
	if a.phase == phaseFenced || a.phase == phaseStopped || a.phase == phaseFailed {
		return
	}
	if m.err != nil {
		a.cfg.Metrics.Saves.WithLabelValues("error").Inc()
		a.log.Warn("save failed; changes stay in memory and the save is retried", "seq", in.seq, "err", m.err)
		a.failWaiters(in.no, errorf(codeUnavailable,
			"the save failed (%v); the change is applied in memory and will be saved by a later save: retry with the same idempotency key to learn whether it is durable", m.err))
		a.retryDelay = min(max(2*a.retryDelay, a.cfg.Timing.SaveRetry), a.cfg.Timing.SaveRetryMax)
		a.arm(timerSaveRetry, a.retryDelay)
		return
	}
	a.cfg.Metrics.Saves.WithLabelValues(m.result.Outcome.String()).Inc()
	switch m.result.Outcome {
	case persistence.SaveSaved:
		a.retryDelay = 0
		a.timers.stop(timerSaveRetry)
		a.savedSeq = m.result.Seq
		a.savedVersion = max(a.savedVersion, in.version)
		a.savedSessGen = in.sessGen
		a.committedNo = in.no
		a.lastSave = a.cfg.Clock.Now()
		a.records.committed(in.records)
		a.log.Debug("saved", "seq", in.seq, "version", in.version, "release", in.release)
		a.settleWaiters()
		if in.release {
			a.finishPassivation()
			return
		}
		if a.saveAgain || len(a.waiters) > 0 || a.passivating != nil {
			a.flush()
		}
	case persistence.SaveSuperseded:
		// A save we took for failed had committed after all (an ambiguous
		// commit): the store is ahead of our counter. Catch up and save
		// again; nothing we hold is lost, since memory is newer still.
		a.savedSeq = max(a.savedSeq, m.result.Seq)
		a.flush()
	case persistence.SaveFenced:
		a.fence("save")
	case persistence.SaveGone:
		a.log.Debug("save found the profile gone", "epoch", a.epoch, "seq", in.seq, "result", m.result)
		a.gone()
	}
}

// settleWaiters answers every waiter the committed state satisfies.
func (a *activation) settleWaiters() {
	now := a.cfg.Clock.Now()
	kept := a.waiters[:0]
	for _, w := range a.waiters {
		if w.needNo <= a.committedNo && w.version <= a.savedVersion || !a.dirty() && a.inflight == nil && w.version <= a.savedVersion {
			if w.durable {
				a.cfg.Metrics.DurableWait.Observe(now.Sub(w.since).Seconds())
			}
			a.send(w.sender, w.answer(nil))
			continue
		}
		kept = append(kept, w)
	}
	a.waiters = kept
}

// failWaiters answers, with err, every waiter that the save numbered upTo
// (or an earlier one) would have satisfied.
func (a *activation) failWaiters(upTo uint64, err error) {
	kept := a.waiters[:0]
	for _, w := range a.waiters {
		if w.needNo <= upTo {
			a.send(w.sender, w.answer(err))
			continue
		}
		kept = append(kept, w)
	}
	a.waiters = kept
}

// send answers a deferred request.
func (a *activation) send(to *actor.PID, msg any) {
	if to != nil && msg != nil {
		a.system.Root.Send(to, msg)
	}
}
