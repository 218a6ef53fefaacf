package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// Member is one node as the cluster sees it.
type Member struct {
	// ID is the member id registered in Consul: the node id plus a
	// generation, new each time the node (re)joins after being dropped.
	ID string
	// NodeID is the node incarnation's id in the store.
	NodeID string
	// Address is the node's actor remote address (host:port).
	Address string
}

// MembershipConfig configures a Membership.
type MembershipConfig struct {
	ConsulAddress string
	Service       string
	NodeID        string
	Address       string // this node's actor remote address
	// TTL of the Consul health check; the node heartbeats every TTL/3.
	// A node that misses its heartbeats for TTL is dropped by the others.
	TTL time.Duration
	// MaxBackoff caps the retry delay while Consul is unreachable.
	MaxBackoff time.Duration
	Logger     *slog.Logger
	// WatchOnly follows the members without registering (a cluster client
	// that hosts no profiles).
	WatchOnly bool
	// OnChange receives this node's current member id and the passing
	// members (sorted by ID) after every change, including this node
	// missing from the list.
	OnChange func(self string, members []Member)
}

// Membership registers this node in Consul, keeps its health check
// passing, and watches the other members. It fixes the stock provider's
// failures (../shared/notes/protoactor-go.md):
//   - after a Consul agent restart it registers again (a heartbeat to an
//     unknown check re-registers);
//   - with Consul down it keeps the last members it saw, so the node keeps
//     serving, and retries with capped backoff, logging the first failure
//     and then one line per minute, not a storm;
//   - a node that finds itself missing from the passing members (its check
//     went critical: it was partitioned or paused) is a zombie for the
//     others, so it reports the list without itself (the router then hands
//     its profiles off) and re-joins under a new member id.
type Membership struct {
	cfg    MembershipConfig
	client *api.Client
	log    *slog.Logger

	mu         sync.Mutex
	gen        int
	members    []Member
	registered time.Time // when the current member id was registered
	beat       time.Time // last passing heartbeat

	stop chan struct{}
	done sync.WaitGroup
}

// StartMembership registers the node and starts heartbeating and watching.
// It fails if Consul cannot be reached at start: a node that never joined
// has no business serving a cluster's profiles.
func StartMembership(ctx context.Context, cfg MembershipConfig) (*Membership, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = 6 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	client, err := api.NewClient(&api.Config{Address: cfg.ConsulAddress})
	if err != nil {
		return nil, fmt.Errorf("consul client: %w", err)
	}
	m := &Membership{cfg: cfg, client: client, log: cfg.Logger.With("component", "membership"), stop: make(chan struct{})}
	if cfg.WatchOnly {
		// Fail now if Consul cannot be reached, as a member would.
		if _, err := client.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx)); err != nil {
			return nil, fmt.Errorf("reach consul %s: %w", cfg.ConsulAddress, err)
		}
		m.done.Add(1)
		go m.watch()
		return m, nil
	}
	if err := m.register(ctx); err != nil {
		return nil, fmt.Errorf("join cluster through consul %s: %w", cfg.ConsulAddress, err)
	}
	m.done.Add(2)
	go m.heartbeat()
	go m.watch()
	return m, nil
}

func (m *Membership) memberID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.memberIDLocked()
}

func (m *Membership) memberIDLocked() string {
	return m.cfg.NodeID + "~" + strconv.Itoa(m.gen)
}

// SelfID is this node's current member id.
func (m *Membership) SelfID() string { return m.memberID() }

func checkID(memberID string) string { return "hearth:" + memberID }

func (m *Membership) register(ctx context.Context) error {
	host, portText, err := net.SplitHostPort(m.cfg.Address)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return err
	}
	id := m.memberID()
	reg := &api.AgentServiceRegistration{
		ID:      id,
		Name:    m.cfg.Service,
		Address: host,
		Port:    port,
		Meta:    map[string]string{"node": m.cfg.NodeID},
		Check: &api.AgentServiceCheck{
			CheckID:                        checkID(id),
			TTL:                            m.cfg.TTL.String(),
			Status:                         api.HealthPassing,
			DeregisterCriticalServiceAfter: "1m",
		},
	}
	if err := m.client.Agent().ServiceRegisterOpts(reg, api.ServiceRegisterOpts{}.WithContext(ctx)); err != nil {
		return err
	}
	m.mu.Lock()
	m.registered = time.Now()
	m.beat = m.registered
	m.mu.Unlock()
	m.log.Info("registered in consul", "member", id, "address", m.cfg.Address)
	return nil
}

