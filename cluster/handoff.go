package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// handoffLoop passivates local profiles owned elsewhere after each change
// of the routing view (looking at every loaded profile). Every
// HandoffRecheck it also looks at the profiles activated since its last
// look: one routed here just as the view changed may belong elsewhere, and
// no later change would move it. An idle node with many resident profiles
// thus does no periodic work per profile.
func (r *Router) handoffLoop(passes <-chan struct{}) {
	tick := r.cfg.Clock.NewTicker(r.cfg.HandoffRecheck)
	defer tick.Stop()
	for {
		var keys []persistence.ProfileKey
		select {
		case _, ok := <-passes:
			if !ok {
				return
			}
			r.host.TakeSpawned() // all of them are looked at now
			keys = r.host.Keys()
		case <-tick.Chan():
			var complete bool
			if keys, complete = r.host.TakeSpawned(); !complete {
				keys = r.host.Keys()
			}
		}
		var moved []persistence.ProfileKey
		for _, k := range keys {
			if _, local := r.owner(k); !local {
				moved = append(moved, k)
			}
		}
		if len(moved) == 0 {
			continue
		}
		r.handOff(moved)
	}
}

// handoffTimeout bounds one profile's handoff passivation.
const handoffTimeout = time.Minute

// handOff passivates the moved profiles (each saves and releases in one
// write), handoffConcurrency at a time.
func (r *Router) handOff(moved []persistence.ProfileKey) {
	start := r.cfg.Clock.Now()
	sem := make(chan struct{}, handoffConcurrency)
	var wg sync.WaitGroup
	for _, k := range moved {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ctx, cancel := clockwork.WithTimeout(context.Background(), r.cfg.Clock, handoffTimeout)
			defer cancel()
			if err := r.host.Passivate(ctx, &hearthv1.ProfileRef{Namespace: k.Namespace, Id: k.ID}, "rebalance"); err != nil {
				r.log.Warn("handoff: profile did not stop in time; its new owner waits for this node's lease", "profile", k.String(), "err", err)
			}
		}()
	}
	wg.Wait()
	r.log.Info("handed off profiles owned by other nodes", "profiles", len(moved), "took", r.cfg.Clock.Since(start).Round(time.Millisecond))
}
