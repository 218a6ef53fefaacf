package prometheus

import (
	"context"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"

	"github.com/hearth-profiles/hearth/deploy/internal/check"
)

const rulesFile = "hearth.rules.yml"

// loadRules parses the rule file with Prometheus's own loader, refusing
// unknown fields, and validating every expression and template as
// Prometheus does when it loads the file.
func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.Parse(check.Read(t, rulesFile), false, model.UTF8Validation,
		parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return groups
}

func TestRuleFile(t *testing.T) {
	groups := loadRules(t)
	runbooks := runbookHeadings(t)
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" || r.Record != "" {
				t.Errorf("group %s: a recording rule; the tests cover alerts only", g.Name)
				continue
			}
			alerts[name] = true
			if !strings.HasPrefix(name, "Hearth") {
				t.Errorf("%s: alert names start with Hearth", name)
			}
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("%s: severity %q, want critical, warning or info", name, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", name, a)
				}
			}
			if want := "docs/OPERATIONS.md#" + strings.ToLower(name); r.Annotations["runbook"] != want {
				t.Errorf("%s: runbook %q, want %q", name, r.Annotations["runbook"], want)
			}
			if !runbooks[name] {
				t.Errorf("%s: docs/OPERATIONS.md has no runbook heading \"### %s\"", name, name)
			}
			if _, err := check.Selectors(r.Expr); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	for name := range runbooks {
		if !alerts[name] {
			t.Errorf("docs/OPERATIONS.md has a runbook for %s, which no rule raises", name)
		}
	}
}

var runbookHeading = regexp.MustCompile(`(?m)^### (Hearth[A-Za-z]+)\s*$`)

// runbookHeadings are the alert runbooks in docs/OPERATIONS.md.
func runbookHeadings(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range runbookHeading.FindAllStringSubmatch(string(check.Read(t, check.RepoRoot(t)+"/docs/OPERATIONS.md")), -1) {
		out[m[1]] = true
	}
	return out
}

// scenario is a few series in promqltest's load notation (one sample
// every 15 s, as the scrape interval, from 0 to 20m) and whether the
// alert's expression has a result at 20m: it would be pending, then
// firing after its "for".
type scenario struct {
	name     string
	alert    string
	severity string // when two rules share the alert name
	fires    bool
	series   string
}

