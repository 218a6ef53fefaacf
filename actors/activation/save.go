package activation

import (
	"fmt"
	"math"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// inflightSave is the one save an activation has in the committer at a time.
type inflightSave struct {
	no       uint64
	seq      int64
	version  int64 // the highest version this save makes durable
	sessGen  uint64
	usersGen uint64
	records  int // pending records it carries (a prefix of records.pending)
	release  bool
}

// saveWaiter is a caller answered after a save: a durable update, a Save, a
// Release, a Restore. It is satisfied by the first save that started after it
// was registered (needNo) and covers its version.
type saveWaiter struct {
	to      any
	needNo  uint64
	version int64
	since   time.Time
	durable bool // observed in the durable-wait histogram
	answer  func(err error) any
}

// addWaiter answers w once the state as of now is committed, or with the
// error of the save carrying it. With nothing unsaved it answers at once.
func (m *Machine) addWaiter(now time.Time, w saveWaiter) {
	if !m.dirty() && m.inflight == nil && w.version <= m.savedVersion {
		m.reply(w.to, w.answer(nil))
		return
	}
	w.needNo = m.saveNo + 1
	w.since = now
	m.waiters = append(m.waiters, w)
	m.flush(now)
}

// flush starts a save if there is something to save and none is in flight;
// with one in flight it asks for another when that one ends. Passivation's
// final save also releases ownership.
func (m *Machine) flush(now time.Time) {
	if m.inflight != nil {
		m.saveAgain = true
		return
	}
	m.saveAgain = false
	// A session that expired but has not been lapsed yet must not be saved
	// as held: the next owner would revive it for a full TTL.
	m.lapseSession(now)
	if !m.dirty() {
		m.autosaveAt = time.Time{}
		m.settleWaiters(now)
		if m.passivating != nil {
			m.emit().Release = &ReleaseCall{Epoch: m.epoch}
		}
		return
	}
	doc, err := m.encoded()
	var env []byte
	if err == nil {
		env, err = encodeEnvelope(m.version, m.sess, m.keys, m.users, doc)
	}
	if err != nil {
		// The document was validated when it changed, so this is a bug;
		// answer the waiters rather than hang them.
		m.cfg.Logger.Error("cannot encode profile for saving", "profile", m.key.String(), "err", err)
		m.failWaiters(math.MaxUint64, fmt.Errorf("encode profile: %w", err))
		return
	}
	recs, bound := m.records.forSave(m.cfg.StoreLimits.MaxRecordsPerRow)
	m.saveNo++
	in := &inflightSave{
		no:       m.saveNo,
		seq:      m.savedSeq + 1,
		version:  min(m.version, bound),
		sessGen:  m.sessGen,
		usersGen: m.usersGen,
		records:  len(recs),
		release:  m.passivating != nil && bound == math.MaxInt64,
	}
	m.inflight = in
	m.autosaveAt = time.Time{}
	history := m.ns.History
	if history == (persistence.Retention{}) {
		history = DefaultHistory
	}
	m.emit().Save = &SaveCall{No: in.no, Row: persistence.SaveRow{
		Key:           m.key,
		Epoch:         m.epoch,
		Seq:           in.seq,
		SchemaVersion: m.schema,
		Document:      env,
		Records:       recs,
		Release:       in.release,
		Retention:     history,
	}}
	if m.usersGen != m.savedUsersGen {
		// The full new set; nil means unchanged.
		m.emit().Save.Row.UserIDs = append([]string{}, m.users...)
	}
}

func (m *Machine) onSaveDone(now time.Time, d SaveDone) {
	in := m.inflight
	if in == nil || in.no != d.No {
		return // from before a stop
	}
	m.inflight = nil
	if m.phase == phaseEnded {
		return
	}
	if d.Err != nil {
		m.cfg.Metrics.Saves.WithLabelValues("error").Inc()
		m.cfg.Logger.Warn("save failed; changes stay in memory and the save is retried", "profile", m.key.String(), "seq", in.seq, "err", d.Err)
		m.failWaiters(in.no, errorf(codeUnavailable,
			"the save failed (%v); the change is applied in memory and will be saved by a later save: retry with the same idempotency key to learn whether it is durable", d.Err))
		m.retryDelay = min(max(2*m.retryDelay, m.cfg.Timing.SaveRetry), m.cfg.Timing.SaveRetryMax)
		m.saveRetryAt = now.Add(m.retryDelay)
		return
	}
	m.cfg.Metrics.Saves.WithLabelValues(d.Result.Outcome.String()).Inc()
	switch d.Result.Outcome {
	case persistence.SaveSaved:
		m.retryDelay, m.saveRetryAt = 0, time.Time{}
		m.savedSeq = d.Result.Seq
		m.savedVersion = max(m.savedVersion, in.version)
		m.savedSessGen = in.sessGen
		m.savedUsersGen = in.usersGen
		m.committedNo = in.no
		m.lastSave = now
		m.records.committed(in.records)
		m.settleWaiters(now)
		if in.release {
			m.finishPassivation(now, true)
			return
		}
		if m.saveAgain || len(m.waiters) > 0 || m.passivating != nil {
			m.flush(now)
		} else if m.dirty() {
			m.changed(now) // changes made while the save was in flight
		}
	case persistence.SaveSuperseded:
		// A save we took for failed had committed after all (an ambiguous
		// commit): the store is ahead of our counter. Catch up and save
		// again; nothing we hold is lost, since memory is newer still.
		m.savedSeq = max(m.savedSeq, d.Result.Seq)
		m.flush(now)
	case persistence.SaveFenced:
		m.fence(now, "save")
	case persistence.SaveGone:
		m.gone(now)
	}
}

// settleWaiters answers every waiter the committed state satisfies.
func (m *Machine) settleWaiters(now time.Time) {
	kept := m.waiters[:0]
	for _, w := range m.waiters {
		if w.needNo <= m.committedNo && w.version <= m.savedVersion || !m.dirty() && m.inflight == nil && w.version <= m.savedVersion {
			if w.durable {
				m.cfg.Metrics.DurableWait.Observe(now.Sub(w.since).Seconds())
			}
			m.reply(w.to, w.answer(nil))
			continue
		}
		kept = append(kept, w)
	}
	m.keepWaiters(kept)
}

// keepWaiters installs the waiters still waiting, dropping the slice when
// none is (an idle profile carries no buffer).
func (m *Machine) keepWaiters(kept []saveWaiter) {
	clear(m.waiters[len(kept):])
	m.waiters = kept
	if len(kept) == 0 {
		m.waiters = nil
	}
}

// failWaiters answers, with err, every waiter that the save numbered upTo
// (or an earlier one) would have satisfied.
func (m *Machine) failWaiters(upTo uint64, err error) {
	kept := m.waiters[:0]
	for _, w := range m.waiters {
		if w.needNo <= upTo {
			m.reply(w.to, w.answer(err))
			continue
		}
		kept = append(kept, w)
	}
	m.keepWaiters(kept)
}
