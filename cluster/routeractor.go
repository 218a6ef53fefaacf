package cluster

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/profile"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// routerActor receives the requests other nodes route here and serves them
// from the local Host (never forwarding again, so two nodes with different
// views cannot bounce a request between them). Each request runs on its
// own goroutine: the actor is a doorway, not a queue. A request gets the
// time its caller had left (the timeoutKey header), not a fixed timeout,
// so the owner stops working on it when the caller stops waiting.
type routerActor struct {
	host    *profile.Host
	clock   clockwork.Clock
	watches map[string]context.CancelFunc
}

func newRouterActor(host *profile.Host, clock clockwork.Clock) actor.Actor {
	return &routerActor{host: host, clock: clock, watches: make(map[string]context.CancelFunc)}
}

func (ra *routerActor) Receive(c actor.Context) {
	// What arrives from other nodes is held to the same strict contract as
	// the gateway: an unknown field or enum value is refused, not ignored.
	if pm, ok := c.Message().(proto.Message); ok && pm.ProtoReflect().Descriptor().ParentFile().Package() == "hearth.v1" {
		if err := messages.Validate(pm); err != nil {
			if c.Sender() != nil {
				c.Respond(profile.ErrorResponse(pm, err))
			}
			return
		}
	}
	switch m := c.Message().(type) {
	case *hearthv1.WatchRequest:
		ra.watch(c, m)
	case *hearthv1.ProfileReleased:
		if key, err := profile.KeyOf(m); err == nil {
			ra.host.NotifyReleased(key)
		}
	case *hearthv1.BatchRequest:
		ra.serve(c, m, func(ctx context.Context) (proto.Message, error) { return ra.host.Batch(ctx, m) })
	case *hearthv1.PollEventsRequest:
		ra.serve(c, m, func(ctx context.Context) (proto.Message, error) { return ra.host.PollEvents(ctx, m) })
	case *actor.Terminated:
		if cancel, ok := ra.watches[m.Who.String()]; ok {
			cancel()
			delete(ra.watches, m.Who.String())
		}
	case proto.Message:
		ra.serve(c, m, func(ctx context.Context) (proto.Message, error) { return ra.host.Request(ctx, m) })
	}
}

// serve runs a request on its own goroutine and answers the sender, a
// failure as the request's response type.
func (ra *routerActor) serve(c actor.Context, m proto.Message, run func(context.Context) (proto.Message, error)) {
	sender := c.Sender()
	if sender == nil {
		return
	}
	system := c.ActorSystem()
	// The forwarding node sends the caller's remaining time; the work
	// stops when the caller stops waiting.
	timeout := forwardedTimeout(c.MessageHeader())
	go func() {
		ctx, cancel := clockwork.WithTimeout(context.Background(), ra.clock, timeout)
		defer cancel()
		res, err := run(ctx)
		if err != nil {
			res = profile.ErrorResponse(m, err)
		}
		system.Root.Send(sender, res)
	}()
}

// watch feeds a remote watcher from the local Host until it goes away.
func (ra *routerActor) watch(c actor.Context, m *hearthv1.WatchRequest) {
	sub := c.Sender()
	if sub == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	ra.watches[sub.String()] = cancel
	c.Watch(sub)
	system := c.ActorSystem()
	go func() {
		err := ra.host.Watch(ctx, m.GetProfile(), func(ev *hearthv1.WatchEvent) error {
			system.Root.Send(sub, ev)
			return nil
		})
		if err != nil && ctx.Err() == nil {
			system.Root.Send(sub, profile.ErrorResponse(m, err))
		}
	}()
}
