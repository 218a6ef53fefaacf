package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/persistence"
)

// leaseKeeper renews the node's lease in the store and says whether the
// node may still acknowledge anything.
//
// The lease's end is kept on this node's monotonic clock, counted from
// before the request that granted it was sent: the store grants "TTL from
// its now()", and its now() came after our send, so sent+TTL is never later
// than the store's expiry (bar clock-rate drift). A slow answer or a skewed
// wall clock can only make the node give up early, never late.
//
// Valid is false once less than the safety margin is left: from then on
// the node acknowledges nothing (profile.Config.LeaseValid), and /readyz
// fails. lost closes, and the node drains, when the store refuses a renewal
// (the lease lapsed by the store's clock: another node may own this node's
// profiles) or when the end itself passes without a renewal.
type leaseKeeper struct {
	store   persistence.NodeLeases
	node    persistence.NodeInfo
	cfg     config.LeaseConfig
	clock   clockwork.Clock
	log     *slog.Logger
	metrics *nodeMetrics

	mu       sync.Mutex
	deadline time.Time // local monotonic end of the lease
	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func startLease(ctx context.Context, store persistence.NodeLeases, node persistence.NodeInfo, cfg config.LeaseConfig,
	clock clockwork.Clock, log *slog.Logger, m *nodeMetrics) (*leaseKeeper, error) {
	k := &leaseKeeper{store: store, node: node, cfg: cfg, clock: clock, log: log, metrics: m,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	sent := clock.Now()
	l, err := store.RegisterNode(ctx, node, cfg.TTL)
	if err != nil {
		return nil, err
	}
	k.deadline = sent.Add(l.TTL())
	go k.run()
	return k, nil
}

func (k *leaseKeeper) run() {
	defer close(k.done)
	// release does not wait for a renewal the store never answers.
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-k.stop:
			cancel()
		case <-base.Done():
		}
	}()
	tick := k.clock.NewTicker(k.cfg.Renew)
	defer tick.Stop()
	// expiry fires at the lease's end; a renewal moves it.
	expiry := k.clock.NewTimer(k.clock.Until(k.end()))
	defer expiry.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-expiry.Chan():
			if !k.live() {
				k.log.Error("node lease ran out without a renewal", "ttl", k.cfg.TTL)
				k.markLost()
				return
			}
			expiry.Reset(k.clock.Until(k.end()))
		case <-tick.Chan():
			if !k.renew(base) {
				return
			}
			expiry.Reset(k.clock.Until(k.end()))
		}
	}
}

// renew asks the store for a new lease once; false means the lease is lost.
func (k *leaseKeeper) renew(base context.Context) bool {
	sent := k.clock.Now()
	// Never wait past the lease's end: a renewal answered later is of no use.
	left := k.clock.Until(k.end())
	if left <= 0 {
		k.markLost()
		return false
	}
	ctx, cancel := clockwork.WithTimeout(base, k.clock, min(k.cfg.Renew, left))
	l, err := k.store.RenewNode(ctx, k.node.ID, k.cfg.TTL)
	cancel()
	switch {
	case err == nil:
		k.mu.Lock()
		k.deadline = sent.Add(l.TTL())
		k.mu.Unlock()
		k.metrics.leaseRenewals.WithLabelValues("ok").Inc()
		return true
	case errors.Is(err, persistence.ErrLeaseExpired):
		k.metrics.leaseRenewals.WithLabelValues("expired").Inc()
		k.log.Error("the store refused to renew the node lease: it lapsed", "err", err)
		k.markLost()
		return false
	case base.Err() != nil:
		return false // released
	default:
		k.metrics.leaseRenewals.WithLabelValues("error").Inc()
		k.log.Warn("lease renewal failed; retrying", "err", err, "left", k.clock.Until(k.end()).Round(time.Millisecond))
		if !k.live() {
			k.markLost()
			return false
		}
		return true
	}
}

func (k *leaseKeeper) end() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.deadline
}

// live reports whether the lease may still be valid by this node's clock.
func (k *leaseKeeper) live() bool { return k.clock.Now().Before(k.end()) }

// Valid reports whether the node may acknowledge: the lease has more than
// the safety margin left by this node's monotonic clock, and it was never
// lost. Every reply leaving the node checks it (profile.Config.LeaseValid).
func (k *leaseKeeper) Valid() bool {
	select {
	case <-k.lost:
		return false
	default:
	}
	return k.clock.Now().Before(k.end().Add(-k.cfg.SafetyMargin))
}

// remaining is the time left on the lease by this node's clock.
func (k *leaseKeeper) remaining() time.Duration { return k.end().Sub(k.clock.Now()) }

func (k *leaseKeeper) markLost() {
	k.lostOnce.Do(func() { close(k.lost) })
}

// release stops renewing and ends the incarnation in the store, so its
// profiles (all released by the drain) can be taken at once.
func (k *leaseKeeper) release() error {
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	<-k.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return k.store.ReleaseNode(ctx, k.node.ID)
}
