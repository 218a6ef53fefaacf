package profile

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/messages"
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
// after the previous one has stopped), wakes them through one scheduler,
// batches their acquisitions, keeps their events for pollers and watchers,
// and drains them all on shutdown. Routing between nodes is the cluster's
// job; the store's epochs keep activations on different nodes from
// overwriting each other.
type Host struct {
	system    *actor.ActorSystem
	cfg       *Config
	acfg      *activation.Config
	sched     *scheduler
	activator *activator
	events    *eventHub
	dispatch  *workerDispatcher
	props     *actor.Props

	mu         sync.Mutex
	entries    map[persistence.ProfileKey]*entry
	namespaces map[string]*activation.Namespace
	unknownNS  *activation.Namespace // served when AllowUnknownNamespaces
	draining   bool
	// spawned lists the profiles activated since TakeSpawned last ran.
	spawned []persistence.ProfileKey
	// spawning is the shell being spawned, read by the shared producer
	// (protoactor calls it inside Spawn, under mu): one Props for every
	// activation instead of one each, kept for the actor's lifetime.
	spawning *shell
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
	c, ac, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Host{
		system: system, cfg: &c, acfg: &ac,
		sched:      newScheduler(c.Clock),
		activator:  newActivator(c.Store.(acquirer), c.NodeID, c.ActivationBatch, c.ActivationWriters, c.StoreTimeout),
		events:     newEventHub(c.Clock, c.EventBuffer, 2*c.MaxPollWait),
		entries:    make(map[persistence.ProfileKey]*entry),
		namespaces: make(map[string]*activation.Namespace, len(c.Namespaces)),
		unknownNS:  &activation.Namespace{},
	}
	for name, ns := range c.Namespaces {
		h.namespaces[name] = &ns
	}
	// A panic in an activation is a bug; stop it rather than restart it in
	// place, so its replacement goes through a full activation (a fresh
	// epoch and load) and the unsaved state is dropped as in a crash.
	h.dispatch = newWorkerDispatcher(4*runtime.GOMAXPROCS(0), 300)
	h.props = actor.PropsFromProducer(func() actor.Actor { return h.spawning },
		actor.WithDispatcher(h.dispatch),
		actor.WithGuardian(actor.NewOneForOneStrategy(0, time.Second, func(reason any) actor.Directive {
			c.Logger.Error("profile activation panicked; stopping it", "reason", fmt.Sprint(reason))
			return actor.StopDirective
		})))
	return h, nil
}

// Config returns the Host's effective configuration (defaults filled in).
func (h *Host) Config() Config { return *h.cfg }

// KeyOf extracts and validates the profile a request names.
func KeyOf(msg proto.Message) (persistence.ProfileKey, error) {
	r, ok := msg.(interface{ GetProfile() *hearthv1.ProfileRef })
	if !ok {
		return persistence.ProfileKey{}, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "%T is not a profile request", msg)
	}
	return keyOfRef(r.GetProfile())
}

func keyOfRef(ref *hearthv1.ProfileRef) (persistence.ProfileKey, error) {
	key := persistence.ProfileKey{Namespace: ref.GetNamespace(), ID: ref.GetId()}
	if ref == nil {
		return key, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "profile is required")
	}
	if err := persistence.ValidateKey(key); err != nil {
		return key, activation.Classify(err)
	}
	return key, nil
}

// Request sends a request to its profile's activation, starting one if
// needed, and returns the response. Failures a caller can act on come back
// as the response's Error; the error return is for requests that could not
// be delivered or answered (bad profile, draining node, deadline, lapsed
// lease), as a *messages.CodeError. Every wait honours ctx.
func (h *Host) Request(ctx context.Context, msg proto.Message) (proto.Message, error) {
	key, err := KeyOf(msg)
	if err != nil {
		return nil, err
	}
	switch m := msg.(type) {
	case *hearthv1.StatusRequest:
		if res, answered := h.statusUnloaded(ctx, key); answered {
			return h.gate(res, nil)
		}
	case *hearthv1.ListVersionsRequest, *hearthv1.GetVersionRequest, *hearthv1.ListPurchasesRequest:
		return h.gate(h.history(ctx, key, m))
	}
	// The activation answers every request, by its deadline at the latest
	// (a request still queued then is refused, not applied); a caller
	// without one gets DefaultRequestTimeout. No timer is made for it: the
	// wait below ends with the answer, the activation's end or ctx.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = h.cfg.Clock.Now().Add(DefaultRequestTimeout)
	}
	create := activation.Creates(msg)
	for range maxReroutes {
		e, err := h.entry(ctx, key, create)
		if err != nil {
			return nil, err
		}
		reply := make(chan any, 1)
		h.system.Root.Send(e.pid, &request{msg: msg, replyTo: reply, deadline: deadline})
		res, answered, err := awaitReply(ctx, e, reply)
		if err != nil {
			return nil, err
		}
		if !answered {
			// It stopped without seeing the request: follow it, here if
			// the profile is still this node's.
			if h.movedAway(key) {
				return nil, movedError(key)
			}
			continue
		}
		if _, ok := res.(activation.NotServing); ok {
			if err := waitDone(ctx, e); err != nil {
				return nil, err
			}
			if h.movedAway(key) {
				return nil, movedError(key)
			}
			continue
		}
		out, ok := res.(proto.Message)
		if !ok {
			return nil, unavailable("profile %s answered %T", key, res)
		}
		return h.gate(out, nil)
	}
	return nil, unavailable("profile %s kept moving; retry", key)
}

