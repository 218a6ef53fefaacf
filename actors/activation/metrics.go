package activation

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the profile activations' Prometheus metrics. They are created
// per node and registered with the Registerer given to NewMetrics, never with
// the global default registry, so tests and embedded nodes stay separate.
type Metrics struct {
	Loaded        prometheus.Gauge
	Activations   *prometheus.CounterVec // result: ok, held_timeout, schema_too_new, failed
	Passivations  *prometheus.CounterVec // reason: idle, release, drain, deleted, fenced, ...
	Fenced        prometheus.Counter
	Updates       *prometheus.CounterVec // durability: memory, durable
	Duplicates    prometheus.Counter
	UpdateErrors  *prometheus.CounterVec // code
	Saves         *prometheus.CounterVec // outcome: saved, fenced, gone, superseded, error
	DurableWait   prometheus.Histogram   // seconds from apply to commit for durable updates
	SessionEvents *prometheus.CounterVec // event: granted, reused, stolen, conflict, released, lapsed
	HandoffWait   prometheus.Histogram   // seconds an activation waited for the previous owner node
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, for tests that do not read them).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_profiles_loaded", Help: "Profile activations currently loaded on this node.",
		}),
		Activations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_profile_activations_total", Help: "Profile activations by result.",
		}, []string{"result"}),
		Passivations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_profile_passivations_total", Help: "Profile activations stopped, by reason.",
		}, []string{"reason"}),
		Fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hearth_profile_fenced_total",
			Help: "Activations that found another activation had taken their profile (a stale write was refused by the store).",
		}),
		Updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_profile_updates_total", Help: "Updates applied, by durability.",
		}, []string{"durability"}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hearth_profile_duplicate_updates_total", Help: "Repeated idempotency keys answered with the first result.",
		}),
		UpdateErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_profile_update_errors_total", Help: "Updates refused, by error code.",
		}, []string{"code"}),
		Saves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_profile_saves_total", Help: "Profile saves, by outcome.",
		}, []string{"outcome"}),
		DurableWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hearth_profile_durable_wait_seconds",
			Help:    "Time from applying a durable update to its commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		SessionEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_profile_session_events_total", Help: "Session transitions, by event.",
		}, []string{"event"}),
		HandoffWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hearth_profile_handoff_wait_seconds",
			Help:    "Time activations waited for another node to release the profile or for its lease to lapse.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
	}
	// Counters start at zero for every label value, so a rate or an
	// increase sees the first event.
	for _, r := range []string{"ok", "not_found", "unavailable", "schema_too_new", "migration_failed", "failed"} {
		m.Activations.WithLabelValues(r)
	}
	for _, r := range []string{"idle", "release", "drain", "rebalance", "requested", "deleted", "fenced", "gone", "abandoned"} {
		m.Passivations.WithLabelValues(r)
	}
	for _, o := range []string{"saved", "fenced", "gone", "superseded", "error"} {
		m.Saves.WithLabelValues(o)
	}
	for _, d := range []string{"memory", "durable"} {
		m.Updates.WithLabelValues(d)
	}
	if reg != nil {
		reg.MustRegister(m.Loaded, m.Activations, m.Passivations, m.Fenced, m.Updates,
			m.Duplicates, m.UpdateErrors, m.Saves, m.DurableWait, m.SessionEvents, m.HandoffWait)
	}
	return m
}
