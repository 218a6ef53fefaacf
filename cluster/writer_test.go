package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/consul/api"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

// writer increments counters on profiles through a rotating set of
// gateways. Every increment carries its own idempotency key and is retried
// with it until acknowledged, so after a planned move the counter must
// equal the acknowledged increments exactly: more is a double apply, fewer
// a lost write. A third of the increments are durable; after a crash the
// counter may lose memory-lane increments but never fall below the durable
// ones. It also checks that no version is acknowledged twice for a profile:
// a new owner that read a stale snapshot would hand out used versions again.
type writer struct {
	t        *testing.T
	profiles int
	acked    []atomic.Int64 // acknowledged increments per profile
	durable  []atomic.Int64 // of which durable
	verMu    sync.Mutex
	seen     []map[int64]bool
	errs     chan error
	stop     chan struct{}
	done     sync.WaitGroup
	mu       sync.Mutex
	clients  []hearthv1connect.ProfileServiceClient
	retries  atomic.Int64
	// maxVersion is the highest version acknowledged per profile.
	maxVersion []atomic.Int64
}

func newWriter(t *testing.T, profiles int) *writer {
	w := &writer{t: t, profiles: profiles, acked: make([]atomic.Int64, profiles), durable: make([]atomic.Int64, profiles),
		seen: make([]map[int64]bool, profiles), errs: make(chan error, 100), stop: make(chan struct{}),
		maxVersion: make([]atomic.Int64, profiles)}
	for i := range w.seen {
		w.seen[i] = map[int64]bool{}
	}
	return w
}

func (w *writer) setClients(cs ...hearthv1connect.ProfileServiceClient) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.clients = cs
}

func (w *writer) client(i int) hearthv1connect.ProfileServiceClient {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.clients[i%len(w.clients)]
}

func profileRef(i int) *hearthv1.ProfileRef {
	return &hearthv1.ProfileRef{Namespace: "game", Id: fmt.Sprint("player-", i)}
}

func (w *writer) start(workers int) {
	var seq atomic.Int64
	for g := range workers {
		w.done.Add(1)
		go func() {
			defer w.done.Done()
			for i := g; ; i += workers {
				select {
				case <-w.stop:
					return
				default:
				}
				if err := w.one(i, fmt.Sprint("inc-", seq.Add(1))); err != nil {
					w.errs <- err
					return
				}
			}
		}()
	}
}

func (w *writer) one(i int, key string) error {
	p := i % w.profiles
	d := hearthv1.Durability_DURABILITY_MEMORY
	if i%3 == 0 {
		d = hearthv1.Durability_DURABILITY_DURABLE
	}
	req := &hearthv1.UpdateRequest{Profile: profileRef(p), IdempotencyKey: key, Durability: d,
		Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: "/n", Value: "1"}}}
	backoff := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := w.client(i+attempt).Update(ctx, connect.NewRequest(req))
		cancel()
		if err == nil && res.Msg.GetError() == nil {
			w.acked[p].Add(1)
			if d == hearthv1.Durability_DURABILITY_DURABLE {
				w.durable[p].Add(1)
			}
			// A version acknowledged once never names another state, not
			// even after a crash lost memory-lane writes: the new owner
			// continues above every version the old one can have issued.
			if v := res.Msg.GetVersion(); !res.Msg.GetDuplicate() {
				w.verMu.Lock()
				dup := w.seen[p][v]
				w.seen[p][v] = true
				w.verMu.Unlock()
				if dup {
					return fmt.Errorf("profile %d: version %d acknowledged twice", p, v)
				}
				for m := w.maxVersion[p].Load(); v > m && !w.maxVersion[p].CompareAndSwap(m, v); m = w.maxVersion[p].Load() {
				}
			}
			return nil
		}
		if err == nil {
			err = messages.Err(res.Msg.GetError())
		}
		retry := errors.Is(err, messages.ErrUnavailable) || errors.Is(err, messages.ErrFenced) ||
			connect.CodeOf(err) == connect.CodeUnavailable
		if !retry || attempt > 400 {
			return fmt.Errorf("profile %d attempt %d: %v", p, attempt, err)
		}
		w.retries.Add(1)
		time.Sleep(backoff) // the client's backoff between retries
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// versionsAfter checks that every profile's version now is above every
// version acknowledged before (maxBefore): versions never go backwards,
// even for profiles whose unsaved memory-lane writes a crash lost.
func (w *writer) versionsAfter(t *testing.T, c hearthv1connect.ProfileServiceClient, maxBefore []int64) {
	t.Helper()
	for p := range w.profiles {
		res, err := c.Get(context.Background(), connect.NewRequest(&hearthv1.GetRequest{Profile: profileRef(p)}))
		if err != nil {
			t.Fatalf("profile %d: %v", p, err)
		}
		if v := res.Msg.GetVersion(); v <= maxBefore[p] {
			t.Fatalf("profile %d is at version %d after the crash; version %d was acknowledged before it", p, v, maxBefore[p])
		}
	}
}

