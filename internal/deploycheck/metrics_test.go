package deploycheck

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/hearth-profiles/hearth/cluster"
	"github.com/hearth-profiles/hearth/cluster/nodestore"
	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/internal/promexpr"
)

// deployDir is the repository's deploy/ directory, from this package's.
const deployDir = "../../deploy"

// synthesized are series Prometheus makes itself for every target, so no
// node exposes them.
var synthesized = map[string]bool{"up": true}

// targetLabels are the labels Prometheus attaches to every scraped series.
var targetLabels = map[string]bool{"job": true, "instance": true}

// TestDeployedQueriesUseRealMetrics starts a node (the embedded default,
// as cmd/node runs it), sends the requests that make every metric family
// appear, and checks each selector of every alert rule and dashboard
// query (Grafana's variables expanded by promexpr.FromGrafana) against what its /metrics serves: the metric exists (a
// histogram's _bucket, _sum and _count count as the histogram) and every
// label a matcher tests is one of its labels or a target label.
func TestDeployedQueriesUseRealMetrics(t *testing.T) {
	exprs := ruleExpressions(t)
	dashboards := dashboardExpressions(t)
	if len(exprs) < 10 || len(dashboards) < 20 {
		t.Fatalf("found %d rule and %d dashboard expressions: the files moved or lost their queries", len(exprs), len(dashboards))
	}
	for k, v := range dashboards {
		exprs[k] = v
	}
	type use struct {
		where string
		sel   promexpr.Selector
	}
	var uses []use
	for where, expr := range exprs {
		sels, err := promexpr.Selectors(promexpr.FromGrafana(expr))
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if len(sels) == 0 {
			t.Errorf("%s selects nothing: %s", where, expr)
		}
		for _, s := range sels {
			uses = append(uses, use{where, s})
		}
	}

	base := startNode(t)
	driveTraffic(t, base)

	// Families appear as their events happen (a lease renewal, a save
	// batch); poll until every used one is there or the deadline passes.
	deadline := time.Now().Add(15 * time.Second)
	var families map[string]*dto.MetricFamily
	for {
		families = scrape(t, base)
		missing := 0
		for _, u := range uses {
			if _, ok := family(families, u.sel.Metric); !ok && !synthesized[u.sel.Metric] {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, u := range uses {
		if synthesized[u.sel.Metric] {
			for _, l := range u.sel.Labels {
				if !targetLabels[l] {
					t.Errorf("%s: %s has no label %q", u.where, u.sel.Metric, l)
				}
			}
			continue
		}
		f, ok := family(families, u.sel.Metric)
		if !ok {
			t.Errorf("%s: metric %s is not on the node's /metrics", u.where, u.sel.Metric)
			continue
		}
		labels := labelNames(f, u.sel.Metric)
		for _, l := range u.sel.Labels {
			if !labels[l] && !targetLabels[l] {
				t.Errorf("%s: %s has no label %q (it has %v)", u.where, u.sel.Metric, l, sortedKeys(labels))
			}
		}
	}
}

// family finds the family a selected name belongs to: the name itself, or
// a histogram (or summary) for its _bucket, _sum and _count series.
func family(fams map[string]*dto.MetricFamily, name string) (*dto.MetricFamily, bool) {
	if f, ok := fams[name]; ok {
		return f, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		f, ok := fams[strings.TrimSuffix(name, suffix)]
		if !ok || !strings.HasSuffix(name, suffix) {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			return f, true
		case dto.MetricType_SUMMARY:
			return f, suffix != "_bucket"
		}
	}
	return nil, false
}

// labelNames are the labels a selector of name may test: the family's
// labels, le on a histogram's buckets and quantile on a summary.
func labelNames(f *dto.MetricFamily, name string) map[string]bool {
	out := map[string]bool{}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			out[l.GetName()] = true
		}
	}
	switch {
	case f.GetType() == dto.MetricType_HISTOGRAM && strings.HasSuffix(name, "_bucket"):
		out["le"] = true
	case f.GetType() == dto.MetricType_SUMMARY && name == f.GetName():
		out["quantile"] = true
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ruleExpressions reads every rule's expression from the rule files. This
// is a plain YAML read; the deploy module parses the files with
// Prometheus's own rule loader.
func ruleExpressions(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(deployDir, "prometheus", "*.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no rule files in deploy/prometheus")
	}
	out := map[string]string{}
	for _, path := range paths {
		var file struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Alert  string `yaml:"alert"`
					Record string `yaml:"record"`
					Expr   string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(readFile(t, path), &file); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, g := range file.Groups {
			for i, r := range g.Rules {
				out[fmt.Sprintf("%s: group %s, rule %d (%s%s)", filepath.Base(path), g.Name, i, r.Alert, r.Record)] = r.Expr
			}
		}
	}
	return out
}

// dashboardExpressions reads every query of every dashboard: the panels'
// targets and the query variables' label_values selectors.
func dashboardExpressions(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(deployDir, "grafana", "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no dashboards in deploy/grafana/dashboards")
	}
	out := map[string]string{}
	for _, path := range paths {
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					RefID string `json:"refId"`
					Expr  string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
			Templating struct {
				List []struct {
					Name  string `json:"name"`
					Type  string `json:"type"`
					Query any    `json:"query"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(readFile(t, path), &d); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				out[fmt.Sprintf("%s: panel %q, query %s", filepath.Base(path), p.Title, q.RefID)] = q.Expr
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			q, ok := v.Query.(string)
			if !ok {
				t.Fatalf("%s: variable %s: query %v is not a string", path, v.Name, v.Query)
			}
			out[fmt.Sprintf("%s: variable %s", filepath.Base(path), v.Name)] = q
		}
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startNode starts the embedded node with a fast lease renewal, so a
// renewal (and its counter) happens within the test.
func startNode(t *testing.T) string {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.Listen = "127.0.0.1:0"
	cfg.Lease.Renew = 50 * time.Millisecond
	cfg.Lease.TTL = 2 * time.Second
	n, err := cluster.Start(context.Background(), cfg, nodestore.Open, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Drain(ctx); err != nil {
			t.Error(err)
		}
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	return "http://" + n.Addr()
}

// driveTraffic makes the labelled families appear: activations, a durable
// save, a refused update, a session granted and released, a deletion.
func driveTraffic(t *testing.T, base string) {
	t.Helper()
	call := func(method, body string) map[string]any {
		t.Helper()
		res, err := http.Post(base+"/hearth.v1.ProfileService/"+method, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		if res.StatusCode != http.StatusOK && !strings.Contains(string(b), "ERROR_CODE_INVALID_ARGUMENT") {
			t.Fatalf("%s: %d %s", method, res.StatusCode, b)
		}
		return out
	}
	call("Update", `{"profile":{"namespace":"game","id":"p1"},"operations":[{"kind":"OPERATION_KIND_INCREMENT","path":"/coins","value":"5"}],"durability":"DURABILITY_DURABLE"}`)
	call("Update", `{"profile":{"namespace":"game","id":"p1"},"operations":[{"kind":"OPERATION_KIND_INCREMENT","path":"/coins","value":"\"ten\""}]}`)
	acq := call("Acquire", `{"profile":{"namespace":"game","id":"p2"},"sessionId":"server-1","mode":"ACQUIRE_MODE_FAIL"}`)
	token, _ := acq["sessionToken"].(string)
	if token == "" {
		t.Fatalf("Acquire answered %v", acq)
	}
	call("Release", fmt.Sprintf(`{"profile":{"namespace":"game","id":"p2"},"sessionToken":%q}`, token))
	call("Delete", `{"profile":{"namespace":"game","id":"p2"},"force":true}`)
	call("Get", `{"profile":{"namespace":"game","id":"p1"}}`)
}

func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}
