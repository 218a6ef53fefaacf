package grafana

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/hearth-profiles/hearth/deploy/internal/check"
)

var update = flag.Bool("update", false, "write dashboards/hearth.json from Dashboard()")

const dashboardFile = "dashboards/hearth.json"

// TestDashboardFile: the committed JSON is exactly what Dashboard builds,
// so nobody edits one and forgets the other.
func TestDashboardFile(t *testing.T) {
	d, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		if err := os.WriteFile(dashboardFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := check.Read(t, dashboardFile); !bytes.Equal(got, want) {
		t.Fatalf("%s differs from Dashboard(): run go test ./grafana -run TestDashboardFile -update", dashboardFile)
	}
}

// loadDashboard decodes the file with the SDK's strict decoder, with the
// panel and data-source plugins registered so panel options, field configs
// and queries are decoded into their own types too: an unknown or misspelt
// field anywhere is an error.
func loadDashboard(t *testing.T) dashboard.Dashboard {
	t.Helper()
	d, err := decodeStrict(check.Read(t, dashboardFile))
	if err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

func decodeStrict(raw []byte) (dashboard.Dashboard, error) {
	plugins.RegisterDefaultPlugins()
	var strict dashboard.Dashboard
	err := strict.UnmarshalJSONStrict(raw)
	// v0.0.22's strict decoder returns its error list as an error even
	// when the list is empty (a nil cog.BuildErrors in a non-nil error), and
	// a nested decoder that does so makes its caller drop the value it
	// decoded (panels, queries). So it is used for its errors only, and
	// the value comes from the SDK's ordinary decoder, which has neither
	// problem and decodes the same types.
	var list cog.BuildErrors
	if errors.As(err, &list) && len(list) == 0 {
		err = nil
	}
	if err != nil {
		return dashboard.Dashboard{}, err
	}
	var d dashboard.Dashboard
	return d, json.Unmarshal(raw, &d)
}

// TestStrictDecoderRefusesUnknownFields: the strict decoding above is
// strict where the dashboard has fields: at the top, in a panel, in its
// options and field config, and in a query.
func TestStrictDecoderRefusesUnknownFields(t *testing.T) {
	raw := check.Read(t, dashboardFile)
	if _, err := decodeStrict(raw); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(d map[string]any){
		"top":     func(d map[string]any) { d["titel"] = "x" },
		"panel":   func(d map[string]any) { firstGraph(d)["heigth"] = 3 },
		"options": func(d map[string]any) { firstGraph(d)["options"].(map[string]any)["legnd"] = 1 },
		"field config": func(d map[string]any) {
			firstGraph(d)["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["custom"].(map[string]any)["fillOpacty"] = 1
		},
		"query":      func(d map[string]any) { firstGraph(d)["targets"].([]any)[0].(map[string]any)["exp"] = "up" },
		"query type": func(d map[string]any) { firstGraph(d)["targets"].([]any)[0].(map[string]any)["expr"] = 1 },
	} {
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		mutate(d)
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeStrict(b); err == nil {
			t.Errorf("%s: an unknown field was accepted", name)
		}
	}
}

func firstGraph(d map[string]any) map[string]any {
	for _, p := range d["panels"].([]any) {
		if p := p.(map[string]any); p["type"] == "timeseries" {
			return p
		}
	}
	panic("no timeseries panel")
}

func TestDashboardParsesStrictly(t *testing.T) {
	d := loadDashboard(t)
	if d.Uid == nil || *d.Uid != UID {
		t.Errorf("uid %v, want %s", d.Uid, UID)
	}
	vars := map[string]dashboard.VariableModel{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if ds, ok := vars[DatasourceVariable]; !ok || ds.Type != dashboard.VariableTypeDatasource ||
		ds.Query == nil || ds.Query.String == nil || *ds.Query.String != "prometheus" {
		t.Errorf("variable %q: %+v, want a Prometheus data source variable", DatasourceVariable, ds)
	}
	for name, v := range vars {
		if v.Type != dashboard.VariableTypeQuery {
			continue
		}
		if v.Query == nil || v.Query.String == nil {
			t.Errorf("variable %s has no query", name)
			continue
		}
		if !strings.HasPrefix(*v.Query.String, "label_values(") {
			t.Errorf("variable %s: query %q: only label_values(selector, label) is used", name, *v.Query.String)
		}
		if _, err := check.Selectors(*v.Query.String); err != nil {
			t.Errorf("variable %s: %v", name, err)
		}
	}

	ids := map[uint32]string{}
	type cell struct{ x, y uint32 }
	taken := map[cell]string{}
	queries := 0
	for _, p := range d.Panels {
		var (
			id    *uint32
			title string
			grid  *dashboard.GridPos
		)
		switch {
		case p.RowPanel != nil:
			id, title, grid = &p.RowPanel.Id, derefString(p.RowPanel.Title), p.RowPanel.GridPos
			if title == "" {
				t.Errorf("a row has no title")
			}
		case p.Panel != nil:
			id, title, grid = p.Panel.Id, derefString(p.Panel.Title), p.Panel.GridPos
			queries += checkPanel(t, p.Panel)
		default:
			t.Fatal("a panel that is neither a panel nor a row")
		}
		if id == nil {
			t.Errorf("panel %q has no id", title)
		} else if prev, dup := ids[*id]; dup {
			t.Errorf("panels %q and %q share id %d", prev, title, *id)
		} else {
			ids[*id] = title
		}
		if grid == nil || grid.W == 0 || grid.H == 0 || grid.X+grid.W > 24 {
			t.Errorf("panel %q: grid position %+v is off the 24-column grid", title, grid)
			continue
		}
		for x := grid.X; x < grid.X+grid.W; x++ {
			for y := grid.Y; y < grid.Y+grid.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Fatalf("panels %q and %q overlap at (%d, %d)", other, title, x, y)
				}
				taken[cell{x, y}] = title
			}
		}
	}
	if queries < 20 {
		t.Errorf("only %d queries: the dashboard lost its panels", queries)
	}
}

// checkPanel checks one panel and its queries and returns how many it has.
func checkPanel(t *testing.T, p *dashboard.Panel) int {
	t.Helper()
	title := derefString(p.Title)
	if p.Type != "timeseries" && p.Type != "stat" {
		t.Errorf("panel %q: type %q", title, p.Type)
	}
	if title == "" || derefString(p.Description) == "" {
		t.Errorf("panel %q needs a title and a description", title)
	}
	if !isVariableDatasource(p.Datasource) {
		t.Errorf("panel %q: data source %+v, want the $%s variable", title, p.Datasource, DatasourceVariable)
	}
	if len(p.Targets) == 0 {
		t.Errorf("panel %q has no query", title)
	}
	refs := map[string]bool{}
	for i, target := range p.Targets {
		q, ok := target.(*prometheus.Dataquery)
		if !ok {
			t.Errorf("panel %q, query %d: decoded as %T, not a Prometheus query", title, i, target)
			continue
		}
		ref := derefString(q.RefId)
		if refs[ref] || ref == "" {
			t.Errorf("panel %q: query ref id %q missing or repeated", title, ref)
		}
		refs[ref] = true
		if !isVariableDatasource(q.Datasource) {
			t.Errorf("panel %q, query %s: data source %+v", title, ref, q.Datasource)
		}
		if _, err := check.Selectors(q.Expr); err != nil {
			t.Errorf("panel %q, query %s: %v", title, ref, err)
		}
	}
	return len(p.Targets)
}

func isVariableDatasource(ds *common.DataSourceRef) bool {
	return ds != nil && derefString(ds.Type) == "prometheus" && derefString(ds.Uid) == "${"+DatasourceVariable+"}"
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// The provisioning files, decoded strictly into the fields of Grafana's
// documented provisioning format that they use (Grafana ships no Go types
// for them; its own loader is in the AGPL server).
type datasourceFile struct {
	APIVersion  int `json:"apiVersion"`
	Datasources []struct {
		Name      string `json:"name"`
		UID       string `json:"uid"`
		Type      string `json:"type"`
		Access    string `json:"access"`
		URL       string `json:"url"`
		IsDefault bool   `json:"isDefault"`
		Editable  bool   `json:"editable"`
		JSONData  struct {
			TimeInterval string `json:"timeInterval"`
		} `json:"jsonData"`
	} `json:"datasources"`
}

type dashboardProviderFile struct {
	APIVersion int `json:"apiVersion"`
	Providers  []struct {
		Name                  string `json:"name"`
		Folder                string `json:"folder"`
		Type                  string `json:"type"`
		DisableDeletion       bool   `json:"disableDeletion"`
		AllowUIUpdates        bool   `json:"allowUiUpdates"`
		UpdateIntervalSeconds int    `json:"updateIntervalSeconds"`
		Options               struct {
			Path string `json:"path"`
		} `json:"options"`
	} `json:"providers"`
}

func TestProvisioningFiles(t *testing.T) {
	var ds datasourceFile
	if err := yaml.UnmarshalStrict(check.Read(t, "provisioning/datasources/prometheus.yml"), &ds); err != nil {
		t.Fatal(err)
	}
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("datasources: %+v", ds)
	}
	if d := ds.Datasources[0]; d.Type != "prometheus" || d.Access != "proxy" || !d.IsDefault || d.URL != "http://prometheus:9090" {
		t.Errorf("data source %+v: want the default, proxied Prometheus of compose.yaml", d)
	}

	var dp dashboardProviderFile
	if err := yaml.UnmarshalStrict(check.Read(t, "provisioning/dashboards/hearth.yml"), &dp); err != nil {
		t.Fatal(err)
	}
	if dp.APIVersion != 1 || len(dp.Providers) != 1 {
		t.Fatalf("dashboard providers: %+v", dp)
	}
	if p := dp.Providers[0]; p.Type != "file" || p.Options.Path != DashboardMountPath {
		t.Errorf("provider %+v: want a file provider reading %s", p, DashboardMountPath)
	}
	entries, err := os.ReadDir("dashboards")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".json" {
			t.Errorf("dashboards/%s: the provider loads every file there; keep only dashboards", e.Name())
		}
	}
	if len(entries) != 1 {
		t.Errorf("dashboards/ holds %d files, want hearth.json", len(entries))
	}
}
