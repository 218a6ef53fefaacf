package activation

import (
	"errors"
	"fmt"
	"time"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// askOwnership sends the store an acquire for this profile.
func (m *Machine) askOwnership() {
	m.acq.inflight = true
	m.acq.retryAt = time.Time{}
	m.emit().Acquire = &AcquireCall{Create: m.acq.create}
}

// onAcquireDone handles the store's answer: ownership (load and serve), a
// profile that does not exist (answer the reads, or ask again with create
// for a queued write), or another node still holding it (wait: a new owner
// never reads a profile its previous owner may still write).
func (m *Machine) onAcquireDone(now time.Time, e AcquireDone) {
	if m.acq == nil {
		return // owned already: a stray answer
	}
	m.acq.inflight = false
	if m.phase != phaseAcquiring {
		// Passivated (a drain, a rebalance) while asking. Ownership we got
		// after all is given back at once; nothing was changed.
		if e.Err == nil {
			m.epoch = e.Acquired.Epoch
			if e.Acquired.PreviousOwner != "" && m.passivating != nil && m.load(now, e.Acquired) == nil {
				// A takeover: the previous owner may have acknowledged
				// versions past its last save. A bare release would let
				// the next owner continue from that save (a release means
				// "everything acknowledged is saved") and issue those
				// versions again, so the final save first records the
				// version this activation rebased to, and releases.
				m.flush(now)
				return // SaveDone finishes the passivation
			}
			m.emit().Release = &ReleaseCall{Epoch: m.epoch}
			return // ReleaseDone finishes the passivation
		}
		if m.phase == phasePassivating {
			m.finishPassivation(now, false)
		}
		return
	}
	var held *persistence.HeldError
	switch {
	case e.Err == nil:
		m.onOwned(now, e.Acquired)
	case errors.Is(e.Err, persistence.ErrNotFound) && !m.acq.create:
		m.onAbsent(now)
	case errors.As(e.Err, &held):
		m.acq.held = held
		m.acq.waited = true
		if m.acq.notified {
			// The release notice overtook this answer: ask again now
			// rather than at the next poll.
			m.acq.notified = false
			m.askOwnership()
			return
		}
		m.waitAndAsk(now, min(max(held.Remaining(), time.Millisecond), m.cfg.Timing.HandoffPoll))
	case errors.Is(e.Err, persistence.ErrLeaseExpired):
		m.fail(errorf(codeUnavailable, "node %s lost its lease and cannot take profiles; retry on another node", m.cfg.NodeID))
	case errors.Is(e.Err, persistence.ErrInvalid):
		m.fail(e.Err)
	default:
		m.cfg.Logger.Warn("acquire failed; asking again", "profile", m.key.String(), "err", e.Err)
		m.acq.held = nil
		m.waitAndAsk(now, m.cfg.Timing.HandoffPoll)
	}
}

// waitAndAsk asks the store again after d, unless that would pass
// ActivationWait: then the activation gives up and its callers retry later.
func (m *Machine) waitAndAsk(now time.Time, d time.Duration) {
	deadline := m.acq.since.Add(m.cfg.Timing.ActivationWait)
	if now.Add(d).After(deadline) {
		e := errorf(codeUnavailable, "could not take profile %s within %s: another node holds it", m.key, m.cfg.Timing.ActivationWait)
		if m.acq.held != nil {
			e.RetryAfter = m.acq.held.Remaining()
		}
		m.fail(e)
		return
	}
	m.acq.retryAt = now.Add(d)
}

// onOwnerReleased: the previous owner says it released the profile; ask
// now instead of at the next poll.
func (m *Machine) onOwnerReleased(time.Time) {
	if m.phase != phaseAcquiring {
		return
	}
	switch {
	case m.acq.inflight:
		// The acquire in flight may have read the row before the release
		// committed; if it answers "held", ask once more at once.
		m.acq.notified = true
	case !m.acq.retryAt.IsZero():
		m.askOwnership()
	}
}

// onAbsent: the profile was never written and the first request may not
// create it. Queued reads are answered NOT_FOUND; if a queued request may
// create the profile, the store is asked again with create.
func (m *Machine) onAbsent(now time.Time) {
	for _, r := range m.queue {
		if Creates(r.Msg) {
			m.acq.create = true
			m.askOwnership()
			return
		}
	}
	notFound := errorf(codeNotFound, "profile %s does not exist", m.key)
	for _, r := range m.queue {
		m.replyError(r, notFound)
	}
	m.queue = nil
	m.cfg.Metrics.Activations.WithLabelValues("not_found").Inc()
	m.end(now, errNotServing)
}

// onOwned loads the acquired snapshot and starts serving.
func (m *Machine) onOwned(now time.Time, acq persistence.Acquired) {
	m.epoch = acq.Epoch
	if err := m.load(now, acq); err != nil {
		// Give the profile back so a node that can read it (a newer schema)
		// need not wait for this node's lease.
		m.emit().Release = &ReleaseCall{Epoch: m.epoch}
		m.fail(err)
		return
	}
	if m.acq.waited {
		m.cfg.Metrics.HandoffWait.Observe(now.Sub(m.acq.since).Seconds())
	}
	m.acq = nil // owned: a resident profile carries no acquiring state
	m.cfg.Metrics.Activations.WithLabelValues("ok").Inc()
	m.cfg.Logger.Debug("activated", "profile", m.key.String(), "epoch", m.epoch, "previous_owner", acq.PreviousOwner,
		"created", acq.Created, "seq", m.savedSeq, "version", m.version)
	m.phase = phaseActive
	m.lastActivity = now
	if m.dirty() {
		m.changed(now)
	}
}

// fail ends an activation that could not start: every queued request gets
// the failure.
func (m *Machine) fail(err error) {
	ce := classify(err)
	m.cfg.Metrics.Activations.WithLabelValues(activationResult(ce.Code)).Inc()
	m.cfg.Logger.Warn("activation failed", "profile", m.key.String(), "err", err)
	for _, r := range m.queue {
		m.replyError(r, ce)
	}
	m.queue = nil
	m.endNow(ce)
}

func activationResult(code interface{ String() string }) string {
	switch code {
	case codeUnavailable:
		return "unavailable"
	case codeSchemaTooNew:
		return "schema_too_new"
	case codeMigrationFailed:
		return "migration_failed"
	default:
		return "failed"
	}
}

// load turns the acquired snapshot into the in-memory profile: unwrap,
// decode, migrate to the namespace's schema, reconcile with its template.
// A migrated or reconciled document counts as a change, saved by the next
// save like any other.
func (m *Machine) load(now time.Time, acq persistence.Acquired) error {
	var (
		doc    any
		schema = m.ns.Migrations.Current() // a new profile starts at the current schema
	)
	// A profile never saved has no records (a re-created one had its
	// records deleted with it), so every key is new.
	m.keys = nil
	if snap := acq.Snapshot; snap != nil {
		env, err := decodeEnvelope(snap.Document)
		if err != nil {
			return errorf(codeUnavailable, "profile %s seq %d cannot be read: %v", m.key, snap.Seq, err)
		}
		if doc, err = document.Decode(env.Doc); err != nil {
			return errorf(codeUnavailable, "profile %s seq %d holds a bad document: %v", m.key, snap.Seq, err)
		}
		schema = snap.SchemaVersion
		m.version, m.savedVersion, m.savedSeq = env.Version, env.Version, snap.Seq
		m.lastSave = snap.SavedAt
		if env.Session != nil {
			m.sess = env.Session.Rebase(now, m.cfg.Timing.SessionTTL)
		}
		m.users = env.Users
		if env.Keys != nil {
			m.keys = *env.Keys
		} else {
			// Written without a filter: any key may have a record.
			m.keys = saturatedKeyFilter()
		}
	}
	m.version = rebaseVersion(m.version, acq)
	up, err := Upgrade(m.ns.Migrations, m.ns.Template, doc, schema)
	if err != nil {
		return fmt.Errorf("profile %s: %w", m.key, err)
	}
	m.doc, m.docBytes, m.schema = up.Doc, up.Encoded, up.Schema
	m.sizeBound = int64(len(up.Encoded))
	if up.Reconciled || up.Migrated {
		m.version++
	}
	return nil
}

// encoded returns the document's JSON, encoding it if it changed.
func (m *Machine) encoded() ([]byte, error) {
	if m.docBytes == nil {
		b, err := document.Encode(m.doc)
		if err != nil {
			return nil, err
		}
		m.docBytes = b
		m.sizeBound = int64(len(b))
	}
	return m.docBytes, nil
}

// decoded returns the document as values, decoding a compacted one.
func (m *Machine) decoded() (any, error) {
	if m.doc == nil {
		d, err := document.Decode(m.docBytes)
		if err != nil {
			return nil, errorf(codeUnavailable, "profile %s: the compacted document cannot be read: %v", m.key, err)
		}
		m.doc = d
	}
	return m.doc, nil
}

// Creates reports whether a request may create its profile. Reads,
// session renewals, saves and erasures of a profile that was never written
// answer NOT_FOUND and write nothing; only a session start and writes
// create it.
func Creates(msg any) bool {
	switch msg.(type) {
	case *hearthv1.AcquireRequest, *hearthv1.UpdateRequest, *hearthv1.PurchaseRequest:
		return true
	default:
		return false
	}
}
