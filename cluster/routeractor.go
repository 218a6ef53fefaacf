package cluster

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/profile"
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
	switch m := c.Message().(type) {
	case *hearthv1.WatchRequest:
		ra.watch(c, m)
	case *actor.Terminated:
		if cancel, ok := ra.watches[m.Who.String()]; ok {
			cancel()
			delete(ra.watches, m.Who.String())
		}
	case proto.Message:
		sender := c.Sender()
		if sender == nil {
			return
		}
		system := c.ActorSystem()
		timeout := forwardedTimeout(c.MessageHeader())
		go func() {
			ctx, cancel := clockwork.WithTimeout(context.Background(), ra.clock, timeout)
			defer cancel()
			res, err := ra.host.Request(ctx, m)
			if err != nil {
				res = profile.ErrorResponse(m, err)
			}
			system.Root.Send(sender, res)
		}()
	}
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
