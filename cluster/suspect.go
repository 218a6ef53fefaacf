package cluster

import (
	"context"

	"github.com/asynkron/protoactor-go/remote"
)

// A member becomes a suspect when protoactor's remote reports its
// connection broken (remote.EndpointTerminatedEvent: the peer process died
// and the kernel reset the connection, or the peer's remote shut down).
// That comes within milliseconds of a kill -9, long before Consul's check
// lapses. The router then
//   - fails every request in flight to that address at once (UNAVAILABLE,
//     outcome unknown: the caller retries with its idempotency key), where
//     it used to wait for the member to leave the list or for its deadline;
//   - routes the member's profiles to their next owner by rendezvous, the
//     owner they get when the member leaves the list, so their new
//     activations start waiting for its lease at once; the remote, asked to
//     send to a dead address, would instead hold each request in its
//     endpoint writer's reconnect loop for seconds.
//
// A suspicion ends when the member leaves the list (the membership
// settled), or when its address accepts connections again (probed every
// ProbeEvery): a connection that broke without the node dying must not
// keep its profiles away for long. A paused node (SIGSTOP) keeps its
// connections open and is not suspected; Consul's check drops it
// (consul.check_ttl).

// onEvent follows the actor system's event stream.
func (r *Router) onEvent(evt any) {
	if e, ok := evt.(*remote.EndpointTerminatedEvent); ok {
		r.suspect(e.Address)
	}
}

// suspect fails the requests in flight to address and, if it is a
// member's, routes around it until the membership settles or it answers.
func (r *Router) suspect(address string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch, ok := r.gone[address]; ok {
		close(ch)
		delete(r.gone, address)
	}
	if r.closed || r.suspects[address] {
		return
	}
	member := false
	for _, m := range r.members {
		if m.Address == address && m.ID != r.self {
			member = true
		}
	}
	if !member {
		return
	}
	r.suspects[address] = true
	r.rebuildLocked()
	r.log.Warn("lost the connection to a member; routing its profiles to their next owner until it answers or leaves", "address", address)
	go r.probe(address)
}

// probe clears a suspicion once address accepts connections again, unless
// the member left first.
func (r *Router) probe(address string) {
	tick := r.cfg.Clock.NewTicker(r.cfg.ProbeEvery)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.Chan():
		}
		if !r.suspected(address) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ProbeEvery)
		err := r.cfg.Probe(ctx, address)
		cancel()
		if err != nil {
			continue
		}
		r.mu.Lock()
		if r.suspects[address] {
			delete(r.suspects, address)
			r.rebuildLocked()
			r.log.Info("a suspected member answers again; routing to it", "address", address)
		}
		r.mu.Unlock()
		return
	}
}

func (r *Router) suspected(address string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.suspects[address]
}
