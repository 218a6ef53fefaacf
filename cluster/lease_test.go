package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/persistence"
)

// fakeLeases is a NodeLeases whose clock is the test's fake clock. Each
// renewal is answered by the test's answer function, which may first move
// the clock (a slow round trip).
type fakeLeases struct {
	clock *clockwork.FakeClock
	mu    sync.Mutex
	// answer decides a renewal: how long the round trip takes before the
	// store evaluates it (there), how long after that before the answer
	// arrives (back), and the lease or error.
	answer   func(ttl time.Duration) (there, back time.Duration, err error)
	renewals int
	released bool
	// grant, if set, is the lease the store grants at registration
	// instead of the TTL asked for.
	grant time.Duration
}

func (f *fakeLeases) RegisterNode(_ context.Context, _ persistence.NodeInfo, ttl time.Duration) (persistence.Lease, error) {
	now := f.clock.Now()
	if f.grant > 0 {
		ttl = f.grant
	}
	return persistence.Lease{NodeID: "n", ExpiresAt: now.Add(ttl), Now: now}, nil
}

func (f *fakeLeases) RenewNode(ctx context.Context, _ string, ttl time.Duration) (persistence.Lease, error) {
	f.mu.Lock()
	f.renewals++
	answer := f.answer
	f.mu.Unlock()
	there, back, err := answer(ttl)
	if errors.Is(err, errHang) {
		<-ctx.Done()
		return persistence.Lease{}, ctx.Err()
	}
	f.clock.Advance(there)
	now := f.clock.Now() // the store's now(), when it grants
	f.clock.Advance(back)
	if err != nil {
		return persistence.Lease{}, err
	}
	return persistence.Lease{NodeID: "n", ExpiresAt: now.Add(ttl), Now: now}, nil
}

func (f *fakeLeases) ReleaseNode(context.Context, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = true
	return nil
}

func (f *fakeLeases) setAnswer(a func(ttl time.Duration) (there, back time.Duration, err error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = a
}

func (f *fakeLeases) renewCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renewals
}

var (
	errStoreDown = errors.New("store unreachable")
	// errHang makes a renewal wait until its context ends.
	errHang = errors.New("hang")
)

// leaseFixture runs a lease keeper on a fake clock: TTL 5 s, renewal every
// 1 s, safety margin 1 s.
type leaseFixture struct {
	t      *testing.T
	clock  *clockwork.FakeClock
	store  *fakeLeases
	k      *leaseKeeper
	m      *nodeMetrics
	start  time.Time
	cfg    config.LeaseConfig
	counts float64
}

func newLeaseFixture(t *testing.T) *leaseFixture {
	t.Helper()
	return newLeaseFixtureGranting(t, 0)
}

// newLeaseFixtureGranting: the store grants grant at registration (0: the
// TTL asked for).
func newLeaseFixtureGranting(t *testing.T, grant time.Duration) *leaseFixture {
	t.Helper()
	clock := clockwork.NewFakeClock()
	store := &fakeLeases{clock: clock, grant: grant}
	store.setAnswer(func(time.Duration) (time.Duration, time.Duration, error) { return 0, 0, nil })
	f := &leaseFixture{t: t, clock: clock, store: store, m: newNodeMetrics(prometheus.NewRegistry()),
		cfg: config.LeaseConfig{TTL: 5 * time.Second, Renew: time.Second, SafetyMargin: time.Second}}
	f.start = clock.Now()
	k, err := startLease(context.Background(), store, persistence.NodeInfo{ID: "n"}, f.cfg, clock, slog.New(slog.DiscardHandler), f.m)
	if err != nil {
		t.Fatal(err)
	}
	f.k = k
	t.Cleanup(func() { _ = k.release() })
	f.waitIdle()
	return f
}

// renewalsDone counts renewal attempts whose outcome the keeper recorded.
func (f *leaseFixture) renewalsDone() float64 {
	var n float64
	for _, r := range []string{"ok", "error", "expired"} {
		n += testutil.ToFloat64(f.m.leaseRenewals.WithLabelValues(r))
	}
	return n
}

// waitIdle waits until the keeper waits on its ticker and expiry timer.
func (f *leaseFixture) waitIdle() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.clock.BlockUntilContext(ctx, 2); err != nil {
		f.t.Fatal("lease keeper never waited on its timers")
	}
}