// heartbeat keeps the check passing and re-registers when the agent has
// forgotten the service (an agent restart, or the check reaped).
func (m *Membership) heartbeat() {
	defer m.done.Done()
	var fails failureLog
	every := m.cfg.TTL / 3
	delay := every
	for {
		select {
		case <-m.stop:
			return
		case <-time.After(delay):
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := m.client.Agent().UpdateTTLOpts(checkID(m.memberID()), "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil && isUnknownCheck(err) {
			m.log.Warn("consul forgot this node (agent restarted?); registering again")
			err = m.register(ctx)
		}
		cancel()
		if err != nil {
			fails.failed(m.log, "consul heartbeat failing; retrying with backoff", err)
			delay = min(max(2*delay, every), m.cfg.MaxBackoff)
			continue
		}
		fails.recovered(m.log, "consul heartbeat recovered")
		m.mu.Lock()
		m.beat = time.Now()
		m.mu.Unlock()
		delay = every
	}
}

func isUnknownCheck(err error) bool {
	var se api.StatusError
	if errors.As(err, &se) && se.Code == 404 {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "404") || strings.Contains(msg, "Unknown check") || strings.Contains(msg, "does not have associated TTL")
}

// watch follows the passing members with blocking queries.
func (m *Membership) watch() {
	defer m.done.Done()
	var fails failureLog
	var index uint64
	delay := time.Duration(0)
	for {
		select {
		case <-m.stop:
			return
		case <-time.After(delay):
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-m.stop:
			case <-ctx.Done():
			}
			cancel()
		}()
		entries, meta, err := m.client.Health().Service(m.cfg.Service, "", true,
			(&api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second}).WithContext(ctx))
		cancel()
		if err != nil {
			select {
			case <-m.stop:
				return
			default:
			}
			fails.failed(m.log, "consul watch failing; keeping the last members and retrying", err)
			delay = min(max(2*delay, 100*time.Millisecond), m.cfg.MaxBackoff)
			continue
		}
		fails.recovered(m.log, "consul watch recovered")
		delay = 0
		if meta.LastIndex < index {
			index = 0 // the agent restarted: its index went back
		} else {
			index = meta.LastIndex
		}
		m.update(entries)
	}
}

// update applies a watch result, handling this node's absence.
func (m *Membership) update(entries []*api.ServiceEntry) {
	members := make([]Member, 0, len(entries))
	for _, e := range entries {
		members = append(members, Member{
			ID:      e.Service.ID,
			NodeID:  e.Service.Meta["node"],
			Address: net.JoinHostPort(e.Service.Address, strconv.Itoa(e.Service.Port)),
		})
	}
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })

	m.mu.Lock()
	self := m.memberIDLocked()
	present := slices.ContainsFunc(members, func(x Member) bool { return x.ID == self })
	// Consul answers with a short delay after a registration; only an
	// absence well after it (and after a heartbeat) means we were dropped.
	dropped := !m.cfg.WatchOnly && !present && time.Since(m.registered) > m.cfg.TTL
	if dropped {
		m.gen++
	}
	changed := !slices.Equal(members, m.members)
	m.members = members
	m.mu.Unlock()

	if changed && m.cfg.OnChange != nil {
		m.cfg.OnChange(self, slices.Clone(members))
	}
	if dropped {
		m.log.Warn("this node was dropped from the membership; its profiles move elsewhere; re-joining under a new member id", "old", self)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), m.cfg.TTL)
			defer cancel()
			if err := m.client.Agent().ServiceDeregisterOpts(self, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
				m.log.Warn("could not deregister the dropped member id; consul reaps it after its check stays critical", "member", self, "err", err)
			}
			if err := m.register(ctx); err != nil {
				m.log.Warn("re-join failed; the heartbeat will retry", "err", err)
			}
		}()
	}
}

// Joined reports whether this node is in the last member list seen.
func (m *Membership) Joined() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	self := m.memberIDLocked()
	return slices.ContainsFunc(m.members, func(x Member) bool { return x.ID == self })
}

// Members is the last passing member list seen.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.members)
}

// Leave deregisters the node and stops heartbeating and watching.
func (m *Membership) Leave(ctx context.Context) error {
	select {
	case <-m.stop:
		return nil
	default:
		close(m.stop)
	}
	m.done.Wait()
	if m.cfg.WatchOnly {
		return nil
	}
	return m.client.Agent().ServiceDeregisterOpts(m.memberID(), (&api.QueryOptions{}).WithContext(ctx))
}

// failureLog logs the first failure of a streak and then at most one line
// a minute, so an unreachable Consul does not flood the log.
type failureLog struct {
	streak int
	last   time.Time
}

func (f *failureLog) failed(log *slog.Logger, msg string, err error) {
	f.streak++
	if f.streak == 1 || time.Since(f.last) >= time.Minute {
		log.Warn(msg, "err", err, "failures", f.streak)
		f.last = time.Now()
	}
}

func (f *failureLog) recovered(log *slog.Logger, msg string) {
	if f.streak > 0 {
		log.Info(msg, "after_failures", f.streak)
	}
	f.streak = 0
}
