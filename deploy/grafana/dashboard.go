// Package grafana builds Hearth's Grafana dashboard with Grafana's own
// Go types and builders (grafana-foundation-sdk), so the JSON always has
// the fields Grafana's schema requires. dashboards/hearth.json is its
// output: `go test ./grafana -run TestDashboardFile -update` writes it, and
// the same test fails while the file differs from what Dashboard builds.
package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// UID is the dashboard's uid; DatasourceVariable the variable every panel
// takes its Prometheus data source from, so the dashboard works with any
// data source once imported.
const (
	UID                = "hearth-nodes"
	DatasourceVariable = "datasource"
)

// DashboardMountPath is where deploy/compose.yaml mounts dashboards/ in
// the Grafana container, and where the provisioned provider reads.
const DashboardMountPath = "/var/lib/grafana/dashboards/hearth"

// datasource is what every panel and query names: the variable's value.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + DatasourceVariable + "}")}
}

// panelIDs hands out panel ids in layout order.
type panelIDs struct{ next uint32 }

func (p *panelIDs) id() uint32 {
	p.next++
	return p.next
}

// query is one PromQL target. $instance narrows the per-node panels to
// the selected nodes.
type query struct {
	expr, legend string
}

func targets(qs []query) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, q := range qs {
		out[i] = prometheus.NewDataqueryBuilder().
			Datasource(datasource()).
			RefId(string(rune('A' + i))).
			Expr(q.expr).
			LegendFormat(q.legend).
			Range()
	}
	return out
}

// graph is a time series panel of one or more queries.
func (p *panelIDs) graph(title, description, unit string, qs ...query) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Id(p.id()).
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unit).
		Min(0).
		Height(8).
		Span(8).
		FillOpacity(10).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending)).
		Targets(targets(qs))
}

// single is a stat panel of one instant value.
func (p *panelIDs) single(title, description, unit string, q query) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Id(p.id()).
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unit).
		Height(4).
		Span(4).
		GraphMode(common.BigValueGraphModeArea).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Targets(targets([]query{q}))
}

