package cluster

import (
	"context"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"

	"github.com/hearth-profiles/hearth/actors/profile"
)

// reply is the address a forwarded request is answered at: a minimal
// actor.Process registered for the request's lifetime that hands the first
// message to a channel. The waiting caller selects on it together with ctx
// and the owner's departure, and removes it when it stops waiting. (A
// protoactor Future can only be waited on by blocking in Result until its
// timeout, so a caller that gives up early leaves a goroutine behind.)
type reply struct {
	system *actor.ActorSystem
	pid    *actor.PID
	ch     chan any
}

func newReply(system *actor.ActorSystem) *reply {
	r := &reply{system: system, ch: make(chan any, 1)}
	for {
		pid, ok := system.ProcessRegistry.Add(r, "hearth-reply$"+system.ProcessRegistry.NextID())
		if ok {
			r.pid = pid
			return r
		}
	}
}

// SendUserMessage takes the answer; anything after the first is dropped.
func (r *reply) SendUserMessage(_ *actor.PID, message any) {
	select {
	case r.ch <- actor.UnwrapEnvelopeMessage(message):
	default:
	}
}

func (r *reply) SendSystemMessage(*actor.PID, any) {}

func (r *reply) Stop(*actor.PID) {}

// close removes the address; a late answer goes to dead letters.
func (r *reply) close() { r.system.ProcessRegistry.Remove(r.pid) }

// timeoutKey is the message header carrying a forwarded request's
// remaining time, in milliseconds. A duration, not an instant: the nodes'
// wall clocks need not agree. The owner's deadline starts when the request
// arrives, so it ends a transit time after the caller's.
const timeoutKey = "hearth-timeout-ms"

// maxForwardedTimeout caps the time a forwarded request may ask for.
const maxForwardedTimeout = 5 * time.Minute

func timeoutHeader(ctx context.Context, clock clockwork.Clock) map[string]string {
	left := profile.DefaultRequestTimeout
	if d, ok := ctx.Deadline(); ok {
		left = clock.Until(d)
	}
	return map[string]string{timeoutKey: strconv.FormatInt(max(left.Milliseconds(), 1), 10)}
}

// forwardedTimeout is the time a forwarded request may take by its header;
// requests without one (from an older node) get the default.
func forwardedTimeout(h actor.ReadonlyMessageHeader) time.Duration {
	if h == nil {
		return profile.DefaultRequestTimeout
	}
	ms, err := strconv.ParseInt(h.Get(timeoutKey), 10, 64)
	if err != nil || ms <= 0 {
		return profile.DefaultRequestTimeout
	}
	return min(time.Duration(ms)*time.Millisecond, maxForwardedTimeout)
}

// withDefaultDeadline bounds a context without a deadline by the default
// request timeout.
func withDefaultDeadline(ctx context.Context, clock clockwork.Clock) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return clockwork.WithTimeout(ctx, clock, profile.DefaultRequestTimeout)
}
