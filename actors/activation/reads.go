package activation

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

func (m *Machine) onGet(r Request, msg *hearthv1.GetRequest) {
	if msg.GetPath() == "" {
		doc, err := m.encoded()
		if err != nil {
			m.replyError(r, err)
			return
		}
		m.reply(r.ReplyTo, &hearthv1.GetResponse{Value: string(doc), Version: m.version, EventCursor: m.cursorHere()})
		return
	}
	if p, err := document.ParsePointer(msg.GetPath()); err != nil {
		m.replyError(r, &document.OpError{Index: -1, Path: msg.GetPath(), Err: err})
		return
	} else if len(p) > m.cfg.Limits.MaxPathDepth {
		e := errorf(codeInvalidPath, "path has %d tokens; at most %d", len(p), m.cfg.Limits.MaxPathDepth)
		e.Path = msg.GetPath()
		m.replyError(r, e)
		return
	}
	doc, err := m.decoded()
	if err != nil {
		m.replyError(r, err)
		return
	}
	v, err := document.Get(doc, msg.GetPath())
	if err != nil {
		m.replyError(r, &document.OpError{Index: -1, Path: msg.GetPath(), Err: err})
		return
	}
	b, err := document.Encode(v)
	if err != nil {
		m.replyError(r, err)
		return
	}
	m.reply(r.ReplyTo, &hearthv1.GetResponse{Value: string(b), Version: m.version, EventCursor: m.cursorHere()})
}

func (m *Machine) onStatus(now time.Time, r Request) {
	resp := &hearthv1.StatusResponse{
		Loaded:          true,
		Dirty:           m.dirty(),
		Version:         m.version,
		SavedVersion:    m.savedVersion,
		SavedSeq:        m.savedSeq,
		Epoch:           m.epoch,
		Node:            m.cfg.NodeID,
		SchemaVersion:   m.schema,
		WaitingAcquires: uint32(len(m.acquirers)),
		WaitingSaves:    uint32(len(m.waiters)),
		UserIds:         m.users,
	}
	if m.sess.Held(now) {
		resp.SessionHolder = m.sess.Holder
		resp.SessionRemainingMs = uint32(m.sess.Remaining(now) / time.Millisecond)
	}
	if !m.lastSave.IsZero() {
		resp.LastSave = timestamppb.New(m.lastSave)
	}
	m.reply(r.ReplyTo, resp)
}

// onSave flushes now and answers once everything applied so far committed.
func (m *Machine) onSave(now time.Time, r Request) {
	m.addWaiter(now, saveWaiter{to: r.ReplyTo, version: m.version, answer: func(err error) any {
		if err != nil {
			return &hearthv1.SaveResponse{Error: protoErr(err)}
		}
		return &hearthv1.SaveResponse{Version: m.savedVersion, SavedSeq: m.savedSeq}
	}})
}

// onWatch answers WATCH_STARTED with the current version and event
// sequence; the shell delivers this activation's later events (Seq above
// it) to the watcher.
func (m *Machine) onWatch(r Request) {
	m.reply(r.ReplyTo, &hearthv1.WatchEvent{
		Kind:      hearthv1.WatchEventKind_WATCH_EVENT_KIND_WATCH_STARTED,
		Profile:   m.ref(),
		Version:   m.version,
		SessionId: m.sess.Holder,
		Seq:       m.eventSeq,
	})
}
