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
	"github.com/jonboulle/clockwork"

	"github.com/hearth-profiles/hearth/config"
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

// ConsulAccess is how a node or cluster client authenticates to Consul and
// encrypts its traffic there (docs/OPERATIONS.md, "Consul ACLs and TLS").
type ConsulAccess struct {
	// Token is the ACL token, or TokenFile a file holding it (read once,
	// at start). The token needs service:write on the service and
	// node:read / service:read to list the members; a cluster client only
	// the reads.
	Token, TokenFile string
	// Scheme is "http" (default) or "https".
	Scheme string
	// TLS: CAFile verifies the agent (empty: system roots), CertFile and
	// KeyFile are a client certificate, ServerName the name checked.
	TLS config.TLSConfig
}

// apiConfig is the Consul client configuration for address. Consul's
// environment variables (CONSUL_HTTP_TOKEN, ...) fill what is not set, as
// the consul CLI does.
func (a ConsulAccess) apiConfig(address string) *api.Config {
	return &api.Config{
		Address:   address,
		Scheme:    a.Scheme,
		Token:     a.Token,
		TokenFile: a.TokenFile,
		TLSConfig: api.TLSConfig{
			Address:  a.TLS.ServerName,
			CAFile:   a.TLS.CAFile,
			CertFile: a.TLS.CertFile,
			KeyFile:  a.TLS.KeyFile,
		},
	}
}

// MembershipConfig configures a Membership.
type MembershipConfig struct {
	ConsulAddress string
	Access        ConsulAccess
	Service       string
	NodeID        string
	Address       string // this node's actor remote address
	// TTL of the Consul health check; the node heartbeats every TTL/3.
	// A node that misses its heartbeats for TTL is dropped by the others.
	TTL time.Duration
	// MaxBackoff caps the retry delay while Consul is unreachable
	// (default 1 s: a retry to the local agent is cheap, and a restarted
	// agent must see the node again within about a second).
	MaxBackoff time.Duration
	Clock      clockwork.Clock
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
// failures (protoactor-go's Consul provider, see docs/ARCHITECTURE.md):
//   - after a Consul agent restart it registers again (a heartbeat to an
//     unknown check re-registers) and reads the members afresh at once:
//     whichever of heartbeat and watch first reaches the agent again wakes
//     the other, and the watch starts over from index 0 (a restarted
//     agent's index is lower than the last one seen, and a blocking query
//     waiting for it to pass the old one would sleep its whole wait);
//   - right after Consul comes back it keeps members that have not yet
//     re-registered for one check TTL (settling), so an agent restart does
//     not move their profiles;
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
	settle     time.Time // until then, members missing from Consul are kept

	// wakeBeat and wakeWatch (capacity 1) make a loop try again at once.
	wakeBeat  chan struct{}
	wakeWatch chan struct{}
	stop      chan struct{}
	done      sync.WaitGroup
}

// StartMembership registers the node and starts heartbeating and watching.
// It fails if Consul cannot be reached at start: a node that never joined
// has no business serving a cluster's profiles.
func StartMembership(ctx context.Context, cfg MembershipConfig) (*Membership, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = 6 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	client, err := api.NewClient(cfg.Access.apiConfig(cfg.ConsulAddress))
	if err != nil {
		return nil, fmt.Errorf("consul client: %w", err)
	}
	m := &Membership{cfg: cfg, client: client, log: cfg.Logger.With("component", "membership"),
		wakeBeat: make(chan struct{}, 1), wakeWatch: make(chan struct{}, 1), stop: make(chan struct{})}
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
	m.registered = m.cfg.Clock.Now()
	m.beat = m.registered
	m.mu.Unlock()
	m.log.Info("registered in consul", "member", id, "address", m.cfg.Address)
	return nil
}

