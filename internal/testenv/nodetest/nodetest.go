// Package nodetest starts real Hearth node processes (cmd/node) for tests
// outside package cluster: N nodes sharing a throwaway PostgreSQL database
// (internal/testenv/pgtest) and a Consul agent (internal/testenv/consultest),
// each on its own gateway port, waited on until every one is ready and
// Consul lists all of them, and killed when the test ends (their logs are
// printed if it failed).
//
//	var pg *pgtest.Server; var consul *consultest.Agent  // from TestMain
//
//	func TestSomething(t *testing.T) {
//		c := nodetest.Start(t, 2, nodetest.Options{
//			DatabaseURL: pg.NewDatabase(t), ConsulAddr: consul.HTTPAddr(),
//		})
//		resp, err := http.Post(c.Nodes[0].URL()+"/hearth.v1.ProfileService/Get", ...)
//	}
//
// It is modelled on cluster/process_test.go, which keeps its own copy
// because it also reaches into package cluster's internals.
package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/internal/testenv/freeport"
)

// Options configures the nodes of a cluster.
type Options struct {
	// DatabaseURL is the database every node uses (pgtest's NewDatabase).
	DatabaseURL string
	// ConsulAddr is the Consul agent's HTTP address. Empty runs each node
	// alone (no membership): only useful with one node.
	ConsulAddr string
	// Service is the Consul service name; empty derives one from the
	// test's name, so tests sharing an agent stay apart.
	Service string
	// Binary is the node binary; empty builds cmd/node (Build) into a
	// temporary directory.
	Binary string
	// Token, if set, is the gateway's bearer token.
	Token string
	// Env holds extra HEARTH_* settings ("HEARTH_PROFILES__SESSION_TTL=5s"),
	// applied after the defaults below, so they override them.
	Env []string
	// ReadyTimeout bounds the wait for each node and for membership
	// (default 60 s).
	ReadyTimeout time.Duration
}

// defaultEnv are settings that keep tests fast: short leases (a killed
// node's profiles move in seconds), frequent autosaves, few connections.
var defaultEnv = []string{
	"HEARTH_DATABASE__MAX_CONNS=4",
	"HEARTH_LEASE__TTL=3s",
	"HEARTH_LEASE__RENEW=1s",
	"HEARTH_PROFILES__AUTOSAVE_INTERVAL=1s",
	"HEARTH_DRAIN__TIMEOUT=30s",
	"HEARTH_LOG__LEVEL=info",
}

// Cluster is a set of node processes sharing a database and a Consul
// service.
type Cluster struct {
	t     testing.TB
	opts  Options
	Nodes []*Node
}

// Node is one node process.
type Node struct {
	ID string
	// Gateway is host:port of the node's HTTP gateway.
	Gateway string
	cmd     *exec.Cmd
	exited  chan struct{}
	mu      sync.Mutex
	log     bytes.Buffer
}

// URL is the gateway's base URL.
func (n *Node) URL() string { return "http://" + n.Gateway }

// Write collects the process's output.
func (n *Node) Write(b []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.Write(b)
}

// Logs returns what the process printed so far.
func (n *Node) Logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// Signal sends sig to the process.
func (n *Node) Signal(sig os.Signal) error { return n.cmd.Process.Signal(sig) }

// WaitExit waits up to within for the process to exit and reports whether
// it did.
func (n *Node) WaitExit(within time.Duration) bool {
	select {
	case <-n.exited:
		return true
	case <-time.After(within):
		return false
	}
}

// ExitCode waits up to within for the process to exit and returns its exit
// status (-1 if a signal ended it); ok is false if it did not exit.
func (n *Node) ExitCode(within time.Duration) (code int, ok bool) {
	if !n.WaitExit(within) {
		return -1, false
	}
	return n.cmd.ProcessState.ExitCode(), true
}

// Build compiles cmd/node into dir and returns the binary's path. It runs
// `go build` from the module that holds this package, so it works from any
// test package's directory.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "hearth-node")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/hearth-profiles/hearth/cmd/node")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("nodetest: build cmd/node: %w\n%s", err, out)
	}
	return bin, nil
}