// tick moves the clock to the next renewal and waits for its outcome to
// be recorded (polling a counter with a deadline; nothing sleeps for
// timing).
func (f *leaseFixture) tick() {
	f.t.Helper()
	before := f.renewalsDone()
	f.clock.Advance(f.cfg.Renew)
	deadline := time.Now().Add(10 * time.Second)
	for f.renewalsDone() == before {
		select {
		case <-f.k.lost:
			return
		default:
		}
		if time.Now().After(deadline) {
			f.t.Fatal("no renewal after a renewal interval")
		}
		time.Sleep(time.Millisecond)
	}
}

// at is the fake time relative to the keeper's start.
func (f *leaseFixture) at() time.Duration { return f.clock.Since(f.start) }

func (f *leaseFixture) lost() bool {
	select {
	case <-f.k.lost:
		return true
	default:
		return false
	}
}

func (f *leaseFixture) waitLost() {
	f.t.Helper()
	select {
	case <-f.k.lost:
	case <-time.After(10 * time.Second):
		f.t.Fatalf("lease not lost at %v", f.at())
	}
}

// TestLeaseRenewsEveryInterval: one renewal per lease.renew, none between;
// each success moves the end of the lease, so it stays valid for good.
func TestLeaseRenewsEveryInterval(t *testing.T) {
	f := newLeaseFixture(t)
	f.clock.Advance(f.cfg.Renew - time.Nanosecond)
	if n := f.store.renewCount(); n != 0 {
		t.Fatalf("renewed %d times before the interval", n)
	}
	f.clock.Advance(time.Nanosecond)
	for i := 1; i <= 20; i++ {
		if i > 1 {
			f.tick()
		} else {
			f.waitRenewals(1)
		}
		if got := testutil.ToFloat64(f.m.leaseRenewals.WithLabelValues("ok")); got != float64(i) {
			t.Fatalf("after %v: %v successful renewals, want %d", f.at(), got, i)
		}
		if !f.k.Valid() || f.lost() {
			t.Fatalf("lease not valid at %v although every renewal succeeded", f.at())
		}
	}
	if got := f.k.end().Sub(f.start); got != 20*time.Second+f.cfg.TTL {
		t.Fatalf("lease ends %v after start, want the last renewal's send time plus TTL (%v)", got, 20*time.Second+f.cfg.TTL)
	}
}

