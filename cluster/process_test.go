package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/cluster/client"
	"github.com/hearth-profiles/hearth/internal/testenv/freeport"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

// Integration tests run real node processes (cmd/node) against the
// package's PostgreSQL and Consul, so a node can be sent SIGTERM, SIGSTOP or
// kill -9 like in production, and nodes share nothing but the network, the
// database and Consul.

// nodeBinary builds cmd/node once per test binary.
var nodeBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hearth-node-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "node")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/hearth-profiles/hearth/cmd/node").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build node: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is one node process.
type proc struct {
	id      string
	gateway string
	cmd     *exec.Cmd
	mu      sync.Mutex
	log     bytes.Buffer
	exited  chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *proc) client() hearthv1connect.ProfileServiceClient {
	return hearthv1connect.NewProfileServiceClient(http.DefaultClient, "http://"+p.gateway)
}

// testCluster is a set of node processes sharing a database and a Consul
// service.
type testCluster struct {
	t       *testing.T
	dbURL   string
	service string
	procs   []*proc
	env     []string // extra HEARTH_* settings for every node started
}

func newTestCluster(t *testing.T) *testCluster {
	return &testCluster{t: t, dbURL: pg.NewDatabase(t), service: serviceFor(t)}
}

// start launches a node and waits until it is ready (joined and leased).
func (c *testCluster) start(id string) *proc {
	t := c.t
	t.Helper()
	bin, err := nodeBinary()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := freeport.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{id: id, gateway: fmt.Sprintf("127.0.0.1:%d", ports[0]), exited: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(environWithoutHearth(),
		"HEARTH_NODE__ID="+id,
		"HEARTH_DATABASE__URL="+c.dbURL,
		"HEARTH_DATABASE__MAX_CONNS=4",
		"HEARTH_CONSUL__ADDRESS="+consul.HTTPAddr(),
		"HEARTH_CONSUL__SERVICE="+c.service,
		"HEARTH_GATEWAY__LISTEN="+p.gateway,
		"HEARTH_LEASE__TTL=3s",
		"HEARTH_LEASE__RENEW=1s",
		"HEARTH_PROFILES__AUTOSAVE_INTERVAL=1s",
		"HEARTH_DRAIN__TIMEOUT=30s",
		"HEARTH_LOG__LEVEL=info",
	)
	p.cmd.Env = append(p.cmd.Env, c.env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("--- log of %s ---\n%s", id, p.logs())
		}
	})
	c.procs = append(c.procs, p)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := http.Get("http://" + p.gateway + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("node %s exited at start:\n%s", id, p.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not ready:\n%s", id, p.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMembers waits until every listed node's log-independent view agrees:
// each gateway routes, which it does once Consul lists all of them.
func (c *testCluster) waitMembers(n int) {
	c.t.Helper()
	cl := consulClient(c.t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, _, err := cl.Health().Service(c.service, "", true, nil)
		if err == nil && len(entries) == n {
			time.Sleep(200 * time.Millisecond) // let the nodes' blocking queries deliver it
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("consul lists %d members, want %d", len(entries), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) waitExit(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("node %s did not exit:\n%s", p.id, p.logs())
	}
}

func clients(ps ...*proc) []hearthv1connect.ProfileServiceClient {
	out := make([]hearthv1connect.ProfileServiceClient, len(ps))
	for i, p := range ps {
		out[i] = p.client()
	}
	return out
}

// TestScaleOutAndSIGTERMLoseNothing: writes go on while a third node joins
// (profiles move to it) and then a node is sent SIGTERM (it drains and
// leaves). No acknowledged write of either lane is lost, none applies
// twice, no new owner serves a stale version.
func TestScaleOutAndSIGTERMLoseNothing(t *testing.T) {
	c := newTestCluster(t)
	a, b := c.start("node-a"), c.start("node-b")
	c.waitMembers(2)
	w := newWriter(t, 40)
	w.setClients(clients(a, b)...)
	w.start(8)
	w.waitAcked(t, 300)

	n3 := c.start("node-c")
	c.waitMembers(3)
	w.setClients(clients(a, b, n3)...)
	w.waitAcked(t, w.total()+300)

	w.setClients(clients(a, n3)...)
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b.waitExit(t, 30*time.Second)
	if !strings.Contains(b.logs(), "msg=drained") {
		t.Fatalf("node-b did not drain:\n%s", b.logs())
	}
	w.waitAcked(t, w.total()+300)
	w.finish(t)
	w.verifyExact(t, a.client())
	w.verifyExact(t, n3.client())
}

// TestKillNineLosesNoDurableWrite: a node is killed with SIGKILL during
// writes. Every durable acknowledgement survives; memory-lane writes since
// the node's last save may be lost, but nothing applies twice; the dead
// node's profiles are served again within the lease TTL plus a margin.
func TestKillNineLosesNoDurableWrite(t *testing.T) {
	c := newTestCluster(t)
	a, b := c.start("node-a"), c.start("node-b")
	c.waitMembers(2)
	w := newWriter(t, 30)
	w.setClients(clients(a)...) // callers use a; half the profiles live on b
	w.start(6)
	w.waitAcked(t, 300)

	w.crashy.Store(true)
	killed := time.Now()
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	b.waitExit(t, 10*time.Second)
	// Every profile answers writes again soon: wait for one more
	// acknowledged write on each.
	before := w.snapshot()
	deadline := killed.Add(3*time.Second + 10*time.Second) // lease TTL + margin
	for p := range w.profiles {
		for w.acked[p].Load() <= before[p] {
			if time.Now().After(deadline) {
				t.Fatalf("profile %d not served again %v after the kill", p, time.Since(killed))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("all profiles served again %v after kill -9 (lease TTL 3s)", time.Since(killed).Round(10*time.Millisecond))
	w.finish(t)
	w.verifyDurable(t, a.client())
}

// TestPausedNodeIsFencedNotObeyed: a node is frozen (SIGSTOP, as a long GC
// pause or a partition) past its lease; the others take its profiles. When
// it wakes, its stale saves are refused by the store and counted, it drains
// and exits, and no durable write made meanwhile is overwritten.
func TestPausedNodeIsFencedNotObeyed(t *testing.T) {
	c := newTestCluster(t)
	a, b := c.start("node-a"), c.start("node-b")
	c.waitMembers(2)
	w := newWriter(t, 30)
	w.setClients(clients(a)...)
	w.start(6)
	w.waitAcked(t, 300)

	w.crashy.Store(true)
	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Writes to b's profiles resume once a takes them over.
	w.waitAcked(t, w.total()+600)
	// Make sure b has unsaved memory writes to try: it has, from before the
	// pause (autosave runs every second, writes arrive faster).
	if err := b.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	b.waitExit(t, 30*time.Second)
	logs := b.logs()
	if !strings.Contains(logs, "lease lost") {
		t.Fatalf("paused node did not notice its lost lease:\n%s", logs)
	}
	fenced := strings.Count(logs, "fenced: another activation owns")
	if fenced == 0 {
		t.Fatalf("the paused node's stale activations were not fenced:\n%s", logs)
	}
	w.waitAcked(t, w.total()+100)
	w.finish(t)
	w.verifyDurable(t, a.client())
	t.Logf("paused node: %d stale activations fenced (refused by the store, counted, stopped)", fenced)
}

// TestClusterSurvivesConsulRestart: the Consul agent restarts empty; the
// nodes register again by themselves and keep serving.
func TestClusterSurvivesConsulRestart(t *testing.T) {
	c := newTestCluster(t)
	a, b := c.start("node-a"), c.start("node-b")
	c.waitMembers(2)
	w := newWriter(t, 20)
	w.setClients(clients(a, b)...)
	w.start(4)
	w.waitAcked(t, 200)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := consul.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitMembers(2)
	w.waitAcked(t, w.total()+300)
	w.finish(t)
	w.verifyExact(t, a.client())
}

// environWithoutHearth is the test's environment minus HEARTH_* variables:
// the test harness's own (HEARTH_CONSUL_BIN, HEARTH_TEST_*) are not node
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

// TestClusterClient: a Go game server joins as a cluster client (Consul,
// no profiles hosted) and its requests reach the owning nodes directly.
func TestClusterClient(t *testing.T) {
	c := newTestCluster(t)
	a, b := c.start("node-a"), c.start("node-b")
	c.waitMembers(2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := DialCluster(ctx, ClientConfig{ConsulAddress: consul.HTTPAddr(), Service: c.service})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for len(conn.Members()) != 2 {
		if ctx.Err() != nil {
			t.Fatalf("client sees %v", conn.Members())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cl := client.New(conn, client.Options{})
	for i := range 20 {
		if _, err := cl.Update(ctx, &hearthv1.UpdateRequest{Profile: profileRef(i), Durability: hearthv1.Durability_DURABILITY_DURABLE,
			Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/via", Value: `"cluster client"`}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Every profile reads back through either gateway, wherever it lives.
	for i := range 20 {
		for _, p := range []*proc{a, b} {
			res, err := client.New(client.NewGateway(nil, "http://"+p.gateway, ""), client.Options{}).
				Get(ctx, &hearthv1.GetRequest{Profile: profileRef(i), Path: "/via"})
			if err != nil || res.GetValue() != `"cluster client"` {
				t.Fatalf("profile %d via %s: %v %v", i, p.id, res, err)
			}
		}
	}
}
