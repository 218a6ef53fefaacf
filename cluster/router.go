package cluster

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/profile"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// routerName is the name of every node's router actor; other nodes send it
// the requests for profiles this node owns.
const routerName = "hearth-router"

// handoffRecheck is how often a node looks for profiles it holds but no
// longer owns.
const handoffRecheck = time.Second

// handoffConcurrency bounds the passivations a membership change starts at
// once on one node.
const handoffConcurrency = 32

// Router sends each request to the node that owns its profile by
// rendezvous hashing over the live members, and serves its own share
// through the local Host. Routing is only a preference: the store's
// ownership epochs decide who may write, and a new owner waits for the old
// one's release, so two nodes with different views never both write.
type Router struct {
	host   *profile.Host
	system *actor.ActorSystem
	log    *slog.Logger

	mu      sync.Mutex
	self    string
	members []Member
	handoff chan struct{} // a pending handoff pass (capacity 1)
	// left has a channel per member address with requests in flight; it
	// is closed when the member leaves the list, failing those requests
	// at once instead of at their deadline.
	left map[string]chan struct{}
}

// NewRouter routes for host; call SetMembers as the membership changes. A
// nil host makes a client router: every request goes to a member.
func NewRouter(host *profile.Host, system *actor.ActorSystem, selfID string, log *slog.Logger) *Router {
	r := &Router{host: host, system: system, self: selfID, log: log, left: map[string]chan struct{}{}}
	if host != nil {
		r.handoff = make(chan struct{}, 1)
		go r.handoffLoop(r.handoff)
	}
	return r
}

// SetMembers installs a new member list and this node's member id, and
// hands off the profiles this node no longer owns: each is passivated
// (saved and released), and its new owner, which waits for the release,
// loads it right after.
func (r *Router) SetMembers(self string, members []Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.self, r.members = self, members
	for addr, ch := range r.left {
		if !slices.ContainsFunc(members, func(m Member) bool { return m.Address == addr }) {
			close(ch)
			delete(r.left, addr)
		}
	}
	if r.handoff != nil {
		select {
		case r.handoff <- struct{}{}:
		default: // a pass is already pending; it will see this list
		}
	}
}

// owner picks the member owning key; local is true when it is this node
// (or when no member is known: a node alone serves everything).
func (r *Router) owner(key persistence.ProfileKey) (m Member, local bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.members) == 0 {
		return Member{}, r.host != nil
	}
	var best uint64
	for _, c := range r.members {
		h := fnv.New64a()
		_, _ = h.Write([]byte(c.ID))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(key.Namespace))
		_, _ = h.Write([]byte{'/'})
		_, _ = h.Write([]byte(key.ID))
		if s := h.Sum64(); s >= best {
			best, m = s, c
		}
	}
	return m, r.host != nil && m.ID == r.self
}

// Request delivers msg to the owning node and returns its response. A
// request that could not be delivered (the owner's address is dead) is
// retried with capped, jittered backoff until ctx ends; one that was
// delivered but not answered in time is not retried (it may have been
// applied): the caller gets UNAVAILABLE and retries with its idempotency key.
func (r *Router) Request(ctx context.Context, msg proto.Message) (proto.Message, error) {
	key, err := profile.KeyOf(msg)
	if err != nil {
		return nil, err
	}
	backoff := 20 * time.Millisecond
	for {
		owner, local := r.owner(key)
		if local {
			return r.host.Request(ctx, msg)
		}
		if owner.Address == "" {
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "no cluster member is known to serve %s", key)
		}
		res, err := r.forward(ctx, owner, msg)
		switch {
		case errors.Is(err, errMemberLeft):
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE,
				"node %s left the cluster while serving %s; the outcome is unknown: retry (with the same idempotency key)", owner.NodeID, key)
		case err == nil:
			out, ok := res.(proto.Message)
			if !ok {
				return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node %s answered %T", owner.NodeID, res)
			}
			return out, nil
		case !errors.Is(err, actor.ErrDeadLetter):
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node %s did not answer for %s in time: %v", owner.NodeID, key, err)
		}
		if err := sleepCtx(ctx, jitter(backoff)); err != nil {
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "no node could serve %s: %v", key, err)
		}
		backoff = min(2*backoff, time.Second)
	}
}