// Start launches n nodes ("node-1", ...), waits until each is ready and,
// with Consul, until Consul lists all of them as passing. The nodes are
// killed when the test ends.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if opts.DatabaseURL == "" {
		t.Fatal("nodetest: Options.DatabaseURL is required")
	}
	if n > 1 && opts.ConsulAddr == "" {
		t.Fatal("nodetest: more than one node needs Options.ConsulAddr")
	}
	if opts.Service == "" {
		opts.Service = ServiceFor(t)
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.Binary == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		bin, err := Build(ctx, t.TempDir())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		opts.Binary = bin
	}
	c := &Cluster{t: t, opts: opts}
	for i := range n {
		c.Add(fmt.Sprintf("node-%d", i+1))
	}
	if opts.ConsulAddr != "" {
		c.WaitMembers(len(c.Nodes))
	}
	return c
}

// ServiceFor is a Consul service name unique to the test.
func ServiceFor(t testing.TB) string {
	return "hearth-" + strings.NewReplacer("/", "-", "_", "-", " ", "-").Replace(strings.ToLower(t.Name()))
}

// Add launches one more node and waits until it is ready.
func (c *Cluster) Add(id string) *Node {
	t := c.t
	t.Helper()
	ports, err := freeport.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{ID: id, Gateway: fmt.Sprintf("127.0.0.1:%d", ports[0]), exited: make(chan struct{})}
	env := append(environWithoutHearth(),
		"HEARTH_NODE__ID="+id,
		"HEARTH_DATABASE__URL="+c.opts.DatabaseURL,
		"HEARTH_GATEWAY__LISTEN="+n.Gateway,
	)
	if c.opts.ConsulAddr != "" {
		env = append(env, "HEARTH_CONSUL__ADDRESS="+c.opts.ConsulAddr, "HEARTH_CONSUL__SERVICE="+c.opts.Service)
	}
	if c.opts.Token != "" {
		env = append(env, "HEARTH_GATEWAY__TOKEN="+c.opts.Token)
	}
	env = append(env, defaultEnv...)
	env = append(env, c.opts.Env...)
	n.cmd = exec.Command(c.opts.Binary)
	n.cmd.Env = env
	n.cmd.Stdout, n.cmd.Stderr = n, n
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGCONT)
		_ = n.cmd.Process.Kill()
		<-n.exited
		if t.Failed() {
			t.Logf("--- log of %s ---\n%s", id, n.Logs())
		}
	})
	c.Nodes = append(c.Nodes, n)
	deadline := time.Now().Add(c.opts.ReadyTimeout)
	for {
		r, err := http.Get(n.URL() + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return n
			}
		}
		select {
		case <-n.exited:
			t.Fatalf("nodetest: node %s exited at start:\n%s", id, n.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodetest: node %s not ready after %v:\n%s", id, c.opts.ReadyTimeout, n.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitMembers waits until Consul lists n passing instances of the
// cluster's service, then a moment more for the nodes' blocking queries
// to deliver the list (the nodes route by it).
func (c *Cluster) WaitMembers(n int) {
	c.t.Helper()
	u := fmt.Sprintf("http://%s/v1/health/service/%s?passing=true", c.opts.ConsulAddr, url.PathEscape(c.opts.Service))
	deadline := time.Now().Add(c.opts.ReadyTimeout)
	got := -1
	for {
		if r, err := http.Get(u); err == nil {
			var entries []json.RawMessage
			if r.StatusCode == http.StatusOK && json.NewDecoder(r.Body).Decode(&entries) == nil {
				got = len(entries)
			}
			r.Body.Close()
		}
		if got == n {
			time.Sleep(300 * time.Millisecond)
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nodetest: Consul lists %d members of %s, want %d", got, c.opts.Service, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URLs returns every node's gateway base URL.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.URL()
	}
	return out
}

// environWithoutHearth is the test's environment minus HEARTH_* variables:
// the harness's own (HEARTH_CONSUL_BIN, HEARTH_TEST_*) are not node
// settings, and the node refuses unknown HEARTH_ variables.
func environWithoutHearth() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HEARTH_") {
			out = append(out, kv)
		}
	}
	return out
}