func (f *leaseFixture) waitRenewals(n float64) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.renewalsDone() < n {
		if time.Now().After(deadline) {
			f.t.Fatalf("%v renewals recorded, want %v", f.renewalsDone(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLeaseDeadlineCountsFromBeforeTheRequest: a renewal sent at 1 s that
// the store grants at 1.3 s and whose answer arrives at 1.7 s gives a lease
// ending, by the node's clock, at 1 s + TTL = 6 s: never later, whatever the
// answer's delay. With a 1 s margin the node stops acknowledging at exactly
// 5 s and gives the lease up at exactly 6 s. Counting from the answer, or
// believing the lease longer than the store's, fails here.
func TestLeaseDeadlineCountsFromBeforeTheRequest(t *testing.T) {
	f := newLeaseFixture(t)
	f.store.setAnswer(func(time.Duration) (time.Duration, time.Duration, error) {
		return 300 * time.Millisecond, 400 * time.Millisecond, nil
	})
	f.tick() // sent at 1 s, answered at 1.7 s
	if f.at() != 1700*time.Millisecond {
		t.Fatalf("renewal answered at %v", f.at())
	}
	// Every later renewal fails: the lease must end where the last one put it.
	f.store.setAnswer(func(time.Duration) (time.Duration, time.Duration, error) { return 0, 0, errStoreDown })
	f.waitIdle()
	for _, step := range []struct {
		to          time.Duration
		valid, lost bool
	}{
		{to: 2 * time.Second, valid: true},
		{to: 5*time.Second - time.Nanosecond, valid: true},
		{to: 5 * time.Second, valid: false},                              // sent + TTL - margin
		{to: 6*time.Second - time.Nanosecond, valid: false, lost: false}, // not lost before its end
		{to: 6 * time.Second, valid: false, lost: true},                  // sent + TTL
	} {
		f.advanceTo(step.to)
		if step.lost {
			f.waitLost()
		}
		if got := f.k.Valid(); got != step.valid {
			t.Fatalf("at %v: Valid() = %v, want %v (lease granted for %v from a request sent at 1s)", f.at(), got, step.valid, f.cfg.TTL)
		}
		if got := f.lost(); got != step.lost {
			t.Fatalf("at %v: lost = %v, want %v", f.at(), got, step.lost)
		}
	}
}

// advanceTo moves the clock to start+to, one renewal interval at a time,
// waiting for each renewal's outcome.
func (f *leaseFixture) advanceTo(to time.Duration) {
	f.t.Helper()
	for f.at() < to && !f.lost() {
		next := (f.at()/f.cfg.Renew + 1) * f.cfg.Renew
		if next > to {
			f.clock.Advance(to - f.at())
			return
		}
		before := f.renewalsDone()
		f.clock.Advance(next - f.at())
		deadline := time.Now().Add(10 * time.Second)
		for f.renewalsDone() == before && !f.lost() {
			if time.Now().After(deadline) {
				f.t.Fatalf("no renewal at %v", f.at())
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestLeaseLapsesAfterFailedRenewals: with the store unreachable from the
// start, the node stops acknowledging at the granted lease less the margin
// and gives the lease up at its end, counted from before its registration
// was sent. The store granted 4.5 s (its TTL governs, not the one the node
// asked for), so the end falls between two renewal ticks: the lease's own
// timer, not the next tick, must notice it.
func TestLeaseLapsesAfterFailedRenewals(t *testing.T) {
	f := newLeaseFixtureGranting(t, 4500*time.Millisecond)
	f.store.setAnswer(func(time.Duration) (time.Duration, time.Duration, error) { return 0, 0, errStoreDown })
	f.advanceTo(3500*time.Millisecond - time.Nanosecond)
	if !f.k.Valid() || f.lost() {
		t.Fatalf("at %v: valid %v lost %v", f.at(), f.k.Valid(), f.lost())
	}
	f.advanceTo(3500 * time.Millisecond)
	if f.k.Valid() {
		t.Fatalf("at %v (granted lease - margin): still valid", f.at())
	}
	f.advanceTo(4500*time.Millisecond - time.Nanosecond)
	if f.lost() {
		t.Fatalf("lost at %v, before the lease's end", f.at())
	}
	f.advanceTo(4500 * time.Millisecond)
	f.waitLost()
	if got := testutil.ToFloat64(f.m.leaseRenewals.WithLabelValues("error")); got != 4 {
		t.Fatalf("%v failed renewals recorded, want 4 (at 1, 2, 3 and 4 s)", got)
	}
}

// TestLeaseExpiredIsLostAtOnce: the store saying the lease lapsed (a pause
// longer than the lease) ends it at once, however much the node's clock
// thinks is left.
func TestLeaseExpiredIsLostAtOnce(t *testing.T) {
	f := newLeaseFixture(t)
	f.store.setAnswer(func(time.Duration) (time.Duration, time.Duration, error) {
		return 0, 0, fmt.Errorf("renew: %w", persistence.ErrLeaseExpired)
	})
	f.tick()
	f.waitLost()
	if f.k.Valid() {
		t.Fatal("valid after the store refused the renewal")
	}
	if f.at() != time.Second {
		t.Fatalf("lost at %v, want at the refused renewal (1s)", f.at())
	}
}

// TestLeaseHungRenewalIsAbandonedAtTheEnd: a renewal the store never
// answers is given up when the lease ends, and the node is lost then, not
// whenever the store answers.
func TestLeaseHungRenewalIsAbandonedAtTheEnd(t *testing.T) {
	f := newLeaseFixture(t)
	f.store.setAnswer(func(time.Duration) (time.Duration, time.Duration, error) { return 0, 0, errStoreDown })
	f.advanceTo(3 * time.Second)
	f.store.setAnswer(func(time.Duration) (time.Duration, time.Duration, error) { return 0, 0, errHang })
	f.clock.Advance(time.Second) // the renewal at 4 s hangs
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// ticker, lease end, and the hung renewal's deadline
	if err := f.clock.BlockUntilContext(ctx, 3); err != nil {
		t.Fatal("the renewal at 4s got no deadline")
	}
	f.clock.Advance(time.Second - time.Nanosecond)
	if f.lost() {
		t.Fatalf("lost at %v, before the lease's end", f.at())
	}
	f.clock.Advance(time.Nanosecond)
	f.waitLost()
	if n := f.store.renewCount(); n != 4 {
		t.Fatalf("%d renewals sent, want 4", n)
	}
}