var scenarios = []scenario{
	{"node down", "HearthNodeDown", "", true, `up{job="hearth",instance="a"} 1x40 0x40`},
	{"node up", "HearthNodeDown", "", false, `up{job="hearth",instance="a"} 1x80`},
	{"two of three down", "HearthNodesDown", "", true, `
		up{job="hearth",instance="a"} 0x80
		up{job="hearth",instance="b"} 0x80
		up{job="hearth",instance="c"} 1x80`},
	{"one of three down", "HearthNodesDown", "", false, `
		up{job="hearth",instance="a"} 0x80
		up{job="hearth",instance="b"} 1x80
		up{job="hearth",instance="c"} 1x80`},
	{"renewals keep failing", "HearthLeaseRenewalFailing", "", true, `
		hearth_node_lease_renewals_total{job="hearth",instance="a",result="ok"} 0+3x40 120x40
		hearth_node_lease_renewals_total{job="hearth",instance="a",result="error"} _x40 1+3x40`},
	{"the first failure (a new series at 1)", "HearthLeaseRenewalFailing", "", true, `
		hearth_node_lease_renewals_total{job="hearth",instance="a",result="ok"} 0+3x80
		hearth_node_lease_renewals_total{job="hearth",instance="a",result="error"} _x76 1x4`},
	{"failures long ago", "HearthLeaseRenewalFailing", "", false, `
		hearth_node_lease_renewals_total{job="hearth",instance="a",result="ok"} 0+3x80
		hearth_node_lease_renewals_total{job="hearth",instance="a",result="error"} 3x80`},
	{"lease expired", "HearthNodeLeaseLost", "", true, `
		hearth_node_lease_renewals_total{job="hearth",instance="a",result="ok"} 0+3x78
		hearth_node_lease_renewals_total{job="hearth",instance="a",result="expired"} _x78 1x2`},
	{"renewals fine", "HearthNodeLeaseLost", "", false, `
		hearth_node_lease_renewals_total{job="hearth",instance="a",result="ok"} 0+3x80`},
	{"fenced", "HearthFencedActivations", "", true, `hearth_profile_fenced_total{job="hearth",instance="a"} 0x60 4x20`},
	{"not fenced", "HearthFencedActivations", "", false, `hearth_profile_fenced_total{job="hearth",instance="a"} 0x80`},
	{"draining", "HearthDrainStuck", "", true, `hearth_drain_remaining_profiles{job="hearth",instance="a"} 0x70 500x10`},
	{"not draining", "HearthDrainStuck", "", false, `hearth_drain_remaining_profiles{job="hearth",instance="a"} 0x80`},
	{"a node restarting", "HearthMembershipFlapping", "", true, `
		process_start_time_seconds{job="hearth",instance="a"} 100x20 200x20 300x20 400x20
		process_start_time_seconds{job="hearth",instance="b"} 100x80`},
	{"one restart", "HearthMembershipFlapping", "", false, `
		process_start_time_seconds{job="hearth",instance="a"} 100x40 200x40
		up{job="hearth",instance="a"} 1x38 0x2 1x40`},
	{"near GOMEMLIMIT", "HearthMemoryNearLimit", "", true, `
		process_resident_memory_bytes{job="hearth",instance="a"} 950000000x80
		go_gc_gomemlimit_bytes{job="hearth",instance="a"} 1000000000x80`},
	{"no GOMEMLIMIT", "HearthMemoryNearLimit", "", false, `
		process_resident_memory_bytes{job="hearth",instance="a"} 950000000x80
		go_gc_gomemlimit_bytes{job="hearth",instance="a"} 9223372036854775807x80`},
	{"two of three nodes lose the database", "HearthDatabaseUnavailable", "", true, `
		hearth_profiles_loaded{job="hearth",instance="a"} 100x80
		hearth_profiles_loaded{job="hearth",instance="b"} 100x80
		hearth_profiles_loaded{job="hearth",instance="c"} 100x80
		hearth_node_lease_renewals_total{job="hearth",instance="a",result="error"} 0x60 1+1x20
		hearth_save_batch_errors_total{job="hearth",instance="b"} 0x60 1+2x20
		hearth_save_batch_errors_total{job="hearth",instance="c"} 0x80`},
	{"one node loses the database", "HearthDatabaseUnavailable", "", false, `
		hearth_profiles_loaded{job="hearth",instance="a"} 100x80
		hearth_profiles_loaded{job="hearth",instance="b"} 100x80
		hearth_profiles_loaded{job="hearth",instance="c"} 100x80
		hearth_node_lease_renewals_total{job="hearth",instance="a",result="error"} 0x60 1+1x20
		hearth_save_batch_errors_total{job="hearth",instance="a"} 0x60 1+2x20`},
	{"saves failing", "HearthSaveFailures", "warning", true, `hearth_save_batch_errors_total{job="hearth",instance="a"} 0+1x80`},
	{"saves fine", "HearthSaveFailures", "warning", false, `hearth_save_batch_errors_total{job="hearth",instance="a"} 7x80`},
	{"saves failing", "HearthSaveFailures", "critical", true, `hearth_save_batch_errors_total{job="hearth",instance="a"} 0+1x80`},
	{"saves fine", "HearthSaveFailures", "critical", false, `hearth_save_batch_errors_total{job="hearth",instance="a"} 7x80`},
	{"slow saves", "HearthSaveLatencyHigh", "", true, histogram("hearth_save_batch_seconds", `job="hearth",instance="a"`, 2.048)},
	{"fast saves", "HearthSaveLatencyHigh", "", false, histogram("hearth_save_batch_seconds", `job="hearth",instance="a"`, 0.016)},
	{"slow durable acks", "HearthDurableAckSlow", "", true, histogram("hearth_profile_durable_wait_seconds", `job="hearth",instance="a"`, 4.096)},
	{"fast durable acks", "HearthDurableAckSlow", "", false, histogram("hearth_profile_durable_wait_seconds", `job="hearth",instance="a"`, 0.032)},
	{"2% unavailable", "HearthRequestErrors", "warning", true, requests(98, 2, 0)},
	{"0.5% unavailable, 30% invalid", "HearthRequestErrors", "warning", false, requests(199, 1, 85)},
	{"20% unavailable", "HearthRequestErrors", "critical", true, requests(80, 20, 0)},
	{"5% unavailable", "HearthRequestErrors", "critical", false, requests(95, 5, 0)},
	{"10% invalid", "HearthClientErrors", "", true, requests(90, 0, 10)},
	{"10% not found", "HearthClientErrors", "", false, `
		hearth_gateway_requests_total{job="hearth",instance="a",operation="Get",outcome="OK"} 0+90x80
		hearth_gateway_requests_total{job="hearth",instance="a",operation="Get",outcome="ERROR_CODE_NOT_FOUND"} 0+10x80`},
	{"slow gets", "HearthRequestLatencyHigh", "", true, histogram("hearth_gateway_request_seconds", `job="hearth",instance="a",operation="Get"`, 0.8192)},
	{"slow acquires only", "HearthRequestLatencyHigh", "", false, histogram("hearth_gateway_request_seconds", `job="hearth",instance="a",operation="Acquire"`, 26.2144) +
		histogram("hearth_gateway_request_seconds", `job="hearth",instance="a",operation="Get"`, 0.0016)},
	{"activations unavailable", "HearthActivationFailures", "", true,
		`hearth_profile_activations_total{job="hearth",instance="a",result="unavailable"} 0+1x80`},
	{"profiles not found", "HearthActivationFailures", "", false, `
		hearth_profile_activations_total{job="hearth",instance="a",result="ok"} 0+9x80
		hearth_profile_activations_total{job="hearth",instance="a",result="not_found"} 0+1x80`},
	{"a schema too new", "HearthProfilesUnreadable", "", true,
		`hearth_profile_activations_total{job="hearth",instance="a",result="schema_too_new"} _x78 1x2`},
	{"no schema trouble", "HearthProfilesUnreadable", "", false, `
		hearth_profile_activations_total{job="hearth",instance="a",result="ok"} 0+9x80
		hearth_profile_activations_total{job="hearth",instance="a",result="unavailable"} _x78 1x2`},
	{"waits for lapsed leases", "HearthHandoffWaitsLong", "", true, histogram("hearth_profile_handoff_wait_seconds", `job="hearth",instance="a"`, 20.48)},
	{"handoffs by release", "HearthHandoffWaitsLong", "", false, histogram("hearth_profile_handoff_wait_seconds", `job="hearth",instance="a"`, 0.08)},
}

