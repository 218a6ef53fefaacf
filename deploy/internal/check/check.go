// Package check holds what the deployment-file tests share: where the
// repository is, how a PromQL expression is read (Prometheus's own parser,
// checked against the main module's promexpr lexer, which the main
// module's metrics test relies on), and how a node reads its configuration
// (the main module's own config loader, so a deployment file that sets a
// key the node does not know fails here as it would at start).
package check

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/internal/promexpr"
)

// RepoRoot is the main module's directory: the nearest parent of the
// working directory whose go.mod declares github.com/hearth-profiles/hearth.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/hearth-profiles/hearth\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no parent directory holds the main module's go.mod")
		}
		dir = parent
	}
}

// DeployDir is the deploy/ directory.
func DeployDir(t testing.TB) string {
	return filepath.Join(RepoRoot(t), "deploy")
}

// Read returns a file's contents or fails the test.
func Read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var promql = parser.NewParser(parser.Options{})

// Selectors parses expr (a Grafana query read by promexpr.FromGrafana)
// with Prometheus's parser and returns its selectors. It also reads expr with promexpr and
// fails if the two disagree: the main module's metrics test sees exactly
// the metrics and labels Prometheus will select.
func Selectors(expr string) ([]promexpr.Selector, error) {
	expanded := promexpr.FromGrafana(expr)
	ast, err := promql.ParseExpr(expanded)
	if err != nil {
		return nil, fmt.Errorf("PromQL %q: %w", expr, err)
	}
	var fromAST []promexpr.Selector
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		sel := promexpr.Selector{Metric: vs.Name, Labels: []string{}}
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" && m.Type.String() == "=" {
				sel.Metric = m.Value
				continue
			}
			sel.Labels = append(sel.Labels, m.Name)
		}
		slices.Sort(sel.Labels)
		sel.Labels = slices.Compact(sel.Labels)
		fromAST = append(fromAST, sel)
		return nil
	})
	fromLexer, err := promexpr.Selectors(expanded)
	if err != nil {
		return nil, fmt.Errorf("promexpr cannot read %q, which Prometheus parses: %w", expr, err)
	}
	if a, b := selectorKeys(fromAST), selectorKeys(fromLexer); !slices.Equal(a, b) {
		return nil, fmt.Errorf("promexpr reads %q as selecting %v, Prometheus as %v", expr, b, a)
	}
	if len(fromAST) == 0 {
		return nil, fmt.Errorf("PromQL %q selects no series", expr)
	}
	for _, s := range fromAST {
		if s.Metric == "" {
			return nil, fmt.Errorf("PromQL %q: a selector names no metric: %v", expr, s.Labels)
		}
	}
	return fromAST, nil
}

func selectorKeys(sels []promexpr.Selector) []string {
	keys := make([]string, len(sels))
	for i, s := range sels {
		keys[i] = s.Metric + "{" + strings.Join(s.Labels, ",") + "}"
	}
	slices.Sort(keys)
	return keys
}

// NodeConfig reads a node's configuration as cmd/node does: defaults, the
// file named by --config in args, HEARTH_* variables in environ, then the
// other flags; and validates it as the node does before it starts.
func NodeConfig(args, environ []string) (config.Config, error) {
	fs, err := config.FlagSet("node")
	if err != nil {
		return config.Config{}, err
	}
	return config.Load(fs, args, environ) // Load validates what it loaded
}

// Typo is a change that makes a valid file invalid: From replaced by To.
type Typo struct{ From, To string }

// RefusesTypos checks that load accepts raw and refuses it with each typo
// made in it, so a test that relies on load's strictness can fail.
func RefusesTypos(t testing.TB, name string, raw []byte, load func([]byte) error, typos ...Typo) {
	t.Helper()
	if err := load(raw); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, typo := range typos {
		bad := strings.Replace(string(raw), typo.From, typo.To, 1)
		if bad == string(raw) {
			t.Fatalf("%s has no %q", name, typo.From)
		}
		if err := load([]byte(bad)); err == nil {
			t.Errorf("%s: %q was accepted", name, strings.TrimSpace(typo.To))
		}
	}
}
