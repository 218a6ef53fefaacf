package deploy

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/deploy/grafana"
	"github.com/hearth-profiles/hearth/deploy/internal/check"
)

const composeFile = "compose.yaml"

var nodeServices = []string{"node1", "node2", "node3"}

// loadCompose loads compose.yaml as `docker compose` does: compose-go
// validates it against the Compose specification's schema (unknown keys
// are refused, x- extensions aside), interpolates the environment and
// resolves relative paths.
func loadCompose(t *testing.T, raw []byte, env map[string]string) (*types.Project, error) {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, composeFile), Content: raw}},
		Environment: env,
	}, func(o *loader.Options) { o.ResolvePaths = true })
}

func project(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadCompose(t, check.Read(t, composeFile), map[string]string{"HEARTH_TOKEN": "test-token"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestComposeIsStrict: a misspelt key is refused, and so is starting the
// nodes without a token (they listen beyond loopback inside their network).
func TestComposeIsStrict(t *testing.T) {
	raw := check.Read(t, composeFile)
	if _, err := loadCompose(t, raw, nil); err == nil || !strings.Contains(err.Error(), "HEARTH_TOKEN") {
		t.Errorf("loaded without HEARTH_TOKEN: %v", err)
	}
	check.RefusesTypos(t, composeFile, raw, func(b []byte) error {
		_, err := loadCompose(t, b, map[string]string{"HEARTH_TOKEN": "x"})
		return err
	},
		check.Typo{From: "stop_grace_period:", To: "stop_grace_periode:"},
		check.Typo{From: "    healthcheck:", To: "    healthchek:"},
		check.Typo{From: "      condition: service_completed_successfully", To: "      condition: completed"},
	)
}

func TestComposeNodes(t *testing.T) {
	p := project(t)
	root := check.RepoRoot(t)
	hostPorts := map[string]string{}
	for _, name := range nodeServices {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Build == nil || s.Build.Context != root || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s: build %+v: want deploy/Dockerfile with the repository as its context", name, s.Build)
		}
		cfg := serviceConfig(t, s)
		if cfg.Cluster.AdvertisedHost != name || cfg.Cluster.Port == 0 {
			t.Errorf("%s: other nodes dial %s:%d, want its service name and a fixed port", name, cfg.Cluster.AdvertisedHost, cfg.Cluster.Port)
		}
		db, err := url.Parse(cfg.Database.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.GetService(db.Hostname()); err != nil || db.Hostname() != "cockroach" {
			t.Errorf("%s: database.url names %q, not the cockroach service", name, db.Hostname())
		}
		if host, _, _ := net.SplitHostPort(cfg.Consul.Address); host != "consul" {
			t.Errorf("%s: consul.address %s, not the consul service", name, cfg.Consul.Address)
		}
		if dep, ok := s.DependsOn["cockroach-init"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: must wait for the database to be created", name)
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) < cfg.Drain.Timeout+10*time.Second {
			t.Errorf("%s: stop_grace_period %v is shorter than drain.timeout %s plus 10s to close: Compose would kill the drain", name, s.StopGracePeriod, cfg.Drain.Timeout)
		}
		_, gwPort, _ := net.SplitHostPort(cfg.Gateway.Listen)
		if len(s.Ports) != 1 || s.Ports[0].HostIP != "127.0.0.1" || s.Ports[0].Target != parsePort(t, gwPort) {
			t.Errorf("%s: ports %+v: want the gateway's port published on 127.0.0.1 only", name, s.Ports)
		} else if other, dup := hostPorts[s.Ports[0].Published]; dup {
			t.Errorf("%s and %s publish the same host port", name, other)
		} else {
			hostPorts[s.Ports[0].Published] = name
		}
	}

	init, err := p.GetService("cockroach-init")
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Join(init.Command, " ")
	for _, want := range []string{"CREATE DATABASE IF NOT EXISTS hearth", "CREATE USER IF NOT EXISTS hearth", "ALTER DATABASE hearth OWNER TO hearth"} {
		if !strings.Contains(script, want) {
			t.Errorf("cockroach-init does not run %q", want)
		}
	}
}

// TestComposeMountsExistingFiles: every bind mount's source exists, and
// Prometheus and Grafana find the rules, configuration and dashboard where
// their configurations say.
func TestComposeMountsExistingFiles(t *testing.T) {
	p := project(t)
	targets := map[string]string{} // target in a container -> source
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s, which does not exist", s.Name, v.Source)
			}
			if !v.ReadOnly {
				t.Errorf("%s mounts %s writable; the deployment files are read-only inputs", s.Name, v.Source)
			}
			targets[s.Name+":"+v.Target] = v.Source
		}
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for target, source := range map[string]string{
		"prometheus:/etc/prometheus/prometheus.yml":         "prometheus/prometheus.yml",
		"prometheus:/etc/prometheus/rules/hearth.rules.yml": "prometheus/hearth.rules.yml",
		"grafana:/etc/grafana/provisioning":                 "grafana/provisioning",
		"grafana:" + grafana.DashboardMountPath:             "grafana/dashboards",
	} {
		if got := targets[target]; got != filepath.Join(dir, source) {
			t.Errorf("%s: mounts %q, want %s", target, got, source)
		}
	}
	prom, err := p.GetService("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(prom.Command, "--config.file=/etc/prometheus/prometheus.yml") {
		t.Errorf("prometheus command %v does not read the mounted configuration", prom.Command)
	}
}

// serviceConfig is the configuration a node service starts with, read by
// the node's own loader from its command and environment.
func serviceConfig(t *testing.T, s types.ServiceConfig) config.Config {
	t.Helper()
	var environ []string
	for k, v := range s.Environment {
		if v == nil {
			t.Errorf("%s: %s has no value", s.Name, k)
			continue
		}
		environ = append(environ, k+"="+*v)
	}
	cfg, err := check.NodeConfig(s.Command, environ)
	if err != nil {
		t.Fatalf("%s: the node would refuse its configuration: %v", s.Name, err)
	}
	return cfg
}

func parsePort(t *testing.T, s string) uint32 {
	t.Helper()
	var n uint32
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("port %q", s)
		}
		n = n*10 + uint32(c-'0')
	}
	return n
}