// histogram is a classic histogram whose observations (10 per sample)
// all fall in the bucket ending at le.
func histogram(name, lbls string, le float64) string {
	var b strings.Builder
	for _, bound := range []float64{0.0016, 0.016, 0.032, 0.08, 0.512, 0.8192, 1.024, 2.048, 4.096, 20.48, 26.2144} {
		series := "0x80"
		if bound >= le {
			series = "0+10x80"
		}
		b.WriteString(name + "_bucket{" + lbls + `,le="` + model.SampleValue(bound).String() + `"} ` + series + "\n")
	}
	b.WriteString(name + "_bucket{" + lbls + `,le="+Inf"} 0+10x80` + "\n")
	b.WriteString(name + "_count{" + lbls + "} 0+10x80\n")
	return b.String()
}

// requests is gateway traffic: ok, unavailable and invalid requests per
// sample.
func requests(ok, unavailable, invalid int) string {
	var b strings.Builder
	for outcome, n := range map[string]int{"OK": ok, "ERROR_CODE_UNAVAILABLE": unavailable, "ERROR_CODE_INVALID_ARGUMENT": invalid} {
		if n > 0 {
			b.WriteString(`hearth_gateway_requests_total{job="hearth",instance="a",operation="Update",outcome="` + outcome + `"} 0+` + model.SampleValue(n).String() + "x80\n")
		}
	}
	// Watch streams counted when they start are no requests to judge.
	b.WriteString(`hearth_gateway_requests_total{job="hearth",instance="a",operation="Watch",outcome="started"} 0+1000x80` + "\n")
	return b.String()
}

