package profile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// DefaultRequestTimeout bounds a Host request whose context has no deadline.
const DefaultRequestTimeout = 30 * time.Second

// maxReroutes bounds how often one request follows a profile from a
// stopping activation to the next.
const maxReroutes = 8

// Host runs the profile activations of one node: it spawns an activation on
// a profile's first request, routes requests to it, never lets two
// activations of one profile overlap on this node (a new one starts only
// after the previous one has stopped), and drains them all on shutdown.
// Routing between nodes is the cluster's job; the store's epochs keep
// activations on different nodes from overwriting each other.
type Host struct {
	system *actor.ActorSystem
	cfg    *Config
	props  func(key persistence.ProfileKey, ns Namespace, e *entry) *actor.Props

	mu       sync.Mutex
	entries  map[persistence.ProfileKey]*entry
	draining bool
}

// entry is one activation as the Host sees it.
type entry struct {
	host *Host
	key  persistence.ProfileKey
	pid  *actor.PID
	// ending is set when the activation stops serving; done is closed when
	// it has stopped. Both guarded by host.mu (done is closed once).
	ending bool
	done   chan struct{}
}

func (e *entry) stopping() {
	e.host.mu.Lock()
	e.ending = true
	e.host.mu.Unlock()
}

func (e *entry) stopped() {
	h := e.host
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.entries[e.key] == e {
		delete(h.entries, e.key)
	}
	select {
	case <-e.done:
	default:
		close(e.done)
	}
}

// NewHost validates cfg and returns a Host spawning activations in system.
func NewHost(system *actor.ActorSystem, cfg Config) (*Host, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Host{system: system, cfg: &c, entries: make(map[persistence.ProfileKey]*entry)}
	// A panic in an activation is a bug; stop it rather than restart it in
	// place, so its replacement goes through a full activation (a fresh
	// epoch and load) and the unsaved state is dropped as in a crash.
	stop := actor.NewOneForOneStrategy(0, time.Second, func(reason any) actor.Directive {
		c.Logger.Error("profile activation panicked; stopping it", "reason", fmt.Sprint(reason))
		return actor.StopDirective
	})
	h.props = func(key persistence.ProfileKey, ns Namespace, e *entry) *actor.Props {
		return actor.PropsFromProducer(func() actor.Actor {
			return newActivation(h.cfg, key, ns, e)
		}, actor.WithGuardian(stop))
	}
	return h, nil
}

// Config returns the Host's effective configuration (defaults filled in).
func (h *Host) Config() Config { return *h.cfg }

// KeyOf extracts and validates the profile a request names.
func KeyOf(msg proto.Message) (persistence.ProfileKey, error) {
	r, ok := msg.(interface{ GetProfile() *hearthv1.ProfileRef })
	if !ok {
		return persistence.ProfileKey{}, errorf(codeInvalidArgument, "%T is not a profile request", msg)
	}
	key := persistence.ProfileKey{Namespace: r.GetProfile().GetNamespace(), ID: r.GetProfile().GetId()}
	if err := persistence.ValidateKey(key); err != nil {
		return key, errorf(codeInvalidArgument, "%v", err)
	}
	return key, nil
}

// Request sends a request to its profile's activation, starting one if
// needed, and returns the response. Failures a caller can act on come back
// as the response's Error; the error return is for requests that could not
// be delivered (bad profile, draining node, timeout), as a
// *messages.CodeError.
func (h *Host) Request(ctx context.Context, msg proto.Message) (proto.Message, error) {
	key, err := KeyOf(msg)
	if err != nil {
		return nil, err
	}
	if st, ok := msg.(*hearthv1.StatusRequest); ok {
		if res, answered := h.statusUnloaded(ctx, key, st); answered {
			if err := h.leaseGate(); err != nil { // lease gate (cluster)
				return nil, err
			}
			return res, nil
		}
	}
	for range maxReroutes {
		e, err := h.entry(ctx, key)
		if err != nil {
			return nil, err
		}
		res, err := h.system.Root.RequestFuture(e.pid, msg, TimeoutOf(ctx)).Result()
		switch {
		case errors.Is(err, actor.ErrDeadLetter):
			// It stopped between lookup and delivery: follow it.
		case errors.Is(err, actor.ErrTimeout):
			return nil, errorf(codeUnavailable, "profile %s did not answer in time", key)
		case err != nil:
			return nil, errorf(codeUnavailable, "profile %s: %v", key, err)
		default:
			if _, ok := res.(notServing); !ok {
				out, ok := res.(proto.Message)
				if !ok {
					return nil, errorf(codeUnavailable, "profile %s answered %T", key, res)
				}
				if err := h.leaseGate(); err != nil { // lease gate (cluster)
					return nil, err
				}
				return out, nil
			}
		}
		if err := waitDone(ctx, e); err != nil {
			return nil, err
		}
	}
	return nil, errorf(codeUnavailable, "profile %s kept moving; retry", key)
}

