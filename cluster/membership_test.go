package cluster

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/jonboulle/clockwork"
)

// serviceFor keeps each test's members apart on the shared agent.
func serviceFor(t testing.TB) string {
	return "hearth-" + strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
}

func startMember(t *testing.T, consulAddr, service, node string, ttl time.Duration, onChange func(string, []Member)) *Membership {
	t.Helper()
	return startMemberOn(t, consulAddr, service, node, ttl, clockwork.NewRealClock(), onChange)
}

func startMemberOn(t *testing.T, consulAddr, service, node string, ttl time.Duration, clock clockwork.Clock, onChange func(string, []Member)) *Membership {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := StartMembership(ctx, MembershipConfig{
		ConsulAddress: consulAddr, Service: service, NodeID: node,
		Address: "127.0.0.1:" + map[string]string{"a": "7001", "b": "7002", "c": "7003"}[node],
		TTL:     ttl, OnChange: onChange, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Leave(ctx)
	})
	return m
}

func ids(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.NodeID
	}
	return out
}

// eventuallyMembers waits until m sees exactly the nodes want.
func eventuallyMembers(t *testing.T, m *Membership, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Equal(ids(m.Members()), want) {
		if time.Now().After(deadline) {
			t.Fatalf("members %v, want %v", ids(m.Members()), want)
		}
		time.Sleep(20 * time.Millisecond) // polling a real agent; not a timing assumption
	}
}

func TestMembersSeeEachOtherAndLeave(t *testing.T) {
	svc := serviceFor(t)
	var changes atomic.Int32
	a := startMember(t, consul.HTTPAddr(), svc, "a", 3*time.Second, func(string, []Member) { changes.Add(1) })
	b := startMember(t, consul.HTTPAddr(), svc, "b", 3*time.Second, nil)
	eventuallyMembers(t, a, "a", "b")
	eventuallyMembers(t, b, "a", "b")
	if err := b.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventuallyMembers(t, a, "a")
	if changes.Load() < 2 {
		t.Fatalf("OnChange called %d times", changes.Load())
	}
}

