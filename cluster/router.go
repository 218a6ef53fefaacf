package cluster

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/profile"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// routerName is the name of every node's router actor; other nodes send it
// the requests for profiles this node owns.
const routerName = "hearth-router"

// RouterConfig configures a Router.
type RouterConfig struct {
	// Host serves this node's own profiles. nil makes a client router:
	// every request goes to a member.
	Host   *profile.Host
	System *actor.ActorSystem
	Clock  clockwork.Clock
	Logger *slog.Logger
	// LeaseValid is the node's lease gate (leaseKeeper.Valid); nil for a
	// client router. A node whose lease may have lapsed relays no answer
	// from another node either: it acknowledges nothing at all, and its
	// callers retry on a node that is sure of its lease.
	LeaseValid func() bool
	// Probe checks whether a suspected member's address accepts
	// connections again (default: a TCP dial).
	Probe func(ctx context.Context, address string) error
	// ProbeEvery is how often a suspected member is probed (default 250 ms).
	ProbeEvery time.Duration
	// HandoffRecheck is how often a node looks for profiles it holds but
	// no longer owns, besides after every member-list change (default 1 s).
	HandoffRecheck time.Duration
}

// handoffConcurrency bounds the passivations a membership change starts at
// once on one node.
const handoffConcurrency = 32

// Router sends each request to the node that owns its profile by
// rendezvous hashing over the live members (placement.go), and serves its
// own share through the local Host. Routing is only a preference: the
// store's ownership epochs decide who may write, and a new owner waits for
// the old one's release, so two nodes with different views never both
// write.
//
// A lookup reads an immutable view through an atomic pointer: requests
// share no lock. The view is the member list less the suspects, members
// whose connection broke (suspect.go): their in-flight requests fail at
// once and new ones go to the next owner until the membership settles.
type Router struct {
	cfg  RouterConfig
	host *profile.Host
	log  *slog.Logger
	view atomic.Pointer[routeView]
	sub  *eventstream.Subscription

	mu       sync.Mutex
	self     string
	members  []Member
	suspects map[string]bool // member addresses routed around
	// gone has a channel per member address with requests in flight; it
	// is closed when the member leaves the list or its connection breaks,
	// failing those requests at once instead of at their deadline.
	gone    map[string]chan struct{}
	handoff chan struct{} // a pending handoff pass (capacity 1)
	stop    chan struct{}
	closed  bool
}

// routeView is one immutable routing decision table.
type routeView struct {
	self      string
	placement *placement
}

// NewRouter routes for cfg.Host; call SetMembers as the membership changes.
func NewRouter(cfg RouterConfig) *Router {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Probe == nil {
		cfg.Probe = dialProbe
	}
	if cfg.ProbeEvery <= 0 {
		cfg.ProbeEvery = 250 * time.Millisecond
	}
	if cfg.HandoffRecheck <= 0 {
		cfg.HandoffRecheck = time.Second
	}
	r := &Router{cfg: cfg, host: cfg.Host, log: cfg.Logger, suspects: map[string]bool{},
		gone: map[string]chan struct{}{}, stop: make(chan struct{})}
	r.view.Store(&routeView{placement: newPlacement(nil)})
	if r.host != nil {
		r.handoff = make(chan struct{}, 1)
		go r.handoffLoop(r.handoff)
	}
	r.sub = cfg.System.EventStream.Subscribe(r.onEvent)
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
	listed := func(addr string) bool {
		return slices.ContainsFunc(members, func(m Member) bool { return m.Address == addr })
	}
	for addr, ch := range r.gone {
		if !listed(addr) {
			close(ch)
			delete(r.gone, addr)
		}
	}
	for addr := range r.suspects {
		if !listed(addr) {
			delete(r.suspects, addr) // settled: the member is gone
		}
	}
	r.rebuildLocked()
	r.log.Info("member list changed", "members", len(members))
}

// rebuildLocked publishes the view for the current members and suspects,
// and starts a handoff pass for it.
func (r *Router) rebuildLocked() {
	live := make([]Member, 0, len(r.members))
	for _, m := range r.members {
		if !r.suspects[m.Address] {
			live = append(live, m)
		}
	}
	r.view.Store(&routeView{self: r.self, placement: newPlacement(live)})
	if r.handoff != nil {
		select {
		case r.handoff <- struct{}{}:
		default: // a pass is already pending; it will see this view
		}
	}
}

// owner picks the member owning key; local is true when it is this node
// (or when no member is known: a node alone serves everything).
func (r *Router) owner(key persistence.ProfileKey) (m Member, local bool) {
	v := r.view.Load()
	m, ok := v.placement.owner(key)
	if !ok {
		return Member{}, r.host != nil
	}
	return m, r.host != nil && m.ID == v.self
}

