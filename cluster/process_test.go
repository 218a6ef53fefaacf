package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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

	"github.com/hearth-profiles/hearth/actors/profile"
	"github.com/hearth-profiles/hearth/cluster/client"
	"github.com/hearth-profiles/hearth/internal/testenv/freeport"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
	"github.com/hearth-profiles/hearth/persistence"
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
	t       testing.TB
	dbURL   string
	service string
	procs   []*proc
	env     []string // extra HEARTH_* settings for every node started
}

// newTestCluster makes an empty cluster: its own database and Consul
// service (a benchmark makes several per test name).
func newTestCluster(t testing.TB) *testCluster {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &testCluster{t: t, dbURL: pg.NewDatabase(t), service: serviceFor(t) + "-" + hex.EncodeToString(b[:])}
}

// stop kills every node still running (the test's cleanup does too; a
// benchmark running several clusters stops each before the next).
func (c *testCluster) stop() {
	for _, p := range c.procs {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// start launches a node and waits until it is ready (joined and leased).
// env adds or overrides settings (the last value of a key wins).
func (c *testCluster) start(id string, env ...string) *proc {
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
	p.cmd.Env = append(p.cmd.Env, env...)
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

func (p *proc) waitExit(t testing.TB, within time.Duration) {
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
//
// The drained node reaches the database through a proxy that the test
// cuts when the drain starts and restores only after the node has failed
// to save: the final saves must be retried, and a drain that does not wait
// for every profile's final save (the node would exit, or release its
// lease, with memory-lane writes unsaved) loses acknowledged writes here.
func TestScaleOutAndSIGTERMLoseNothing(t *testing.T) {
	c := newTestCluster(t)
	db := startProxy(t, dbHostPort(t, c.dbURL))
	a := c.start("node-a")
	b := c.start("node-b", "HEARTH_DATABASE__URL="+withHost(t, c.dbURL, db.ln.Addr().String()))
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
	db.cut.Store(true)
	db.dropAll()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Restore the database once the drain has tried twice and failed to
	// save (an autosave cut short before the drain does not count). The
	// drain cannot have finished: its final saves have not committed.
	b.waitLogAfter(t, "shutting down: draining", "save failed", 2, 30*time.Second)
	if l := b.logs(); strings.Contains(l[strings.Index(l, "shutting down: draining"):], "msg=drained") {
		t.Fatalf("node-b reported drained while no final save could commit:\n%s", l)
	}
	db.cut.Store(false)
	b.waitExit(t, 30*time.Second)
	if !strings.Contains(b.logs(), "msg=drained") {
		t.Fatalf("node-b did not drain:\n%s", b.logs())
	}
	w.waitAcked(t, w.total()+300)
	w.finish(t)
	w.verifyExact(t, a.client())
	w.verifyExact(t, n3.client())
}

// waitLogAfter waits until the node's log contains text n times after the
// first line containing marker.
func (p *proc) waitLogAfter(t *testing.T, marker, text string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		l := p.logs()
		if i := strings.Index(l, marker); i >= 0 && strings.Count(l[i:], text) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s never logged %q:\n%s", p.id, text, p.logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dbHostPort is the host:port of a database URL.
func dbHostPort(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// withHost is dbURL pointing at another host:port.
func withHost(t *testing.T, dbURL, hostPort string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostPort
	return u.String()
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

	killed := time.Now()
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	b.waitExit(t, 10*time.Second)
	// Every profile answers writes again within the lease TTL plus a
	// second: the new owner's activation retries its acquire right when the
	// dead node's lease lapses. (The bound is loose for a noisy machine;
	// BenchmarkRecovery measures it.)
	before := w.snapshot()
	maxBefore := w.maxVersions()                          // writes in flight at the kill may add to it; that is fine
	deadline := killed.Add(3*time.Second + 3*time.Second) // lease TTL + margin
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
	w.versionsAfter(t, a.client(), maxBefore)
}

// TestPausedNodeIsFencedNotObeyed: a node is frozen (SIGSTOP, as a long GC
// pause or a partition) past its lease; the others take its profiles. When
// it wakes, its stale saves are refused by the store and counted, it drains
// and exits, and no durable write made meanwhile is overwritten.
//
// It also acknowledges nothing: writes keep being sent to its gateway
// during the pause and after it, and every one sent after the freeze is
// refused (the lease gate: UNAVAILABLE, FENCED) or unanswered. Without the
// gate the node answers the requests queued during the pause at once on
// waking, before it notices its lease lapsed, and those acknowledged writes
// die with its fenced saves.
func TestPausedNodeIsFencedNotObeyed(t *testing.T) {
	c := newTestCluster(t)
	a, b := c.start("node-a"), c.start("node-b")
	c.waitMembers(2)
	w := newWriter(t, 30)
	w.setClients(clients(a)...)
	w.start(6)
	w.waitAcked(t, 300)
	// The profiles b owns, by the placement both nodes compute.
	members := []Member{{ID: "node-a~0", NodeID: "node-a"}, {ID: "node-b~0", NodeID: "node-b"}}
	var onB []int
	for i := range w.profiles {
		k, _ := profileKeyOf(profileRef(i))
		if owner(members, k).NodeID == "node-b" {
			onB = append(onB, i)
		}
	}
	pr := startProber(b.client(), onB, 20*time.Millisecond)
	deadline := time.Now().Add(30 * time.Second)
	for okBefore(pr) < 10 {
		if time.Now().After(deadline) {
			t.Fatal("node-b answered no probe before the pause")
		}
		time.Sleep(10 * time.Millisecond)
	}

	stopped := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// a takes over b's profiles once b's lease lapses: wait for a write
	// acknowledged on each of them.
	before := w.snapshot()
	for _, p := range onB {
		for w.acked[p].Load() <= before[p] {
			if time.Now().After(stopped.Add(60 * time.Second)) {
				t.Fatalf("profile %d not taken over during the pause", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// b has unsaved memory writes to try: from before the pause (autosave
	// runs every second, writes arrive faster).
	resumed := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	b.waitExit(t, 30*time.Second)
	acks := pr.finish()
	logs := b.logs()
	if !strings.Contains(logs, "lease lost") {
		t.Fatalf("paused node did not notice its lost lease:\n%s", logs)
	}
	fenced := strings.Count(logs, "fenced: another activation owns")
	if fenced == 0 {
		t.Fatalf("the paused node's stale activations were not fenced:\n%s", logs)
	}

	outcomes := map[string]int{}
	refused := 0
	for _, a := range acks {
		if a.sent.Before(stopped) {
			continue
		}
		outcomes[a.outcome]++
		switch a.outcome {
		case "ok":
			t.Errorf("probe %d (profile %d) sent %v into the pause was acknowledged by the paused node at %v after its wake-up",
				a.n, a.profile, a.sent.Sub(stopped).Round(time.Millisecond), a.done.Sub(resumed).Round(time.Millisecond))
		case "refused":
			refused++
		case "transport":
		default:
			t.Errorf("probe %d sent during the pause: unexpected answer %v", a.n, a.err)
		}
	}
	t.Logf("probes sent to the paused node from its freeze on: %v", outcomes)
	if refused == 0 {
		t.Fatal("the paused node answered none of the requests sent during its pause: the lease gate went untested")
	}
	w.waitAcked(t, w.total()+100)
	w.finish(t)
	w.verifyDurable(t, a.client())
	// An acknowledgement that reached the caller after the wake-up must be
	// durable in the new owner's state, not only in the fenced node's memory.
	docs := map[int]map[string]json.RawMessage{}
	for _, x := range acks {
		if x.outcome != "ok" || x.done.Before(resumed) {
			continue
		}
		if docs[x.profile] == nil {
			docs[x.profile] = documentKeys(t, a.client(), x.profile)
		}
		if _, ok := docs[x.profile][fmt.Sprint("p", x.n)]; !ok {
			t.Errorf("probe %d (profile %d) acknowledged %v after the wake-up is lost", x.n, x.profile, x.done.Sub(resumed))
		}
	}
	t.Logf("paused node: %d stale activations fenced (refused by the store, counted, stopped)", fenced)
}

func okBefore(p *prober) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.acks {
		if a.outcome == "ok" {
			n++
		}
	}
	return n
}

// profileKeyOf is the store key of a profile reference.
func profileKeyOf(ref *hearthv1.ProfileRef) (persistence.ProfileKey, error) {
	return profile.KeyOf(&hearthv1.GetRequest{Profile: ref})
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

// dialUntilMembers dials a cluster client with cfg and waits until it sees
// n members.
func dialUntilMembers(t *testing.T, ctx context.Context, cfg ClientConfig, n int) *ClientConn {
	t.Helper()
	conn, err := DialCluster(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for len(conn.Members()) != n {
		if ctx.Err() != nil {
			conn.Close()
			t.Fatalf("client sees %v", conn.Members())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return conn
}

// TestClusterClient: a Go game server joins as a cluster client (Consul,
// no profiles hosted) and its requests reach the owning nodes directly.
func TestClusterClient(t *testing.T) {
	c := newTestCluster(t)
	a, b := c.start("node-a"), c.start("node-b")
	c.waitMembers(2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := dialUntilMembers(t, ctx, ClientConfig{ConsulAddress: consul.HTTPAddr(), Service: c.service}, 2)
	defer conn.Close()
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
