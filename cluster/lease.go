package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/persistence"
)

// leaseKeeper renews the node's lease in the store. The lease's end is
// tracked on this node's monotonic clock, counted from before the request
// that granted it was sent, so a slow answer or a skewed wall clock can only
// make the node give up early, never late. If the lease runs out without a
// renewal, lost is closed and the node drains.
type leaseKeeper struct {
	store   persistence.NodeLeases
	node    persistence.NodeInfo
	cfg     config.LeaseConfig
	log     *slog.Logger
	metrics *nodeMetrics

	mu       sync.Mutex
	deadline time.Time // local monotonic end of the lease
	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func startLease(ctx context.Context, store persistence.NodeLeases, node persistence.NodeInfo, cfg config.LeaseConfig, log *slog.Logger, m *nodeMetrics) (*leaseKeeper, error) {
	k := &leaseKeeper{store: store, node: node, cfg: cfg, log: log, metrics: m,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	sent := time.Now()
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
	t := time.NewTicker(k.cfg.Renew)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), k.cfg.Renew)
		l, err := k.store.RenewNode(ctx, k.node.ID, k.cfg.TTL)
		cancel()
		switch {
		case err == nil:
			k.mu.Lock()
			k.deadline = sent.Add(l.TTL())
			k.mu.Unlock()
			k.metrics.leaseRenewals.WithLabelValues("ok").Inc()
		case errors.Is(err, persistence.ErrLeaseExpired):
			k.metrics.leaseRenewals.WithLabelValues("expired").Inc()
			k.markLost()
			return
		default:
			k.metrics.leaseRenewals.WithLabelValues("error").Inc()
			k.log.Warn("lease renewal failed; retrying", "err", err, "left", time.Until(k.end()).Round(time.Millisecond))
			if !k.live() {
				k.markLost()
				return
			}
		}
	}
}

func (k *leaseKeeper) end() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.deadline
}

// live reports whether the lease is still valid by this node's clock.
func (k *leaseKeeper) live() bool { return time.Now().Before(k.end()) }

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
