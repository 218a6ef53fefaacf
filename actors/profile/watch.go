package profile

import (
	"context"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// watchBuffer is how many events a Watch holds for a slow consumer before
// it ends the watch (the profile never waits for a watcher).
const watchBuffer = 1024

// Watch subscribes to a profile's events and calls fn with each one, in
// order, starting with WATCH_STARTED, until ENDED (the activation stopped:
// watch again to follow the next one), ctx ends, or fn returns an error.
// It activates the profile if it is not loaded (a profile that was never
// written answers NOT_FOUND). Watching is not activity: an otherwise idle
// profile still passivates, which ends the watch.
func (h *Host) Watch(ctx context.Context, ref *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error {
	key, err := keyOfRef(ref)
	if err != nil {
		return err
	}
	req := &hearthv1.WatchRequest{Profile: ref}
	for range maxReroutes {
		e, err := h.entry(ctx, key, false)
		if err != nil {
			return err
		}
		sub := newWatchSub(watchBuffer)
		reply := make(chan any, 1)
		h.system.Root.Send(e.pid, &request{msg: req, replyTo: &watchReply{reply: reply, sub: sub}})
		res, answered, err := awaitReply(ctx, e, reply)
		if err != nil {
			return err
		}
		started, ok := res.(*hearthv1.WatchEvent)
		if !answered || !ok {
			if err := waitDone(ctx, e); err != nil {
				return err
			}
			continue
		}
		if err := messages.Err(started.GetError()); err != nil {
			return err
		}
		err = h.follow(ctx, started, sub, fn)
		h.events.unsubscribe(key, sub)
		return err
	}
	return unavailable("profile %s kept moving; watch again", key)
}

// follow delivers a watch's events to fn.
func (h *Host) follow(ctx context.Context, started *hearthv1.WatchEvent, sub *watchSub, fn func(*hearthv1.WatchEvent) error) error {
	if _, err := h.gate(started, nil); err != nil {
		return err
	}
	if err := fn(started); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.overflow:
			return unavailable("watcher fell more than %d events behind; watch again", watchBuffer)
		case ev := <-sub.events:
			if _, err := h.gate(ev, nil); err != nil {
				return err
			}
			if err := fn(ev); err != nil {
				return err
			}
			if ev.GetKind() == hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED {
				return nil
			}
		}
	}
}