// maxVersions is the highest version acknowledged per profile so far.
func (w *writer) maxVersions() []int64 {
	out := make([]int64, w.profiles)
	for i := range out {
		out[i] = w.maxVersion[i].Load()
	}
	return out
}

func (w *writer) total() int64 {
	var n int64
	for i := range w.acked {
		n += w.acked[i].Load()
	}
	return n
}

func (w *writer) snapshot() []int64 {
	out := make([]int64, w.profiles)
	for i := range out {
		out[i] = w.acked[i].Load()
	}
	return out
}

func (w *writer) waitAcked(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for w.total() < n {
		select {
		case err := <-w.errs:
			t.Fatal(err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d writes acknowledged", w.total(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (w *writer) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	w.done.Wait()
	select {
	case err := <-w.errs:
		t.Fatal(err)
	default:
	}
}

func (w *writer) counter(t *testing.T, c hearthv1connect.ProfileServiceClient, p int) int64 {
	t.Helper()
	res, err := c.Get(context.Background(), connect.NewRequest(&hearthv1.GetRequest{Profile: profileRef(p), Path: "/n"}))
	if err != nil || res.Msg.GetError() != nil {
		t.Fatalf("profile %d: %v %v", p, err, res)
	}
	n, err := strconv.ParseInt(res.Msg.GetValue(), 10, 64)
	if err != nil {
		t.Fatalf("profile %d: counter %q", p, res.Msg.GetValue())
	}
	return n
}

// verifyExact: after planned moves every acknowledged increment is there,
// exactly once.
func (w *writer) verifyExact(t *testing.T, c hearthv1connect.ProfileServiceClient) {
	t.Helper()
	for p := range w.profiles {
		if got, want := w.counter(t, c, p), w.acked[p].Load(); got != want {
			t.Fatalf("profile %d: counter %d, acknowledged %d", p, got, want)
		}
	}
	t.Logf("%d acknowledged increments on %d profiles, %d client retries: all present exactly once", w.total(), w.profiles, w.retries.Load())
}

// verifyDurable: after a crash, no durable increment is lost and nothing
// applied more often than acknowledged.
func (w *writer) verifyDurable(t *testing.T, c hearthv1connect.ProfileServiceClient) {
	t.Helper()
	var lost int64
	for p := range w.profiles {
		got := w.counter(t, c, p)
		if got < w.durable[p].Load() || got > w.acked[p].Load() {
			t.Fatalf("profile %d: counter %d, durable acks %d, all acks %d", p, got, w.durable[p].Load(), w.acked[p].Load())
		}
		lost += w.acked[p].Load() - got
	}
	t.Logf("%d acknowledged increments; %d memory-lane increments lost with the crashed node, no durable one", w.total(), lost)
}

func consulClient(t testing.TB) *api.Client {
	c, err := api.NewClient(&api.Config{Address: consul.HTTPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