// Dashboard builds the dashboard. Every metric it queries is checked
// against a real node's /metrics by internal/deploycheck in the main module.
func Dashboard() (dashboard.Dashboard, error) {
	ids := &panelIDs{}
	const (
		in       = `instance=~"$instance"`
		rate     = `[$__rate_interval]`
		errCodes = `outcome=~"ERROR_CODE_(UNAVAILABLE|UNSPECIFIED|FENCED|SCHEMA_TOO_NEW|MIGRATION_FAILED)"`
	)
	b := dashboard.NewDashboardBuilder("Hearth").
		Uid(UID).
		Description("Hearth profile nodes: requests, profiles, saves and durability, the cluster's leases and handoffs, and the Go runtime. docs/OPERATIONS.md explains each alert these panels help to diagnose.").
		Tags([]string{"hearth"}).
		Refresh("30s").
		Time("now-3h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder(DatasourceVariable).
			Label("Data source").
			Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("instance").
			Label("Node").
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(hearth_profiles_loaded, instance)")}).
			Definition("label_values(hearth_profiles_loaded, instance)").
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(true).
			IncludeAll(true).
			AllValue(".*"))

	b.WithRow(dashboard.NewRowBuilder("Overview").Id(ids.id()))
	b.WithPanel(ids.single("Nodes up", "Nodes Prometheus scrapes successfully (job=\"hearth\").", "none",
		query{`sum(up{job="hearth"})`, "nodes"}))
	b.WithPanel(ids.single("Profiles loaded", "Profile activations resident on the selected nodes.", "short",
		query{`sum(hearth_profiles_loaded{` + in + `})`, "profiles"}))
	b.WithPanel(ids.single("Requests", "Gateway requests per second (Watch streams counted when they start are left out).", "reqps",
		query{`sum(rate(hearth_gateway_requests_total{` + in + `, outcome!="started"}` + rate + `))`, "requests/s"}))
	b.WithPanel(ids.single("Server-side errors", "Share of gateway requests that end in UNAVAILABLE, FENCED, SCHEMA_TOO_NEW, MIGRATION_FAILED or an unclassified error (alert HearthRequestErrors).", "percentunit",
		query{`sum(rate(hearth_gateway_requests_total{` + in + `, ` + errCodes + `}` + rate + `)) / sum(rate(hearth_gateway_requests_total{` + in + `, outcome!="started"}` + rate + `))`, "errors"}))
	b.WithPanel(ids.single("Durable ack p99", "Time from applying a durable update to the commit of the snapshot holding it (alert HearthDurableAckSlow).", "s",
		query{`histogram_quantile(0.99, sum by (le) (rate(hearth_profile_durable_wait_seconds_bucket{` + in + `}` + rate + `)))`, "p99"}))
	b.WithPanel(ids.single("Save p99", "Duration of group-commit save transactions (alert HearthSaveLatencyHigh).", "s",
		query{`histogram_quantile(0.99, sum by (le) (rate(hearth_save_batch_seconds_bucket{` + in + `}` + rate + `)))`, "p99"}))

	b.WithRow(dashboard.NewRowBuilder("Requests").Id(ids.id()))
	b.WithPanel(ids.graph("Requests by method", "Gateway requests per second by method.", "reqps",
		query{`sum by (operation) (rate(hearth_gateway_requests_total{` + in + `, outcome!="started"}` + rate + `))`, "{{operation}}"}))
	b.WithPanel(ids.graph("Errors by code", "Gateway requests per second that ended in an error, by code (alerts HearthRequestErrors, HearthClientErrors).", "reqps",
		query{`sum by (outcome) (rate(hearth_gateway_requests_total{` + in + `, outcome!~"OK|started"}` + rate + `))`, "{{outcome}}"}))
	b.WithPanel(ids.graph("Latency p99 by method", "99th percentile gateway latency by method; Acquire in wait mode, Watch and PollEvents wait on purpose (alert HearthRequestLatencyHigh).", "s",
		query{`histogram_quantile(0.99, sum by (operation, le) (rate(hearth_gateway_request_seconds_bucket{` + in + `}` + rate + `)))`, "{{operation}}"}))

	b.WithRow(dashboard.NewRowBuilder("Profiles").Id(ids.id()))
	b.WithPanel(ids.graph("Loaded profiles by node", "Activations resident on each node; memory grows with them (docs/OPERATIONS.md, capacity planning).", "short",
		query{`sum by (instance) (hearth_profiles_loaded{` + in + `})`, "{{instance}}"}))
	b.WithPanel(ids.graph("Activations by result", "Profile activations per second by result (alerts HearthActivationFailures, HearthProfilesUnreadable).", "ops",
		query{`sum by (result) (rate(hearth_profile_activations_total{` + in + `}` + rate + `))`, "{{result}}"}))
	b.WithPanel(ids.graph("Passivations by reason", "Activations stopped per second by reason; rebalance is a handoff after a membership change, fenced a stale owner stopped.", "ops",
		query{`sum by (reason) (rate(hearth_profile_passivations_total{` + in + `}` + rate + `))`, "{{reason}}"}))
	b.WithPanel(ids.graph("Updates by durability", "Updates applied per second, and repeats of an idempotency key answered from the record.", "ops",
		query{`sum by (durability) (rate(hearth_profile_updates_total{` + in + `}` + rate + `))`, "{{durability}}"},
		query{`sum(rate(hearth_profile_duplicate_updates_total{` + in + `}` + rate + `))`, "duplicates"}))
	b.WithPanel(ids.graph("Refused updates by code", "Updates refused per second by error code.", "ops",
		query{`sum by (code) (rate(hearth_profile_update_errors_total{` + in + `}` + rate + `))`, "{{code}}"}))
	b.WithPanel(ids.graph("Session events", "Session transitions per second: granted, reused, stolen, conflict, wait, released, lapsed.", "ops",
		query{`sum by (event) (rate(hearth_profile_session_events_total{` + in + `}` + rate + `))`, "{{event}}"}))

	b.WithRow(dashboard.NewRowBuilder("Saves and durability").Id(ids.id()))
	b.WithPanel(ids.graph("Profile saves by outcome", "Profile saves per second: saved, superseded, fenced, gone, error (alert HearthSaveFailures).", "ops",
		query{`sum by (outcome) (rate(hearth_profile_saves_total{` + in + `}` + rate + `))`, "{{outcome}}"},
		query{`sum(rate(hearth_save_batch_errors_total{` + in + `}` + rate + `))`, "failed transactions"}))
	b.WithPanel(ids.graph("Save transaction duration", "Group-commit save transactions: 50th and 99th percentile (alert HearthSaveLatencyHigh).", "s",
		query{`histogram_quantile(0.5, sum by (le) (rate(hearth_save_batch_seconds_bucket{` + in + `}` + rate + `)))`, "p50"},
		query{`histogram_quantile(0.99, sum by (le) (rate(hearth_save_batch_seconds_bucket{` + in + `}` + rate + `)))`, "p99"}))
	b.WithPanel(ids.graph("Rows per save transaction", "Profiles per group-commit transaction: larger batches mean the database is the bottleneck and group commit is absorbing it.", "short",
		query{`sum(rate(hearth_save_batch_rows_sum{` + in + `}` + rate + `)) / sum(rate(hearth_save_batch_rows_count{` + in + `}` + rate + `))`, "mean"},
		query{`histogram_quantile(0.99, sum by (le) (rate(hearth_save_batch_rows_bucket{` + in + `}` + rate + `)))`, "p99"}))
	b.WithPanel(ids.graph("Durable acknowledgement wait", "From applying a durable update to its commit: 50th and 99th percentile (alert HearthDurableAckSlow).", "s",
		query{`histogram_quantile(0.5, sum by (le) (rate(hearth_profile_durable_wait_seconds_bucket{` + in + `}` + rate + `)))`, "p50"},
		query{`histogram_quantile(0.99, sum by (le) (rate(hearth_profile_durable_wait_seconds_bucket{` + in + `}` + rate + `)))`, "p99"}))

	b.WithRow(dashboard.NewRowBuilder("Cluster").Id(ids.id()))
	b.WithPanel(ids.graph("Lease renewals by result", "Node lease renewals per second by node and result; any error is worth a look (alerts HearthLeaseRenewalFailing, HearthNodeLeaseLost, HearthDatabaseUnavailable).", "ops",
		query{`sum by (instance, result) (rate(hearth_node_lease_renewals_total{` + in + `}` + rate + `))`, "{{instance}} {{result}}"}))
	b.WithPanel(ids.graph("Fenced activations", "Activations per second that found another node owning their profile (alert HearthFencedActivations).", "ops",
		query{`sum by (instance) (rate(hearth_profile_fenced_total{` + in + `}` + rate + `))`, "{{instance}}"}))
	b.WithPanel(ids.graph("Handoff wait", "How long activations waited for the previous owner's release or lease lapse (alert HearthHandoffWaitsLong).", "s",
		query{`histogram_quantile(0.5, sum by (le) (rate(hearth_profile_handoff_wait_seconds_bucket{` + in + `}` + rate + `)))`, "p50"},
		query{`histogram_quantile(0.9, sum by (le) (rate(hearth_profile_handoff_wait_seconds_bucket{` + in + `}` + rate + `)))`, "p90"}))
	b.WithPanel(ids.graph("Draining", "Profiles still loaded on draining nodes (alert HearthDrainStuck).", "short",
		query{`hearth_drain_remaining_profiles{` + in + `}`, "{{instance}}"}))
	b.WithPanel(ids.graph("Nodes up", "1 when Prometheus scraped the node, 0 when it did not (alerts HearthNodeDown, HearthMembershipFlapping).", "none",
		query{`up{job="hearth", ` + in + `}`, "{{instance}}"}))
	b.WithPanel(ids.graph("Node restarts", "Process restarts per node in the window (alert HearthMembershipFlapping).", "short",
		query{`changes(process_start_time_seconds{job="hearth", ` + in + `}[30m])`, "{{instance}}"}))

	b.WithRow(dashboard.NewRowBuilder("Runtime").Id(ids.id()))
	b.WithPanel(ids.graph("Resident memory", "Resident memory of each node, and its Go memory limit (GOMEMLIMIT) when one is set (alert HearthMemoryNearLimit).", "bytes",
		query{`process_resident_memory_bytes{job="hearth", ` + in + `}`, "{{instance}}"},
		query{`go_gc_gomemlimit_bytes{job="hearth", ` + in + `} < 1e15`, "{{instance}} limit"}))
	b.WithPanel(ids.graph("Memory per loaded profile", "Resident memory divided by loaded profiles: compare with the capacity figures in docs/OPERATIONS.md.", "bytes",
		query{`process_resident_memory_bytes{job="hearth", ` + in + `} / on (job, instance) (hearth_profiles_loaded{` + in + `} > 100)`, "{{instance}}"}))
	b.WithPanel(ids.graph("CPU", "CPU cores used by each node.", "short",
		query{`rate(process_cpu_seconds_total{job="hearth", ` + in + `}` + rate + `)`, "{{instance}}"}))
	b.WithPanel(ids.graph("Heap in use", "Go heap in use on each node.", "bytes",
		query{`go_memstats_heap_inuse_bytes{job="hearth", ` + in + `}`, "{{instance}}"}))
	b.WithPanel(ids.graph("Goroutines", "Goroutines on each node.", "short",
		query{`go_goroutines{job="hearth", ` + in + `}`, "{{instance}}"}))
	b.WithPanel(ids.graph("Longest GC pause", "The longest stop-the-world pause of the garbage collector in each node's recent cycles.", "s",
		query{`go_gc_duration_seconds{job="hearth", ` + in + `, quantile="1"}`, "{{instance}}"}))

	return b.Build()
}
