// Package profile is the profile actor: one activation per loaded profile,
// a thin shell around the pure parts (documents, migrations, sessions) that
// performs the I/O they need: ownership and loading through the store,
// saves through the node's group committer, timers through the injected
// clock. docs/ARCHITECTURE.md shows the message flows.
package profile

import (
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/session"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// phase is where an activation is in its life.
type phase int

const (
	phaseActivating  phase = iota // Started is loading the profile
	phaseActive                   // serving requests
	phasePassivating              // final save in flight; new requests go to the next activation
	phaseFailed                   // activation failed; queued requests get the failure
	phaseFenced                   // another activation owns the profile; nothing more is written
	phaseStopped                  // stop requested
)

// lifecycle tells the Host that this activation stops serving (stopping: new
// requests wait for the next activation) and that it has stopped.
type lifecycle interface {
	stopping()
	stopped()
}

// activation is one loaded profile. All its state is owned by its actor
// goroutine; nothing here is shared.
type activation struct {
	cfg  *Config
	key  persistence.ProfileKey
	ns   Namespace
	life lifecycle
	log  *slog.Logger
	rng  *rand.Rand

	self   *actor.PID
	system *actor.ActorSystem

	phase   phase
	failure error // phaseFailed: what every request is answered with

	epoch        int64
	doc          any
	docBytes     []byte // the encoded doc, or nil when it must be re-encoded
	sizeBound    int64  // an upper bound on len(encoded doc), exact after an encode
	version      int64  // grows by one per applied change
	savedVersion int64  // the version in the newest committed snapshot
	schema       int64
	savedSeq     int64
	lastSave     time.Time
	sess         session.State
	sessGen      uint64 // bumped at every session change that must be saved
	savedSessGen uint64 // sessGen as of the newest committed snapshot
	lastActivity time.Time

	records records
	keys    keyFilter // every idempotency key this profile has recorded (or may have)

	saveNo      uint64 // saves started
	committedNo uint64 // the newest save that committed
	inflight    *inflightSave
	saveAgain   bool
	retryDelay  time.Duration
	waiters     []saveWaiter
	acquirers   []acquireWaiter
	watchers    map[string]*actor.PID

	timers      timers
	passivating *passivation
}

func newActivation(cfg *Config, key persistence.ProfileKey, ns Namespace, life lifecycle) *activation {
	seed := uint64(time.Now().UnixNano())
	return &activation{
		cfg:      cfg,
		key:      key,
		ns:       ns,
		life:     life,
		log:      cfg.Logger.With("profile", key.String()),
		rng:      rand.New(rand.NewPCG(seed, hashKey(key))),
		records:  newRecords(),
		watchers: make(map[string]*actor.PID),
	}
}

// stopNow is sent by an activation to itself when it is done: every request
// queued before it is answered first (FIFO), then the actor stops.
type stopNow struct{}

// Receive is the actor's single entry point.
func (a *activation) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.self, a.system = ctx.Self(), ctx.ActorSystem()
		a.start(ctx)
	case *actor.Stopped:
		a.timers.stopAll()
		a.cfg.Metrics.Loaded.Dec()
		a.life.stopped()
	case *actor.Terminated:
		delete(a.watchers, m.Who.String())
	case stopNow:
		a.phase = phaseStopped
		ctx.Stop(ctx.Self())
	case saveDone:
		a.onSaveDone(ctx, m)
	case timerFired:
		a.onTimer(ctx, m)
	case *actor.Restarting, *actor.Stopping, actor.SystemMessage:
		// lifecycle notifications need nothing more
	default:
		a.serve(ctx)
	}
}