// TestRulesFireWhenTheyShould evaluates each alert's expression on
// scenarios of series, with a PromQL engine configured as a Prometheus
// server's defaults are (5m lookback; counters that appear already
// counted are not assumed to start at zero), the way
// `promtool test rules` would. Every rule needs a scenario in which it
// fires and one in which it stays silent.
func TestRulesFireWhenTheyShould(t *testing.T) {
	type ruleKey struct{ alert, severity string }
	exprs := map[ruleKey]string{}
	shared := map[string]int{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			exprs[ruleKey{r.Alert, r.Labels["severity"]}] = r.Expr
			shared[r.Alert]++
		}
	}
	covered := map[ruleKey][2]bool{} // [silent, fires]
	engine := promql.NewEngine(promql.EngineOpts{
		MaxSamples: 1_000_000,
		Timeout:    time.Minute,
		Parser:     parser.NewParser(parser.Options{}),
	})
	at := time.Unix(0, 0).Add(20 * time.Minute)
	for _, sc := range scenarios {
		key := ruleKey{sc.alert, sc.severity}
		if sc.severity == "" {
			for k := range exprs {
				if k.alert == sc.alert {
					key = k
				}
			}
			if shared[sc.alert] > 1 {
				t.Fatalf("%s: %s has %d rules; name the severity", sc.name, sc.alert, shared[sc.alert])
			}
		}
		expr, ok := exprs[key]
		if !ok {
			t.Errorf("%s: no rule %+v", sc.name, key)
			continue
		}
		c := covered[key]
		c[boolIndex(sc.fires)] = true
		covered[key] = c

		store := promqltest.LoadedStorage(t, "load 15s\n"+indent(sc.series))
		q, err := engine.NewInstantQuery(context.Background(), store, nil, expr, at)
		if err != nil {
			t.Fatalf("%s: %v", sc.alert, err)
		}
		res := q.Exec(context.Background())
		if res.Err != nil {
			t.Fatalf("%s (%s): %v", sc.alert, sc.name, res.Err)
		}
		vec, err := res.Vector()
		if err != nil {
			t.Fatalf("%s (%s): %v", sc.alert, sc.name, err)
		}
		if fired := len(vec) > 0; fired != sc.fires {
			t.Errorf("%s %s, %s: fires %v, want %v (result %v)", sc.alert, sc.severity, sc.name, fired, sc.fires, vec)
		}
		q.Close()
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var missing []string
	for key := range exprs {
		if c := covered[key]; !c[0] || !c[1] {
			missing = append(missing, key.alert+" "+key.severity)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("rules without a firing and a silent scenario: %v", missing)
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

func indent(series string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(series), "\n") {
		b.WriteString("  " + strings.TrimSpace(line) + "\n")
	}
	return b.String()
}

// TestComposePrometheus: the Compose stack's prometheus.yml loads with
// Prometheus's own configuration loader, scrapes the three nodes as job
// hearth and loads the rule file where compose.yaml mounts it.
func TestComposePrometheus(t *testing.T) {
	cfg := loadPrometheusConfig(t, "prometheus.yml")
	if !slices.Contains(cfg.RuleFiles, "/etc/prometheus/rules/*.rules.yml") {
		t.Errorf("rule_files %v", cfg.RuleFiles)
	}
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "hearth" {
			continue
		}
		targets = append(targets, staticTargets(t, sc)...)
	}
	slices.Sort(targets)
	if want := []string{"node1:8080", "node2:8080", "node3:8080"}; !slices.Equal(targets, want) {
		t.Errorf("job hearth scrapes %v, want %v", targets, want)
	}
}

func loadPrometheusConfig(t *testing.T, path string) *promconfig.Config {
	t.Helper()
	cfg, err := promconfig.LoadFile(path, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func staticTargets(t *testing.T, sc *promconfig.ScrapeConfig) []string {
	t.Helper()
	var out []string
	for _, d := range sc.ServiceDiscoveryConfigs {
		static, ok := d.(discovery.StaticConfig)
		if !ok {
			t.Fatalf("job %s: discovery %T, want static targets", sc.JobName, d)
		}
		for _, g := range static {
			for _, target := range g.Targets {
				out = append(out, string(target[model.AddressLabel]))
			}
		}
	}
	return out
}