// errMemberLeft: the owner left the membership while a request waited.
var errMemberLeft = errors.New("member left")

// forward sends msg to owner's router actor and waits for the answer, the
// owner leaving the membership (a crash or partition: the answer may never
// come), or ctx.
func (r *Router) forward(ctx context.Context, owner Member, msg proto.Message) (any, error) {
	if res, refused := refuseOversized(r.system, msg); refused { // wirelimits.go
		return res, nil
	}
	r.mu.Lock()
	left, ok := r.left[owner.Address]
	if !ok {
		left = make(chan struct{})
		r.left[owner.Address] = left
	}
	r.mu.Unlock()
	type answer struct {
		res any
		err error
	}
	done := make(chan answer, 1)
	f := r.system.Root.RequestFuture(actor.NewPID(owner.Address, routerName), msg, profile.TimeoutOf(ctx))
	go func() {
		res, err := f.Result()
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		return a.res, a.err
	case <-left:
		return nil, errMemberLeft
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Watch follows a profile's events on its owning node.
func (r *Router) Watch(ctx context.Context, ref *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error {
	key, err := profile.KeyOf(&hearthv1.WatchRequest{Profile: ref})
	if err != nil {
		return err
	}
	owner, local := r.owner(key)
	if local {
		return r.host.Watch(ctx, ref, fn)
	}
	if owner.Address == "" {
		return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "no cluster member is known to serve %s", key)
	}
	events := make(chan *hearthv1.WatchEvent, 1024)
	failed := make(chan error, 1)
	target := actor.NewPID(owner.Address, routerName)
	pid := r.system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			c.Request(target, &hearthv1.WatchRequest{Profile: ref})
		case *hearthv1.WatchEvent:
			select {
			case events <- m:
			default:
				select {
				case failed <- messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "watcher fell behind; watch again"):
				default:
				}
			}
		case *actor.DeadLetterResponse:
			select {
			case failed <- messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node %s is gone; watch again", owner.NodeID):
			default:
			}
		}
	}))
	defer r.system.Root.Stop(pid) // the owner sees it terminate and stops the feed
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return err
		case ev := <-events:
			if err := fn(ev); err != nil {
				return err
			}
			if ev.GetKind() == hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED {
				return nil
			}
		}
	}
}

// handoffLoop passivates local profiles owned elsewhere after each change.
// It also looks every handoffRecheck: a request routed here by a node with
// an older view re-activates a profile this node no longer owns, and no
// membership change would otherwise move it back.
func (r *Router) handoffLoop(passes <-chan struct{}) {
	tick := time.NewTicker(handoffRecheck)
	defer tick.Stop()
	for {
		select {
		case _, ok := <-passes:
			if !ok {
				return
			}
		case <-tick.C:
		}
		var moved []persistence.ProfileKey
		for _, k := range r.host.Keys() {
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

func (r *Router) handOff(moved []persistence.ProfileKey) {
	start := time.Now()
	sem := make(chan struct{}, handoffConcurrency)
	var wg sync.WaitGroup
	for _, k := range moved {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := r.host.Passivate(ctx, &hearthv1.ProfileRef{Namespace: k.Namespace, Id: k.ID}, "rebalance"); err != nil {
				r.log.Warn("handoff: profile did not stop in time; its new owner waits for this node's lease", "profile", k.String(), "err", err)
			}
		}()
	}
	wg.Wait()
	r.log.Info("handed off profiles owned by other nodes", "profiles", len(moved), "took", time.Since(start).Round(time.Millisecond))
}

// close stops the handoff loop.
func (r *Router) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.handoff != nil {
		close(r.handoff)
		r.handoff = nil
	}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