// serve answers a request according to the phase.
func (a *activation) serve(ctx actor.Context) {
	switch a.phase {
	case phaseActive:
	case phaseFailed:
		respondError(ctx, a.failure)
		return
	case phaseFenced:
		respondError(ctx, errorf(codeFenced, "profile %s was taken by another activation; retry to reach it", a.key))
		return
	default:
		if ctx.Sender() != nil {
			ctx.Respond(notServing{reason: "passivating"})
		}
		return
	}
	if _, ok := ctx.Message().(*hearthv1.StatusRequest); !ok {
		a.lastActivity = a.cfg.Clock.Now()
	}
	switch m := ctx.Message().(type) {
	case *hearthv1.AcquireRequest:
		a.onAcquire(ctx, m)
	case *hearthv1.HeartbeatRequest:
		a.onHeartbeat(ctx, m)
	case *hearthv1.ReleaseRequest:
		a.onRelease(ctx, m)
	case *hearthv1.GetRequest:
		a.onGet(ctx, m)
	case *hearthv1.UpdateRequest:
		a.onUpdate(ctx, m)
	case *hearthv1.PurchaseRequest:
		a.onPurchase(ctx, m)
	case *hearthv1.ListPurchasesRequest:
		a.onListPurchases(ctx, m)
	case *hearthv1.SaveRequest:
		a.onSave(ctx, m)
	case *hearthv1.DeleteRequest:
		a.onDelete(ctx, m)
	case *hearthv1.StatusRequest:
		a.onStatus(ctx, m)
	case *hearthv1.ListVersionsRequest:
		a.onListVersions(ctx, m)
	case *hearthv1.GetVersionRequest:
		a.onGetVersion(ctx, m)
	case *hearthv1.RestoreRequest:
		a.onRestore(ctx, m)
	case *hearthv1.WatchRequest:
		a.onWatch(ctx, m)
	case *hearthv1.PassivateRequest:
		a.onPassivate(ctx, m)
	default:
		if ctx.Sender() != nil {
			respondError(ctx, errorf(codeInvalidArgument, "profile actor does not handle %T", m))
		}
	}
}

// respondError answers the current request with err in the response type
// that matches the request.
func respondError(ctx actor.Context, err error) {
	if ctx.Sender() == nil {
		return
	}
	ctx.Respond(errorResponse(ctx.Message(), err))
}

// errorResponse builds the response for req carrying err.
func errorResponse(req any, err error) proto.Message {
	e := protoErr(err)
	switch req.(type) {
	case *hearthv1.AcquireRequest:
		return &hearthv1.AcquireResponse{Error: e}
	case *hearthv1.HeartbeatRequest:
		return &hearthv1.HeartbeatResponse{Error: e}
	case *hearthv1.ReleaseRequest:
		return &hearthv1.ReleaseResponse{Error: e}
	case *hearthv1.GetRequest:
		return &hearthv1.GetResponse{Error: e}
	case *hearthv1.UpdateRequest:
		return &hearthv1.UpdateResponse{Error: e}
	case *hearthv1.PurchaseRequest:
		return &hearthv1.PurchaseResponse{Error: e}
	case *hearthv1.ListPurchasesRequest:
		return &hearthv1.ListPurchasesResponse{Error: e}
	case *hearthv1.SaveRequest:
		return &hearthv1.SaveResponse{Error: e}
	case *hearthv1.DeleteRequest:
		return &hearthv1.DeleteResponse{Error: e}
	case *hearthv1.StatusRequest:
		return &hearthv1.StatusResponse{Error: e}
	case *hearthv1.ListVersionsRequest:
		return &hearthv1.ListVersionsResponse{Error: e}
	case *hearthv1.GetVersionRequest:
		return &hearthv1.GetVersionResponse{Error: e}
	case *hearthv1.RestoreRequest:
		return &hearthv1.RestoreResponse{Error: e}
	case *hearthv1.WatchRequest:
		return &hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED, Error: e}
	case *hearthv1.PassivateRequest:
		return &hearthv1.PassivateResponse{Error: e}
	default:
		return &hearthv1.Error{Code: e.GetCode(), Message: e.GetMessage()}
	}
}

func (a *activation) ref() *hearthv1.ProfileRef {
	return &hearthv1.ProfileRef{Namespace: a.key.Namespace, Id: a.key.ID}
}

// dirty reports whether memory holds changes the store does not.
func (a *activation) dirty() bool { return a.version > a.savedVersion || a.sessGen != a.savedSessGen }

func hashKey(k persistence.ProfileKey) uint64 {
	// Only to decorrelate the jitter of profiles loaded together.
	h := fnv.New64a()
	_, _ = h.Write([]byte(k.String()))
	return h.Sum64()
}
