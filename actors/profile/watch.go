package profile

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// watchBuffer is how many events a Watch holds for a slow consumer before
// it ends the watch (the profile never waits for a watcher).
const watchBuffer = 1024

// Watch subscribes to a profile's events and calls fn with each one, in
// order, starting with WATCH_STARTED, until ENDED (the activation stopped:
// watch again to follow the next one), ctx ends, or fn returns an error.
// It activates the profile if it is not loaded. Watching is not activity: an
// otherwise idle profile still passivates, which ends the watch.
func (h *Host) Watch(ctx context.Context, ref *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error {
	key, err := KeyOf(&hearthv1.WatchRequest{Profile: ref})
	if err != nil {
		return err
	}
	for range maxReroutes {
		e, err := h.entry(ctx, key)
		if err != nil {
			return err
		}
		events := make(chan any, watchBuffer)
		overflow := make(chan struct{})
		pid := h.system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			switch m := c.Message().(type) {
			case *actor.Started:
				c.Request(e.pid, &hearthv1.WatchRequest{Profile: ref})
			case *hearthv1.WatchEvent, notServing, *actor.DeadLetterResponse:
				select {
				case events <- m:
				default:
					select {
					case <-overflow:
					default:
						close(overflow)
					}
				}
			}
		}))
		retry, err := h.pump(ctx, events, overflow, fn)
		h.system.Root.Stop(pid) // the profile sees Terminated and forgets it
		if !retry {
			return err
		}
		if err := waitDone(ctx, e); err != nil {
			return err
		}
	}
	return errorf(codeUnavailable, "profile %s kept moving; watch again", key)
}

// pump delivers events to fn. retry is true when the activation was
// stopping before the watch started.
func (h *Host) pump(ctx context.Context, events <-chan any, overflow <-chan struct{}, fn func(*hearthv1.WatchEvent) error) (retry bool, err error) {
	started := false
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-overflow:
			return false, errorf(codeUnavailable, "watcher fell more than %d events behind; watch again", watchBuffer)
		case m := <-events:
			switch ev := m.(type) {
			case notServing, *actor.DeadLetterResponse:
				if !started {
					return true, nil
				}
			case *hearthv1.WatchEvent:
				started = true
				if err := h.leaseGate(); err != nil { // lease gate (cluster)
					return false, err
				}
				if err := fn(ev); err != nil {
					return false, err
				}
				if ev.GetKind() == hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED {
					return false, nil
				}
			}
		}
	}
}