// TestReRegistersAfterAgentRestart: the stock provider's members never
// re-register after the agent restarts empty; ours do, and while they do,
// neither node reports the other (or itself) gone: the member list holds
// through the restart instead of moving every profile twice.
func TestReRegistersAfterAgentRestart(t *testing.T) {
	svc := serviceFor(t)
	var mu sync.Mutex
	var lists [][]string
	a := startMember(t, consul.HTTPAddr(), svc, "a", 2*time.Second, func(_ string, ms []Member) {
		mu.Lock()
		defer mu.Unlock()
		lists = append(lists, ids(ms))
	})
	b := startMember(t, consul.HTTPAddr(), svc, "b", 2*time.Second, nil)
	eventuallyMembers(t, a, "a", "b")
	mu.Lock()
	lists = nil
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := consul.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// The agent lost every registration; both nodes register again.
	client, _ := api.NewClient(&api.Config{Address: consul.HTTPAddr()})
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, _, err := client.Health().Service(svc, "", true, nil)
		if err == nil && len(entries) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not re-registered: %v %v", entries, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	eventuallyMembers(t, a, "a", "b")
	eventuallyMembers(t, b, "a", "b")
	if a.SelfID() != "a~0" || b.SelfID() != "b~0" {
		t.Fatalf("re-joined under new ids %s %s: an agent restart is no drop", a.SelfID(), b.SelfID())
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range lists {
		if !slices.Equal(l, []string{"a", "b"}) {
			t.Fatalf("node a reported %v during the agent restart (all reports: %v)", l, lists)
		}
	}
}

// proxy forwards TCP to target until cut; it counts connection attempts.
type proxy struct {
	ln       net.Listener
	target   string
	cut      atomic.Bool
	attempts atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close(); p.dropAll() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.attempts.Add(1)
			if p.cut.Load() {
				_ = c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	return p
}

func (p *proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// TestConsulDownKeepsMembersWithBackoff: with Consul unreachable the node
// keeps the members it knew and retries with growing delays (the stock
// provider re-polled with no backoff: 100k log lines in 5 s).
func TestConsulDownKeepsMembersWithBackoff(t *testing.T) {
	svc := serviceFor(t)
	p := startProxy(t, consul.HTTPAddr())
	a := startMember(t, p.ln.Addr().String(), svc, "a", 3*time.Second, nil)
	startMember(t, consul.HTTPAddr(), svc, "b", 3*time.Second, nil)
	eventuallyMembers(t, a, "a", "b")

	p.cut.Store(true)
	p.dropAll()
	start := time.Now()
	before := p.attempts.Load()
	// Wait for 8 refused attempts (heartbeat and watch together).
	for p.attempts.Load()-before < 8 {
		if time.Since(start) > 30*time.Second {
			t.Fatal("no retries while consul is down")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("8 retries in %v: no backoff", took)
	}
	if got := ids(a.Members()); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("members forgotten while consul is down: %v", got)
	}
	p.cut.Store(false)
	eventuallyMembers(t, a, "a", "b")
}

// TestDroppedNodeRejoinsUnderNewID: when its check goes critical the node
// sees itself missing, reports the list without itself (so its profiles go
// elsewhere) and re-joins under a new member id. The registration grace
// (one TTL, in which an absence is Consul's delay, not a drop) runs on the
// injected clock: the check's TTL is long in real time, and the test moves
// the node's clock past the grace instead of sleeping through it.
func TestDroppedNodeRejoinsUnderNewID(t *testing.T) {
	svc := serviceFor(t)
	clock := clockwork.NewFakeClock()
	var mu sync.Mutex
	var lists [][]string
	a := startMemberOn(t, consul.HTTPAddr(), svc, "a", time.Minute, clock, func(_ string, ms []Member) {
		mu.Lock()
		defer mu.Unlock()
		var l []string
		for _, m := range ms {
			l = append(l, m.ID)
		}
		lists = append(lists, l)
	})
	eventuallyMembers(t, a, "a")
	old := a.SelfID()
	// Past the registration grace. The heartbeat's timer fires on the way:
	// wait until it waits again, so its passing update cannot land after
	// the failure below.
	clock.Advance(time.Minute + time.Nanosecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal("heartbeat did not wait again")
	}
	client, _ := api.NewClient(&api.Config{Address: consul.HTTPAddr()})
	if err := client.Agent().FailTTL(checkID(old), "test: partitioned"); err != nil {
		t.Fatal(err)
	}
	for a.SelfID() == old || !slices.ContainsFunc(a.Members(), func(m Member) bool { return m.ID == a.SelfID() }) {
		if ctx.Err() != nil {
			t.Fatalf("did not re-join: self %s members %v", a.SelfID(), a.Members())
		}
		time.Sleep(20 * time.Millisecond) // polling a real agent
	}
	mu.Lock()
	defer mu.Unlock()
	sawEmpty := slices.ContainsFunc(lists, func(l []string) bool { return len(l) == 0 })
	if !sawEmpty {
		t.Fatalf("never reported itself gone: %v", lists)
	}
}

// TestAbsenceWithinGraceIsNotADrop: the same absence before one TTL has
// passed since the registration (by the node's clock) is Consul's delay,
// not a drop: the node keeps its member id.
func TestAbsenceWithinGraceIsNotADrop(t *testing.T) {
	svc := serviceFor(t)
	clock := clockwork.NewFakeClock()
	a := startMemberOn(t, consul.HTTPAddr(), svc, "a", time.Minute, clock, nil)
	eventuallyMembers(t, a, "a")
	old := a.SelfID()
	client, _ := api.NewClient(&api.Config{Address: consul.HTTPAddr()})
	if err := client.Agent().FailTTL(checkID(old), "test: partitioned"); err != nil {
		t.Fatal(err)
	}
	eventuallyMembers(t, a) // it saw the list without itself
	if a.SelfID() != old {
		t.Fatalf("re-joined as %s within the registration grace", a.SelfID())
	}
}