// leaseGate refuses to let a reply leave the node once its lease may have
// lapsed by its own clock: another node may own the profile by now, and a
// write acknowledged here would be lost when this node's save is fenced.
// lease gate (cluster): keep this check between the activation's answer
// and every return of a response or watch event.
func (h *Host) leaseGate() error {
	if h.cfg.LeaseValid == nil || h.cfg.LeaseValid() {
		return nil
	}
	e := errorf(codeUnavailable, "node %s lease may have lapsed; retry on another node", h.cfg.NodeID)
	e.RetryAfter = 100 * time.Millisecond
	return e
}

// entry returns the serving activation of key, waiting for a stopping one to
// end and spawning a new one.
func (h *Host) entry(ctx context.Context, key persistence.ProfileKey) (*entry, error) {
	for {
		h.mu.Lock()
		if h.draining {
			h.mu.Unlock()
			e := errorf(codeUnavailable, "node %s is draining; retry on another node", h.cfg.NodeID)
			e.RetryAfter = time.Second
			return nil, e
		}
		e := h.entries[key]
		if e == nil {
			ns, ok := h.cfg.namespace(key.Namespace)
			if !ok {
				h.mu.Unlock()
				return nil, errorf(codeInvalidArgument, "namespace %q is not configured on this node", key.Namespace)
			}
			e = &entry{host: h, key: key, done: make(chan struct{})}
			h.entries[key] = e
			e.pid = h.system.Root.Spawn(h.props(key, ns, e))
			h.mu.Unlock()
			return e, nil
		}
		ending := e.ending
		h.mu.Unlock()
		if !ending {
			return e, nil
		}
		if err := waitDone(ctx, e); err != nil {
			return nil, err
		}
	}
}

func waitDone(ctx context.Context, e *entry) error {
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return errorf(codeUnavailable, "profile %s: %v while its previous activation stopped", e.key, ctx.Err())
	}
}

// TimeoutOf is how long a request may wait: until ctx's deadline, or
// DefaultRequestTimeout when it has none (actor futures need a duration).
func TimeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return DefaultRequestTimeout
}

// Loaded reports how many activations are running.
func (h *Host) Loaded() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries)
}

// Passivate asks a profile's activation (if any) to save, release and stop,
// and waits until it has stopped.
func (h *Host) Passivate(ctx context.Context, ref *hearthv1.ProfileRef, reason string) error {
	key, err := KeyOf(&hearthv1.PassivateRequest{Profile: ref})
	if err != nil {
		return err
	}
	h.mu.Lock()
	e := h.entries[key]
	h.mu.Unlock()
	if e == nil {
		return nil
	}
	h.system.Root.Send(e.pid, &hearthv1.PassivateRequest{Profile: ref, Reason: reason})
	return waitDone(ctx, e)
}

// Drain stops routing (new requests get UNAVAILABLE), passivates every
// activation (each saves and releases ownership), and waits for all of them.
// A node calls it before leaving the cluster, so nothing is lost in a
// planned move.
func (h *Host) Drain(ctx context.Context) error {
	h.mu.Lock()
	h.draining = true
	entries := make([]*entry, 0, len(h.entries))
	for _, e := range h.entries {
		entries = append(entries, e)
	}
	h.mu.Unlock()
	for _, e := range entries {
		h.system.Root.Send(e.pid, &hearthv1.PassivateRequest{
			Profile: &hearthv1.ProfileRef{Namespace: e.key.Namespace, Id: e.key.ID}, Reason: "drain",
		})
	}
	var left int
	for _, e := range entries {
		if err := waitDone(ctx, e); err != nil {
			left++
		}
	}
	if left > 0 {
		return fmt.Errorf("drain: %d of %d profiles did not stop: %w", left, len(entries), ctx.Err())
	}
	return nil
}

// ErrorResponse builds the response to req carrying err as its Error, for
// routers that must answer a request they could not deliver.
func ErrorResponse(req proto.Message, err error) proto.Message {
	return errorResponse(req, err)
}

// Keys lists the profiles with an activation on this node.
func (h *Host) Keys() []persistence.ProfileKey {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]persistence.ProfileKey, 0, len(h.entries))
	for k := range h.entries {
		out = append(out, k)
	}
	return out
}

// statusUnloaded answers Status for a profile with no activation here from
// the store, so asking about a profile does not load it. answered is false
// when an activation exists (it answers with its live state).
func (h *Host) statusUnloaded(ctx context.Context, key persistence.ProfileKey, _ *hearthv1.StatusRequest) (proto.Message, bool) {
	h.mu.Lock()
	_, loaded := h.entries[key]
	h.mu.Unlock()
	if loaded {
		return nil, false
	}
	sctx, cancel := context.WithTimeout(ctx, h.cfg.Timing.StoreTimeout)
	defer cancel()
	holder, err := h.cfg.Store.Holder(sctx, key)
	switch {
	case errors.Is(err, persistence.ErrNotFound):
		return &hearthv1.StatusResponse{Error: protoErr(errorf(codeNotFound, "profile %s does not exist", key))}, true
	case err != nil:
		return &hearthv1.StatusResponse{Error: protoErr(err)}, true
	}
	return &hearthv1.StatusResponse{Loaded: false, Node: holder.Node, Epoch: holder.Epoch, SavedSeq: holder.Seq}, true
}
