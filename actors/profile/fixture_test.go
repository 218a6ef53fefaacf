package profile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/groupcommit"
	"github.com/hearth-profiles/hearth/internal/testenv/pgtest"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/localstore"
	"github.com/hearth-profiles/hearth/persistence/sqlstore"
)

// pg is the package's throwaway PostgreSQL (or HEARTH_TEST_DATABASE_URL).
var pg *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }

// wait bounds every wait for something the actor does asynchronously. It is
// a hang guard, not a timing assumption: tests wait for events, never for
// time to pass.
const wait = 20 * time.Second

// storeKind opens one kind of store for a test. Stores judge leases by
// clock: the local stores take the test's fake clock, PostgreSQL uses its own.
type storeKind struct {
	name string
	open func(t *testing.T, clock clockwork.Clock) persistence.Store
	// fakeClock is true when the store's lease clock is the test's clock.
	fakeClock bool
}

func storeKinds() []storeKind {
	return []storeKind{
		{name: "memory", fakeClock: true, open: func(t *testing.T, clock clockwork.Clock) persistence.Store {
			return localstore.OpenMemory(localstore.Options{Clock: clock})
		}},
		{name: "bolt", fakeClock: true, open: func(t *testing.T, clock clockwork.Clock) persistence.Store {
			s, err := localstore.Open(filepath.Join(t.TempDir(), "hearth.db"), localstore.Options{Clock: clock, NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{name: "postgres", open: func(t *testing.T, _ clockwork.Clock) persistence.Store {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := sqlstore.Open(ctx, pg.NewDatabase(t), sqlstore.Options{MaxConns: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
}

// eachStore runs f against every store kind.
func eachStore(t *testing.T, f func(t *testing.T, k storeKind)) {
	for _, k := range storeKinds() {
		t.Run(k.name, func(t *testing.T) { f(t, k) })
	}
}

// faultStore wraps a store so tests can hold saves at a gate, fail them, and
// see them happen.
type faultStore struct {
	persistence.Store
	acquires atomic.Int64 // AcquireBatch calls
	mu       sync.Mutex
	gate     chan struct{} // when non-nil, Save waits for it to close
	fail     error         // when non-nil, Save fails with it without writing
	saves    chan []persistence.SaveRow
	// acquireGate, when non-nil, holds AcquireBatch until it closes;
	// acquiring is signalled as each such call starts.
	acquireGate chan struct{}
	acquiring   chan struct{}
}

func newFaultStore(s persistence.Store) *faultStore {
	return &faultStore{Store: s, saves: make(chan []persistence.SaveRow, 1000)}
}

func (f *faultStore) Save(ctx context.Context, node string, rows []persistence.SaveRow) ([]persistence.SaveResult, error) {
	f.mu.Lock()
	gate, fail := f.gate, f.fail
	f.mu.Unlock()
	f.saves <- rows
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	return f.Store.Save(ctx, node, rows)
}

func (f *faultStore) AcquireBatch(ctx context.Context, node string, reqs []persistence.AcquireRequest) ([]persistence.AcquireResult, error) {
	defer f.acquires.Add(1)
	f.mu.Lock()
	gate, started := f.acquireGate, f.acquiring
	f.mu.Unlock()
	if gate != nil {
		started <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return f.Store.AcquireBatch(ctx, node, reqs)
}

// holdAcquires makes acquisitions wait until the returned gate closes;
// started receives one value as each begins to wait.
func (f *faultStore) holdAcquires() (gate, started chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acquireGate, f.acquiring = make(chan struct{}), make(chan struct{}, 16)
	return f.acquireGate, f.acquiring
}

func (f *faultStore) hold() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
	return f.gate
}

func (f *faultStore) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// nextSave waits for the store to be asked to save.
func (f *faultStore) nextSave(t *testing.T) []persistence.SaveRow {
	t.Helper()
	select {
	case rows := <-f.saves:
		return rows
	case <-time.After(wait):
		t.Fatal("no save reached the store")
		return nil
	}
}

// node is one Host with its own node id, committer and metrics.
type node struct {
	id        string
	committer *groupcommit.Committer
	host      *Host
	metrics   *Metrics
	reg       *prometheus.Registry
}

// fixture is a test's actor system, clock and store.
type fixture struct {
	t      *testing.T
	clock  *clockwork.FakeClock
	store  *faultStore
	system *actor.ActorSystem
	kind   storeKind
}

func newFixture(t *testing.T, k storeKind) *fixture {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	f := &fixture{t: t, clock: clock, kind: k, system: newQuietSystem()}
	f.store = newFaultStore(k.open(t, clock))
	t.Cleanup(f.system.Shutdown)
	return f
}

// node registers a node incarnation and starts a Host for it.
func (f *fixture) node(id string, mutate func(*Config)) *node {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.store.RegisterNode(ctx, persistence.NodeInfo{ID: id}, time.Hour); err != nil {
		f.t.Fatal(err)
	}
	committer := groupcommit.New(f.store, f.store.Limits(), id, groupcommit.Options{})
	f.t.Cleanup(committer.Close)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	var tokens atomic.Int64
	cfg := Config{
		NodeID:                 id,
		Store:                  f.store,
		Committer:              committer,
		AllowUnknownNamespaces: true,
		Clock:                  f.clock,
		Metrics:                m,
		NewToken: func() string {
			return fmt.Sprintf("%s-token-%d", id, tokens.Add(1))
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := NewHost(f.system, cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return &node{id: id, committer: committer, host: h, metrics: m, reg: reg}
}

// ref names a test profile.
func ref(id string) *hearthv1.ProfileRef { return &hearthv1.ProfileRef{Namespace: "game", Id: id} }

// call sends a request and returns the typed response.
func call[R proto.Message](t *testing.T, n *node, req proto.Message) R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := n.host.Request(ctx, req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	out, ok := res.(R)
	if !ok {
		t.Fatalf("%T answered %T", req, res)
	}
	return out
}

// async sends a request in the background; the channel yields its response.
func async(n *node, req proto.Message) <-chan proto.Message {
	ch := make(chan proto.Message, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		res, err := n.host.Request(ctx, req)
		if err != nil {
			res = &hearthv1.Error{Code: hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: err.Error()}
		}
		ch <- res
	}()
	return ch
}

func receive[R proto.Message](t *testing.T, ch <-chan proto.Message) R {
	t.Helper()
	select {
	case res := <-ch:
		out, ok := res.(R)
		if !ok {
			t.Fatalf("answered %T: %v", res, res)
		}
		return out
	case <-time.After(wait):
		t.Fatal("no answer")
		panic("unreachable")
	}
}

// codeOf returns a response's error code.
func codeOf(res interface{ GetError() *hearthv1.Error }) hearthv1.ErrorCode {
	return res.GetError().GetCode()
}

func mustOK(t *testing.T, res interface{ GetError() *hearthv1.Error }) {
	t.Helper()
	if e := res.GetError(); e != nil {
		t.Fatalf("unexpected error: %v: %s", e.GetCode(), e.GetMessage())
	}
}

func op(kind hearthv1.OperationKind, path, value string) *hearthv1.Operation {
	return &hearthv1.Operation{Kind: kind, Path: path, Value: value}
}

func incr(path string, by string) *hearthv1.Operation {
	return op(hearthv1.OperationKind_OPERATION_KIND_INCREMENT, path, by)
}

func set(path, value string) *hearthv1.Operation {
	return op(hearthv1.OperationKind_OPERATION_KIND_SET, path, value)
}

// watcher collects a profile's watch events.
type watcher struct {
	events chan *hearthv1.WatchEvent
}

// watch follows a profile's events through Host.Watch until the test ends.
func (f *fixture) watch(t *testing.T, n *node, r *hearthv1.ProfileRef) *watcher {
	t.Helper()
	w := &watcher{events: make(chan *hearthv1.WatchEvent, 100)}
	started := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		_ = n.host.Watch(ctx, r, func(ev *hearthv1.WatchEvent) error {
			if ev.GetKind() == hearthv1.WatchEventKind_WATCH_EVENT_KIND_WATCH_STARTED {
				once.Do(func() { close(started) })
				return nil
			}
			w.events <- ev
			return nil
		})
	}()
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("watch did not start")
	}
	return w
}

// next waits for the next event of kind, skipping others.
func (w *watcher) next(t *testing.T, kind hearthv1.WatchEventKind) *hearthv1.WatchEvent {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev := <-w.events:
			if ev.GetKind() == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %v event", kind)
		}
	}
}

func mustKey(t *testing.T, r *hearthv1.ProfileRef) persistence.ProfileKey {
	t.Helper()
	k, err := KeyOf(&hearthv1.GetRequest{Profile: r})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// stopped waits until the profile has no activation on n.
func (n *node) stopped(t *testing.T, r *hearthv1.ProfileRef) {
	t.Helper()
	n.host.mu.Lock()
	e := n.host.entries[mustKey(t, r)]
	n.host.mu.Unlock()
	if e == nil {
		return
	}
	select {
	case <-e.done:
	case <-time.After(wait):
		t.Fatal("activation did not stop")
	}
}

var errStoreDown = errors.New("store is down (test)")

// until polls cond (yielding the processor, not sleeping for a set time)
// until it holds; the bound is a hang guard.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		runtime.Gosched()
	}
}

// waitingAcquires is the profile's queue of wait-mode acquires.
func waitingAcquires(t *testing.T, n *node, r *hearthv1.ProfileRef) int {
	return int(call[*hearthv1.StatusResponse](t, n, &hearthv1.StatusRequest{Profile: r}).GetWaitingAcquires())
}

// newQuietSystem is an actor system that logs nowhere (protoactor logs its
// start to stdout, which garbles benchmark output).
func newQuietSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
}

// Shorthands for the codes the tests expect.
const (
	codeNotFound        = hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND
	codeSessionConflict = hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT
	codeStaleSession    = hearthv1.ErrorCode_ERROR_CODE_STALE_SESSION
	codeInvalidPath     = hearthv1.ErrorCode_ERROR_CODE_INVALID_PATH
	codeTypeMismatch    = hearthv1.ErrorCode_ERROR_CODE_TYPE_MISMATCH
	codeTooLarge        = hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE
	codeVersionConflict = hearthv1.ErrorCode_ERROR_CODE_VERSION_CONFLICT
	codeFenced          = hearthv1.ErrorCode_ERROR_CODE_FENCED
	codeUnavailable     = hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE
	codeInvalidArgument = hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT
	codeSchemaTooNew    = hearthv1.ErrorCode_ERROR_CODE_SCHEMA_TOO_NEW
	codeOutOfRange      = hearthv1.ErrorCode_ERROR_CODE_OUT_OF_RANGE
)
