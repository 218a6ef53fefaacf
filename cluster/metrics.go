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
	}
	reg.MustRegister(m.batchRows, m.batchSeconds, m.batchErrors, m.leaseRenewals, m.drainRemaining)
	return m
}

func (m *nodeMetrics) observeBatch(rows int, took time.Duration, err error) {
	m.batchRows.Observe(float64(rows))
	m.batchSeconds.Observe(took.Seconds())
	if err != nil {
		m.batchErrors.Inc()
	}
}
