package activation

import (
	"errors"
	"time"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// sessionAllows checks a Delete or Restore against the session: while
// another session holds the profile it needs that session's token or force.
// A token that is given must be the current one (and renews it).
func (m *Machine) sessionAllows(now time.Time, token string, force bool, what string) error {
	m.lapseSession(now)
	if token != "" {
		return m.checkToken(now, token)
	}
	if m.sess.Held(now) && !force {
		e := errorf(codeSessionConflict, "session %q holds this profile; %s needs its session_token, or force to %s anyway (the holder is told)",
			m.sess.Holder, what, what)
		e.HolderSession = m.sess.Holder
		e.RetryAfter = m.sess.Remaining(now)
		return e
	}
	return nil
}

// onRestore makes a retained snapshot the current document, as a new
// version (history only grows), migrated and reconciled like a load, and
// answers once it is durable. Idempotency records are not rolled back: a
// purchase granted after the restored snapshot stays recorded, so a
// replayed receipt is answered as a duplicate and not granted again
// (docs/API.md explains the choice).
func (m *Machine) onRestore(now time.Time, r Request, msg *hearthv1.RestoreRequest) {
	if err := m.sessionAllows(now, msg.GetSessionToken(), msg.GetForce(), "restore"); err != nil {
		m.replyError(r, err)
		return
	}
	if msg.GetSeq() <= 0 {
		m.replyError(r, errorf(codeInvalidArgument, "seq must be positive (ListVersions lists the retained ones)"))
		return
	}
	m.park(r, &ReadCall{Kind: ReadVersion, Seq: msg.GetSeq()}, func(now time.Time, d ReadDone) {
		if d.Err != nil {
			if errors.Is(d.Err, persistence.ErrNotFound) {
				d.Err = errorf(codeNotFound, "version %d of %s is not retained; ListVersions shows what is", msg.GetSeq(), m.key)
			}
			m.replyError(r, d.Err)
			return
		}
		m.restore(now, r, msg, d.Snapshot)
	})
}

func (m *Machine) restore(now time.Time, r Request, msg *hearthv1.RestoreRequest, snap persistence.Snapshot) {
	env, err := decodeEnvelope(snap.Document)
	if err != nil {
		m.replyError(r, errorf(codeUnavailable, "version %d cannot be read: %v", snap.Seq, err))
		return
	}
	doc, err := document.Decode(env.Doc)
	if err != nil {
		m.replyError(r, errorf(codeUnavailable, "version %d holds a bad document: %v", snap.Seq, err))
		return
	}
	up, err := Upgrade(m.ns.Migrations, m.ns.Template, doc, snap.SchemaVersion)
	if err != nil {
		m.replyError(r, err)
		return
	}
	m.doc, m.docBytes, m.schema = up.Doc, up.Encoded, up.Schema
	m.sizeBound = int64(len(up.Encoded))
	m.version++
	m.changed(now)
	m.publish(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_RESTORED, SessionId: m.holderFor(msg.GetSessionToken())})
	m.addWaiter(now, saveWaiter{to: r.ReplyTo, version: m.version, answer: func(err error) any {
		if err != nil {
			return errorResponse(r.Msg, err)
		}
		return &hearthv1.RestoreResponse{Version: m.savedVersion, SavedSeq: m.savedSeq}
	}})
}

// onDelete erases the profile (fenced by this activation's epoch, so a
// stale activation cannot delete a newer owner's profile) and stops. The
// profile's idempotency records go with it: a receipt replayed after an
// erasure is granted again to the re-created profile (docs/API.md explains
// the choice).
func (m *Machine) onDelete(now time.Time, r Request, msg *hearthv1.DeleteRequest) {
	if err := m.sessionAllows(now, msg.GetSessionToken(), msg.GetForce(), "delete"); err != nil {
		m.replyError(r, err)
		return
	}
	holder := m.holderFor(msg.GetSessionToken())
	m.emit().Delete = &DeleteCall{Epoch: m.epoch}
	m.park(r, nil, func(now time.Time, d ReadDone) {
		switch {
		case errors.Is(d.Err, persistence.ErrFenced):
			m.replyError(r, d.Err)
			m.fence(now, "delete")
			return
		case d.Err != nil && !errors.Is(d.Err, persistence.ErrNotFound):
			m.replyError(r, d.Err)
			if m.passivating != nil {
				m.flush(now) // the passivation waited for the delete
			}
			return
		}
		m.reply(r.ReplyTo, &hearthv1.DeleteResponse{})
		m.publish(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_DELETED, SessionId: holder})
		m.cfg.Metrics.Passivations.WithLabelValues("deleted").Inc()
		gone := errorf(codeNotFound, "profile %s was deleted", m.key)
		m.failWaiters(^uint64(0), gone)
		for _, w := range m.acquirers {
			m.reply(w.req.ReplyTo, NotServing{Reason: "deleted"})
		}
		m.acquirers = nil
		if m.passivating != nil {
			for _, w := range m.passivating.waiters {
				m.reply(w, &hearthv1.PassivateResponse{})
			}
		}
		m.end(now, errNotServing)
	})
}

// onDeleteDone resumes the parked Delete.
func (m *Machine) onDeleteDone(now time.Time, d DeleteDone) {
	if m.parked == nil {
		return
	}
	m.onReadDone(now, ReadDone{No: m.parked.readNo, Err: d.Err})
}
