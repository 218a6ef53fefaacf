package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env []string) (Config, error) {
	t.Helper()
	fs, err := FlagSet("node")
	if err != nil {
		t.Fatal(err)
	}
	return Load(fs, args, env)
}

func TestDefaultsAreTheEmbeddedNode(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.URL != "" || c.Consul.Address != "" || c.DataDir != "./data" || c.Gateway.Listen != "127.0.0.1:8080" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.yaml")
	yaml := `
data_dir: /from/file
lease:
  ttl: 20s
  renew: 4s
gateway:
  listen: 127.0.0.1:9000
log:
  level: debug
namespaces:
  game:
    template: {coins: 0, settings: {music: true}}
    migrations:
      - version: 2
        actions: [{kind: rename, path: /gold, to: coins}]
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(t,
		[]string{"--config", path, "--gateway.listen", "127.0.0.1:9100"},
		[]string{"HEARTH_DATA_DIR=/from/env", "HEARTH_GATEWAY__LISTEN=127.0.0.1:9050", "HEARTH_LEASE__TTL=30s", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/from/env" || c.Gateway.Listen != "127.0.0.1:9100" || c.Lease.TTL != 30*time.Second || c.Lease.Renew != 4*time.Second || c.Log.Level != "debug" {
		t.Fatalf("precedence: %+v", c)
	}
	ns, ok := c.Namespaces["game"]
	if !ok || ns.Migrations.Current() != 2 || ns.Template == nil {
		t.Fatalf("namespaces: %+v", c.Namespaces)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		args []string
		env  []string
	}{
		{"open gateway without token", []string{"--gateway.listen", "0.0.0.0:8080"}, nil},
		{"cluster without database", []string{"--consul.address", "127.0.0.1:8500"}, nil},
		{"renew too slow", []string{"--lease.renew", "10s", "--lease.ttl", "15s"}, nil},
		{"safety margin eats the lease", []string{"--lease.safety_margin", "4s"}, nil},
		{"negative safety margin", []string{"--lease.safety_margin", "-1s"}, nil},
		{"check ttl past the lease", []string{"--consul.check_ttl", "5s"}, nil},
		{"bad log format", []string{"--log.format", "xml"}, nil},
		{"unknown env key", nil, []string{"HEARTH_GATEWAY__LISTN=x"}},
		{"unknown file key", []string{"--config", write("a.yaml", "gatway: {listen: x}")}, nil},
		{"misspelt migration", []string{"--config", write("b.yaml", "namespaces: {g: {migrations: [{version: 2, actoins: []}]}}")}, nil},
		{"template not an object", []string{"--config", write("c.yaml", "namespaces: {g: {template: [1]}}")}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := load(t, c.args, c.env); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := load(t, []string{"--gateway.listen", "0.0.0.0:8080", "--gateway.token", "s3cret"}, nil); err != nil {
		t.Fatalf("open gateway with a token: %v", err)
	}
}

func TestHelpIsComplete(t *testing.T) {
	fs, err := FlagSet("node")
	if err != nil {
		t.Fatal(err)
	}
	usage := fs.FlagUsages()
	for key := range help() {
		if !strings.Contains(usage, "--"+key) {
			t.Errorf("--help lacks %s", key)
		}
	}
}
