package cluster

import (
	"context"
	"errors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/profile"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// routerActor receives the requests other nodes route here and serves them
// from the local Host (never forwarding again, so two nodes with different
// views cannot bounce a request between them). Each request runs on its
// own goroutine: the actor is a doorway, not a queue. A request gets the
// time its caller had left (the timeoutKey header), not a fixed timeout,
// so the owner stops working on it when the caller stops waiting.
type routerActor struct {
	host  *profile.Host
	clock clockwork.Clock
	// owner is the node's view of who owns a profile (nil: always this
	// node).
	owner   func(persistence.ProfileKey) (Member, bool)
	watches map[string]context.CancelFunc
}

func newRouterActor(host *profile.Host, clock clockwork.Clock, owner func(persistence.ProfileKey) (Member, bool)) actor.Actor {
	return &routerActor{host: host, clock: clock, owner: owner, watches: make(map[string]context.CancelFunc)}
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
		if moved := ra.movedAway(m); moved != nil {
			// The sender's view is older than ours: starting an activation
			// here would only wait for the owner's lease. It routes again.
			if c.Sender() != nil {
				c.Respond(moved)
			}
			return
		}
		ra.serve(c, m, func(ctx context.Context) (proto.Message, error) {
			res, err := ra.host.Request(ctx, m)
			var mv *profile.MovedError
			if errors.As(err, &mv) {
				// A handoff turned it away here: the sender routes again.
				if moved := ra.movedAway(m); moved != nil {
					return moved, nil
				}
			}
			return res, err
		})
	}
}

// movedAway answers Moved for a profile request this node does not own by
// its own view, and nil otherwise.
func (ra *routerActor) movedAway(m proto.Message) *hearthv1.Moved {
	if ra.owner == nil {
		return nil
	}
	key, err := profile.KeyOf(m)
	if err != nil {
		return nil // answered by the Host with its typed error
	}
	owner, local := ra.owner(key)
	if local || owner.Address == "" {
		return nil
	}
	return &hearthv1.Moved{Profile: &hearthv1.ProfileRef{Namespace: key.Namespace, Id: key.ID}, OwnerNode: owner.NodeID}
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