// movedAway reports whether the node's routing view gives key to another
// node (Config.Owns).
func (h *Host) movedAway(key persistence.ProfileKey) bool {
	return h.cfg.Owns != nil && !h.cfg.Owns(key)
}

// awaitReply waits for an activation's answer. answered is false when the
// activation stopped without answering: it never saw the request (it was
// behind the stop in the mailbox, or the actor panicked before applying
// it), so the request may go to the next activation.
func awaitReply(ctx context.Context, e *entry, reply chan any) (res any, answered bool, err error) {
	select {
	case res = <-reply:
		return res, true, nil
	case <-e.done:
		select {
		case res = <-reply:
			return res, true, nil
		default:
			return nil, false, nil
		}
	case <-ctx.Done():
		e := unavailable("profile %s did not answer in time (%v); the outcome is unknown: retry with the same idempotency key", e.key, ctx.Err())
		return nil, false, e
	}
}

// gate lets an answer leave the node only while the node's lease is valid
// by its own clock: past it another node may own the profile, so nothing
// this node says may be relied on. // lease gate (cluster)
func (h *Host) gate(res proto.Message, err error) (proto.Message, error) {
	if h.cfg.LeaseValid != nil && !h.cfg.LeaseValid() {
		e := unavailable("node %s's lease may have lapsed; it acknowledges nothing: retry on another node", h.cfg.NodeID)
		e.RetryAfter = 100 * time.Millisecond
		return nil, e
	}
	return res, err
}

func unavailable(format string, args ...any) *messages.CodeError {
	return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, format, args...)
}

// namespace finds a namespace's policy.
func (h *Host) namespace(name string) (*activation.Namespace, bool) {
	if ns, ok := h.namespaces[name]; ok {
		return ns, true
	}
	if h.cfg.AllowUnknownNamespaces {
		return h.unknownNS, true
	}
	return nil, false
}

// entry returns the serving activation of key, waiting for a stopping one to
// end and spawning a new one.
func (h *Host) entry(ctx context.Context, key persistence.ProfileKey, create bool) (*entry, error) {
	for {
		h.mu.Lock()
		if h.draining {
			h.mu.Unlock()
			e := unavailable("node %s is draining; retry on another node", h.cfg.NodeID)
			e.RetryAfter = 100 * time.Millisecond
			return nil, e
		}
		e := h.entries[key]
		if e == nil {
			ns, ok := h.namespace(key.Namespace)
			if !ok {
				h.mu.Unlock()
				return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "namespace %q is not configured on this node", key.Namespace)
			}
			e = &entry{host: h, key: key, done: make(chan struct{})}
			h.entries[key] = e
			h.spawning = &shell{h: h, e: e, ns: ns, create: create}
			e.pid = h.system.Root.Spawn(h.props)
			h.spawning = nil
			if len(h.spawned) < maxSpawnedTracked {
				h.spawned = append(h.spawned, key)
			}
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
		return unavailable("profile %s: %v while its previous activation stopped", e.key, ctx.Err())
	}
}

// TimeoutOf is how long a request may wait: until ctx's deadline, or
// DefaultRequestTimeout when it has none.
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

// maxSpawnedTracked bounds the profiles TakeSpawned remembers between
// calls; past it the caller looks at every key (Keys).
const maxSpawnedTracked = 4096

// TakeSpawned returns the profiles activated since the last call, and
// whether the list is complete (it stops growing at maxSpawnedTracked).
func (h *Host) TakeSpawned() (keys []persistence.ProfileKey, complete bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys, h.spawned = h.spawned, nil
	return keys, len(keys) < maxSpawnedTracked
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

// Passivate asks a profile's activation (if any) to save, release and stop,
// and waits until it has stopped.
func (h *Host) Passivate(ctx context.Context, ref *hearthv1.ProfileRef, reason string) error {
	key, err := keyOfRef(ref)
	if err != nil {
		return err
	}
	h.mu.Lock()
	e := h.entries[key]
	h.mu.Unlock()
	if e == nil {
		return nil
	}
	h.system.Root.Send(e.pid, passivate{reason: reason})
	return waitDone(ctx, e)
}

// NotifyReleased tells a local activation waiting for key's previous owner
// that the owner released it: it asks the store now.
func (h *Host) NotifyReleased(key persistence.ProfileKey) {
	h.mu.Lock()
	e := h.entries[key]
	h.mu.Unlock()
	if e != nil {
		h.system.Root.Send(e.pid, ownerReleased{})
	}
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
		h.system.Root.Send(e.pid, passivate{reason: "drain"})
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

// Close stops the Host's scheduler and activator; call after Drain.
func (h *Host) Close() {
	h.sched.stop()
	h.activator.close()
	h.dispatch.close()
}

// ErrorResponse builds the response to req carrying err as its Error, for
// routers that must answer a request they could not deliver.
func ErrorResponse(req proto.Message, err error) proto.Message {
	return activation.ErrorResponse(req, err)
}
