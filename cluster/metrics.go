package cluster

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// nodeMetrics are the node-level metrics (the profile and gateway packages
// register their own on the same registry).
type nodeMetrics struct {
	batchRows      prometheus.Histogram
	batchSeconds   prometheus.Histogram
	batchErrors    prometheus.Counter
	leaseRenewals  *prometheus.CounterVec
	drainRemaining prometheus.Gauge
	draining       prometheus.Gauge
	members        prometheus.Gauge
	memberChanges  prometheus.Counter
}

func newNodeMetrics(reg prometheus.Registerer) *nodeMetrics {
	m := &nodeMetrics{
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hearth_save_batch_rows", Help: "Rows per group-committed save transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hearth_save_batch_seconds", Help: "Duration of group-committed save transactions.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		batchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hearth_save_batch_errors_total", Help: "Save transactions that failed (nothing written).",
		}),
		leaseRenewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_node_lease_renewals_total", Help: "Node lease renewals by result (ok, error, expired).",
		}, []string{"result"}),
		drainRemaining: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_drain_remaining_profiles", Help: "Profiles still loaded during a drain.",
		}),
		draining: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_node_draining", Help: "1 while the node drains (from the signal until it exits).",
		}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_cluster_members", Help: "Members in this node's view of the cluster (Consul's passing instances).",
		}),
		memberChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hearth_cluster_membership_changes_total", Help: "Changes of this node's member list.",
		}),
	}
	// Counters start at zero for every label value, so a rate or an
	// increase sees the first event.
	for _, r := range []string{"ok", "error", "expired"} {
		m.leaseRenewals.WithLabelValues(r)
	}
	reg.MustRegister(m.batchRows, m.batchSeconds, m.batchErrors, m.leaseRenewals, m.drainRemaining,
		m.draining, m.members, m.memberChanges)
	return m
}

// registerNodeState exports the node's lease and readiness as they are
// when scraped.
func registerNodeState(reg prometheus.Registerer, leaseRemaining func() time.Duration, ready func() bool) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hearth_node_lease_remaining_seconds",
			Help: "Time left on the node's lease by its own monotonic clock (it acknowledges nothing within lease.safety_margin of 0).",
		}, func() float64 { return leaseRemaining().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hearth_node_ready", Help: "1 when /readyz answers ready.",
		}, func() float64 {
			if ready() {
				return 1
			}
			return 0
		}),
	)
}

func (m *nodeMetrics) observeBatch(rows int, took time.Duration, err error) {
	m.batchRows.Observe(float64(rows))
	m.batchSeconds.Observe(took.Seconds())
	if err != nil {
		m.batchErrors.Inc()
	}
}
