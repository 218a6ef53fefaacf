package profile

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

func (a *activation) onGet(ctx actor.Context, m *hearthv1.GetRequest) {
	if m.GetPath() == "" {
		doc, err := a.encoded()
		if err != nil {
			respondError(ctx, err)
			return
		}
		ctx.Respond(&hearthv1.GetResponse{Value: string(doc), Version: a.version})
		return
	}
	if p, err := document.ParsePointer(m.GetPath()); err != nil {
		respondError(ctx, &document.OpError{Index: -1, Path: m.GetPath(), Err: err})
		return
	} else if len(p) > a.cfg.Limits.MaxPathDepth {
		e := errorf(codeInvalidPath, "path has %d tokens; at most %d", len(p), a.cfg.Limits.MaxPathDepth)
		e.Path = m.GetPath()
		respondError(ctx, e)
		return
	}
	v, err := document.Get(a.doc, m.GetPath())
	if err != nil {
		respondError(ctx, &document.OpError{Index: -1, Path: m.GetPath(), Err: err})
		return
	}
	b, err := document.Encode(v)
	if err != nil {
		respondError(ctx, err)
		return
	}
	ctx.Respond(&hearthv1.GetResponse{Value: string(b), Version: a.version})
}

func (a *activation) onStatus(ctx actor.Context, _ *hearthv1.StatusRequest) {
	now := a.cfg.Clock.Now()
	resp := &hearthv1.StatusResponse{
		Loaded:          true,
		Dirty:           a.dirty(),
		Version:         a.version,
		SavedVersion:    a.savedVersion,
		SavedSeq:        a.savedSeq,
		Epoch:           a.epoch,
		Node:            a.cfg.NodeID,
		SchemaVersion:   a.schema,
		WaitingAcquires: uint32(len(a.acquirers)),
		WaitingSaves:    uint32(len(a.waiters)),
	}
	if a.sess.Held(now) {
		resp.SessionHolder = a.sess.Holder
		resp.SessionRemainingMs = uint32(a.sess.Remaining(now) / time.Millisecond)
	}
	if !a.lastSave.IsZero() {
		resp.LastSave = timestamppb.New(a.lastSave)
	}
	ctx.Respond(resp)
}

// onSave flushes now and answers once everything applied so far committed.
func (a *activation) onSave(ctx actor.Context, _ *hearthv1.SaveRequest) {
	a.afterSave(ctx.Sender(), a.version, func(err error) any {
		if err != nil {
			return &hearthv1.SaveResponse{Error: protoErr(err)}
		}
		return &hearthv1.SaveResponse{Version: a.savedVersion, SavedSeq: a.savedSeq}
	})
}

func (a *activation) onWatch(ctx actor.Context, _ *hearthv1.WatchRequest) {
	sub := ctx.Sender()
	if sub == nil {
		return
	}
	if _, ok := a.watchers[sub.String()]; !ok {
		a.watchers[sub.String()] = sub
		ctx.Watch(sub) // its Terminated removes it
	}
	ctx.Respond(&hearthv1.WatchEvent{
		Kind:      hearthv1.WatchEventKind_WATCH_EVENT_KIND_WATCH_STARTED,
		Profile:   a.ref(),
		Version:   a.version,
		SessionId: a.sess.Holder,
	})
}

// publish sends an event to every watcher. Events are one-way messages: a
// slow watcher's mailbox grows, the profile never waits for it.
func (a *activation) publish(ev *hearthv1.WatchEvent) {
	if len(a.watchers) == 0 {
		return
	}
	ev.Profile = a.ref()
	if ev.Version == 0 {
		ev.Version = a.version
	}
	for _, pid := range a.watchers {
		a.system.Root.Send(pid, ev)
	}
}