// heartbeat keeps the check passing and re-registers when the agent has
// forgotten the service (an agent restart, or the check reaped).
func (m *Membership) heartbeat() {
	defer m.done.Done()
	fails := failureLog{clock: m.cfg.Clock}
	every := m.cfg.TTL / 3
	delay := every
	for {
		select {
		case <-m.stop:
			return
		case <-m.wakeBeat:
		case <-m.cfg.Clock.After(delay):
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := m.client.Agent().UpdateTTLOpts(checkID(m.memberID()), "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx))
		reregistered := false
		if err != nil && isUnknownCheck(err) {
			m.log.Warn("consul forgot this node (agent restarted?); registering again")
			err = m.register(ctx)
			reregistered = err == nil
		}
		cancel()
		if err != nil {
			fails.failed(m.log, "consul heartbeat failing; retrying with backoff", err)
			delay = min(max(2*delay, every), m.cfg.MaxBackoff)
			continue
		}
		if fails.recovered(m.log, "consul heartbeat recovered") || reregistered {
			wake(m.wakeWatch) // read the members afresh now, not after the watch's backoff
		}
		m.mu.Lock()
		m.beat = m.cfg.Clock.Now()
		m.mu.Unlock()
		delay = every
	}
}

// wake makes a loop waiting on ch try again at once.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // already woken
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

// watchWait bounds one blocking query.
const watchWait = 10 * time.Second

// watch follows the passing members with blocking queries.
func (m *Membership) watch() {
	defer m.done.Done()
	fails := failureLog{clock: m.cfg.Clock}
	var index uint64
	delay := time.Duration(0)
	for {
		if delay > 0 {
			select {
			case <-m.stop:
				return
			case <-m.wakeWatch:
				index = 0
			case <-m.cfg.Clock.After(delay):
			}
		}
		type result struct {
			entries []*api.ServiceEntry
			meta    *api.QueryMeta
			err     error
		}
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan result, 1)
		go func(index uint64, wait time.Duration) {
			entries, meta, err := m.client.Health().Service(m.cfg.Service, "", true,
				(&api.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(ctx))
			res <- result{entries, meta, err}
		}(index, m.queryWait())
		var r result
		select {
		case <-m.stop:
			cancel()
			<-res
			return
		case <-m.wakeWatch:
			// Consul came back (the heartbeat reached it): start over.
			cancel()
			<-res
			index, delay = 0, 0
			continue
		case r = <-res:
			cancel()
		}
		if r.err != nil {
			fails.failed(m.log, "consul watch failing; keeping the last members and retrying", r.err)
			// Whatever answers next may be a restarted agent whose index
			// went back: a blocking query on the old index would sleep.
			index = 0
			delay = min(max(2*delay, 100*time.Millisecond), m.cfg.MaxBackoff)
			continue
		}
		if fails.recovered(m.log, "consul watch recovered") {
			// The agent may have restarted empty: give the members one
			// check TTL to register again before believing them gone, and
			// make this node's heartbeat re-register it now.
			m.mu.Lock()
			m.settle = m.cfg.Clock.Now().Add(m.cfg.TTL)
			m.mu.Unlock()
			wake(m.wakeBeat)
		}
		delay = 0
		if r.meta.LastIndex < index {
			index = 0 // the agent restarted: its index went back
		} else {
			index = r.meta.LastIndex
		}
		m.update(r.entries)
	}
}

// queryWait is how long the next blocking query may wait: until the end of
// a settling period, so the members are read again when it ends.
func (m *Membership) queryWait() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if left := m.cfg.Clock.Until(m.settle); left > 0 {
		return min(left+10*time.Millisecond, watchWait)
	}
	return watchWait
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
	now := m.cfg.Clock.Now()
	if now.Before(m.settle) {
		// Consul just came back: keep the members not registered again yet.
		for _, old := range m.members {
			if !slices.ContainsFunc(members, func(x Member) bool { return x.NodeID == old.NodeID }) {
				members = append(members, old)
			}
		}
		slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	}
	self := m.memberIDLocked()
	present := slices.ContainsFunc(members, func(x Member) bool { return x.ID == self })
	// Consul answers with a short delay after a registration; only an
	// absence well after it (and after a heartbeat) means we were dropped.
	dropped := !m.cfg.WatchOnly && !present && now.Sub(m.registered) > m.cfg.TTL
	if dropped {
		m.gen++
		// The new id is not listed until it is registered: give it the
		// registration grace from now, or every watch result until then
		// would count as another drop.
		m.registered = now
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
	clock  clockwork.Clock
	streak int
	last   time.Time
}

func (f *failureLog) failed(log *slog.Logger, msg string, err error) {
	f.streak++
	if f.streak == 1 || f.clock.Since(f.last) >= time.Minute {
		log.Warn(msg, "err", err, "failures", f.streak)
		f.last = f.clock.Now()
	}
}

// recovered ends a streak; it reports whether there was one.
func (f *failureLog) recovered(log *slog.Logger, msg string) bool {
	if f.streak == 0 {
		return false
	}
	log.Info(msg, "after_failures", f.streak)
	f.streak = 0
	return true
}