// Request delivers msg to the owning node and returns its response. A
// request that was not delivered (the owner's address is dead, or it just
// became a suspect) is retried, with capped, jittered backoff, until ctx
// ends; one that was delivered but not answered is not retried (it may
// have been applied): the caller gets UNAVAILABLE and retries with its
// idempotency key.
func (r *Router) Request(ctx context.Context, msg proto.Message) (proto.Message, error) {
	key, err := profile.KeyOf(msg)
	if err != nil {
		return nil, err
	}
	backoff := 20 * time.Millisecond
	for moves := 0; ; {
		owner, local := r.owner(key)
		if local {
			res, err := r.host.Request(ctx, msg)
			var mv *profile.MovedError
			if errors.As(err, &mv) && moves < maxLocalMoves {
				// A handoff turned it away and the view now names another
				// owner: route again (it was not applied).
				moves++
				continue
			}
			return res, err
		}
		if owner.Address == "" {
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "no cluster member is known to serve %s", key)
		}
		if err := r.leaseGate(); err != nil {
			return nil, err
		}
		res, err := r.forward(ctx, owner, msg)
		if _, moved := res.(*hearthv1.Moved); moved && err == nil {
			// The owner's view is newer than ours and names another node:
			// route again once ours catches up (it was not applied).
			err = errSuspect
		}
		switch {
		case err == nil:
			if err := r.leaseGate(); err != nil {
				return nil, err
			}
			return res, nil
		case errors.Is(err, errMemberLeft):
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE,
				"node %s left the cluster or stopped answering while serving %s; the outcome is unknown: retry (with the same idempotency key)", owner.NodeID, key)
		case errors.Is(err, errSuspect):
			// The view changed under us; the next owner is in the new one.
			// Not sent: retried like a dead letter.
		case !errors.Is(err, actor.ErrDeadLetter):
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node %s did not answer for %s in time: %v", owner.NodeID, key, err)
		}
		if err := sleepCtx(ctx, r.cfg.Clock, jitter(backoff)); err != nil {
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "no node could serve %s: %v", key, err)
		}
		backoff = min(2*backoff, time.Second)
	}
}

// maxLocalMoves bounds how often one request follows a local handoff to
// a new owner before the caller gets the (retryable) MovedError: views
// flapping back and forth must not spin.
const maxLocalMoves = 3

var (
	// errMemberLeft: the owner left the membership, or its connection
	// broke, while a request waited.
	errMemberLeft = errors.New("member left")
	// errSuspect: the owner became a suspect before the request was sent.
	errSuspect = errors.New("member suspected")
)

// inFlight registers a request to address: it returns the channel closed
// when the member goes, or errSuspect if it already is a suspect.
func (r *Router) inFlight(address string) (<-chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.suspects[address] {
		return nil, errSuspect
	}
	ch, ok := r.gone[address]
	if !ok {
		ch = make(chan struct{})
		r.gone[address] = ch
	}
	return ch, nil
}

// forward sends msg to owner's router actor with the caller's remaining
// time, and waits for the answer, the owner going (leaving the membership
// or its connection breaking: the answer may never come), or ctx. It
// leaves nothing behind: the reply address is removed when it returns.
func (r *Router) forward(ctx context.Context, owner Member, msg proto.Message) (proto.Message, error) {
	if res, refused := refuseOversized(r.cfg.System, msg); refused { // wirelimits.go
		return res, nil
	}
	gone, err := r.inFlight(owner.Address)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultDeadline(ctx, r.cfg.Clock)
	defer cancel()
	rep := newReply(r.cfg.System)
	defer rep.close()
	r.cfg.System.Root.Send(actor.NewPID(owner.Address, routerName), &actor.MessageEnvelope{
		Header:  timeoutHeader(ctx, r.cfg.Clock),
		Message: msg,
		Sender:  rep.pid,
	})
	select {
	case m := <-rep.ch:
		switch m := m.(type) {
		case *actor.DeadLetterResponse:
			return nil, actor.ErrDeadLetter
		case proto.Message:
			return m, nil
		default:
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node %s answered %T", owner.NodeID, m)
		}
	case <-gone:
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
	gone, err := r.inFlight(owner.Address)
	if err != nil {
		return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node %s stopped answering; watch again", owner.NodeID)
	}
	events := make(chan *hearthv1.WatchEvent, 1024)
	failed := make(chan error, 1)
	target := actor.NewPID(owner.Address, routerName)
	system := r.cfg.System
	pid := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
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
	defer system.Root.Stop(pid) // the owner sees it terminate and stops the feed
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-gone:
			return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node %s left or stopped answering; watch again", owner.NodeID)
		case err := <-failed:
			return err
		case ev := <-events:
			if err := r.leaseGate(); err != nil {
				return err
			}
			if err := fn(ev); err != nil {
				return err
			}
			if ev.GetKind() == hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED {
				return nil
			}
		}
	}
}

// leaseGate refuses to relay anything once this node's lease may have
// lapsed (the Host gates its own answers the same way).
func (r *Router) leaseGate() error {
	if r.cfg.LeaseValid == nil || r.cfg.LeaseValid() {
		return nil
	}
	e := messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "this node's lease may have lapsed; retry on another node")
	e.RetryAfter = 100 * time.Millisecond
	return e
}

// close stops the handoff loop and the probes, and stops following the
// remote's connection events.
func (r *Router) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	close(r.stop)
	if r.handoff != nil {
		close(r.handoff)
		r.handoff = nil
	}
	r.cfg.System.EventStream.Unsubscribe(r.sub)
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

func sleepCtx(ctx context.Context, clock clockwork.Clock, d time.Duration) error {
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.Chan():
		return nil
	}
}

// dialProbe is the default suspect probe: the address accepts a TCP
// connection.
func dialProbe(ctx context.Context, address string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return err
	}
	return c.Close()
}
