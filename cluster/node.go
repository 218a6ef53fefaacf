// Package cluster assembles a Hearth node: the store, the node lease, the
// profile Host, the group committer, the gateway and the operational HTTP
// endpoints, and it drains them in order on shutdown. Membership across
// nodes (Consul) and routing between them build on this.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hearth-profiles/hearth/actors/groupcommit"
	"github.com/hearth-profiles/hearth/actors/profile"
	"github.com/hearth-profiles/hearth/cluster/gateway"
	"github.com/hearth-profiles/hearth/cluster/tlsfiles"
	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/persistence"
)

// Node is one running Hearth node.
type Node struct {
	cfg     config.Config
	clock   clockwork.Clock
	id      string
	log     *slog.Logger
	store   persistence.Store
	commit  *groupcommit.Committer
	system  *actor.ActorSystem
	host    *profile.Host
	reg     *prometheus.Registry
	metrics *nodeMetrics
	lease   *leaseKeeper
	remote  *remote.Remote
	router  *Router
	members *Membership
	server  *http.Server
	ln      net.Listener
	// gatewayTLS serves the gateway's certificate (nil: plaintext);
	// remoteTLS is the cluster port's mutual TLS (nil: plaintext).
	gatewayTLS *tlsfiles.Source
	remoteTLS  *remoteTLS
	ready      atomic.Bool
	served     chan error
	// drainRequested is closed by the admin drain endpoint (admin.go).
	drainRequested chan struct{}
	drainOnce      sync.Once
	// maxBody caps request bodies at the gateway and requests forwarded
	// to other nodes (wirelimits.go).
	maxBody int

	closeOnce sync.Once
	closeErr  error
}

// Option adjusts how Start assembles a node.
type Option func(*Node)

// WithClock runs the node's timers (lease, membership, routing, profiles)
// on clock instead of the real one.
func WithClock(clock clockwork.Clock) Option {
	return func(n *Node) { n.clock = clock }
}

// StoreOpener opens the store a configuration names (nodestore.Open). It
// is passed in so that this package links no database driver: game servers
// import it for the cluster client.
type StoreOpener func(ctx context.Context, cfg config.Config) (persistence.Store, error)

// Start opens the store with open, registers the node's lease, and serves
// the gateway. The caller runs Run (or Drain and Close).
func Start(ctx context.Context, cfg config.Config, open StoreOpener, log *slog.Logger, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, clock: clockwork.NewRealClock(), log: log, reg: prometheus.NewRegistry(), served: make(chan error, 1),
		drainRequested: make(chan struct{})}
	for _, o := range opts {
		o(n)
	}
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.metrics = newNodeMetrics(n.reg)
	n.id = cfg.Node.ID
	if n.id == "" {
		n.id = defaultNodeID()
	}
	n.log = log.With("node", n.id)
	if err := n.loadTLS(); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", cfg.Gateway.Listen)
	if err != nil {
		return nil, fmt.Errorf("gateway listen: %w", err)
	}
	n.ln = ln
	store, err := open(ctx, cfg)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	n.store = store
	n.lease, err = startLease(ctx, store, persistence.NodeInfo{ID: n.id, Address: ln.Addr().String()}, cfg.Lease, n.clock, n.log, n.metrics)
	if err != nil {
		_ = ln.Close()
		_ = store.Close()
		return nil, err
	}
	registerNodeState(n.reg, n.lease.remaining, n.isReady)
	n.commit = groupcommit.New(store, store.Limits(), n.id, groupcommit.Options{OnBatch: n.metrics.observeBatch})
	n.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return n.log.With("lib", "protoactor")
	}))
	namespaces := make(map[string]profile.Namespace, len(cfg.Namespaces))
	for name, ns := range cfg.Namespaces {
		namespaces[name] = profile.Namespace{Template: ns.Template, Migrations: ns.Migrations, History: ns.History}
	}
	p := cfg.Profiles
	n.host, err = profile.NewHost(n.system, profile.Config{
		NodeID:                 n.id,
		Store:                  store,
		Committer:              n.commit,
		Namespaces:             namespaces,
		AllowUnknownNamespaces: p.AllowUnknownNamespaces,
		// Acknowledge nothing once the lease may have lapsed.
		LeaseValid: n.lease.Valid,
		Clock:      n.clock,
		Logger:     n.log,
		Metrics:    profile.NewMetrics(n.reg),
		Timing: profile.Timing{
			AutosaveInterval: p.AutosaveInterval,
			IdleTimeout:      p.IdleTimeout,
			ReleaseLinger:    p.ReleaseLinger,
			SessionTTL:       p.SessionTTL,
			MaxAcquireWait:   p.MaxAcquireWait,
			// Wait for a crashed owner's lease to lapse, plus a margin.
			ActivationWait: cfg.Lease.TTL + 5*time.Second,
		},
		Limits: profile.Limits{MaxDocumentBytes: p.MaxDocumentBytes, MaxOperations: p.MaxOperations, MaxPathDepth: p.MaxPathDepth},
		// Tell the profile's next owner at once (handoff by notification).
		// The router exists once the node joined, before any activation.
		OnReleased: func(key persistence.ProfileKey) {
			if n.router != nil {
				n.router.NotifyReleased(key)
			}
		},
		// A request turned away by a handoff goes to the new owner rather
		// than starting the profile here again.
		Owns: func(key persistence.ProfileKey) bool {
			if n.router == nil {
				return true
			}
			_, local := n.router.owner(key)
			return local
		},
	})
	if err != nil {
		n.closeAll()
		return nil, err
	}
	n.maxBody = cfg.Gateway.MaxBodyBytes
	if n.maxBody == 0 {
		n.maxBody = 2*n.host.Config().Limits.MaxDocumentBytes + 64<<10
	}
	if cfg.Consul.Address != "" {
		if err := n.join(ctx); err != nil {
			n.closeAll()
			return nil, err
		}
	}
	mux, err := n.mux()
	if err != nil {
		n.closeAll()
		return nil, err
	}
	// ReadTimeout bounds reading a whole request, body included (a client
	// that stalls mid-body gets 408); net/http lifts it once the body is
	// in, so Watch streams and long Acquire waits are not cut. No
	// WriteTimeout, which would cut them.
	n.server = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.Gateway.ReadHeaderTimeout,
		ReadTimeout:       cfg.Gateway.ReadTimeout,
		IdleTimeout:       cfg.Gateway.IdleTimeout,
	}
	n.serveGateway()
	n.ready.Store(true)
	n.log.Info("node started", "gateway", ln.Addr().String(), "gateway_tls", n.gatewayTLS != nil, "cluster_tls", n.remoteTLS != nil,
		"store", storeName(cfg), "lease_ttl", cfg.Lease.TTL)
	return n, nil
}

// isReady is what /readyz says: started, not draining, its lease valid by
// its own clock, and joined.
func (n *Node) isReady() bool {
	return n.ready.Load() && n.lease.Valid() && (n.members == nil || n.members.Joined())
}

// ID is the node incarnation's id.
func (n *Node) ID() string { return n.id }

// Addr is the gateway's listening address.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Host is the node's profile Host.
func (n *Node) Host() *profile.Host { return n.host }

func (n *Node) mux() (_ http.Handler, err error) {
	mux := http.NewServeMux()
	var router gateway.Router = n.host
	if n.router != nil {
		router = n.router
	}
	opts := gateway.Options{Token: n.cfg.Gateway.Token, MaxBodyBytes: n.maxBody}
	if opts.Tokens, err = gatewayTokens(n.cfg.Gateway.Tokens); err != nil {
		return nil, err
	}
	path, h, err := gateway.New(router, gateway.NewMetrics(n.reg)).Handler(opts)
	if err != nil {
		return nil, err
	}
	auth, err := gateway.NewAuth(opts.AllTokens())
	if err != nil {
		return nil, err
	}
	mux.Handle(path, h)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !n.isReady() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg}))
	mux.Handle(AdminDrainPath, n.adminDrain(auth))
	if n.cfg.Pprof {
		pp := http.NewServeMux()
		pp.HandleFunc("/debug/pprof/", pprof.Index)
		pp.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		pp.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pp.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pp.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/debug/pprof/", auth.Require(gateway.ScopeAdmin, pp))
	}
	return mux, nil
}

// Run serves until ctx ends (a signal) or the node loses its lease, then
// drains and closes.
func (n *Node) Run(ctx context.Context) error {
	var cause error
	select {
	case <-ctx.Done():
		n.log.Info("shutting down: draining")
	case <-n.drainRequested:
		n.log.Info("shutting down: draining (admin request)")
	case <-n.lease.lost:
		cause = errors.New("node lease lost: another node may own this node's profiles")
		n.log.Error("lease lost; draining what can still be saved")
	case err := <-n.served:
		cause = fmt.Errorf("gateway stopped: %w", err)
	}
	dctx, cancel := context.WithTimeout(context.Background(), n.cfg.Drain.Timeout)
	defer cancel()
	if err := n.Drain(dctx); err != nil {
		cause = errors.Join(cause, err)
	}
	return errors.Join(cause, n.Close())
}

// Drain stops readiness, leaves the membership (so other nodes route this
// node's profiles to their new owners, which wait for the releases below),
// passivates every profile (each saves and releases ownership), and logs
// progress.
func (n *Node) Drain(ctx context.Context) error {
	n.ready.Store(false)
	n.metrics.draining.Set(1)
	if n.members != nil {
		if err := n.members.Leave(ctx); err != nil {
			n.log.Warn("leaving consul failed; other nodes drop this one when its check lapses", "err", err)
		}
		// Route everything away from here, including requests other nodes
		// still send us with an old view.
		self := n.members.SelfID()
		var others []Member
		for _, m := range n.members.Members() {
			if m.ID != self {
				others = append(others, m)
			}
		}
		n.router.SetMembers(self, others)
	}
	start := n.clock.Now()
	total := n.host.Loaded()
	done := make(chan error, 1)
	go func() { done <- n.host.Drain(ctx) }()
	tick := n.clock.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			n.metrics.drainRemaining.Set(0)
			n.log.Info("drained", "profiles", total, "took", n.clock.Since(start).Round(time.Millisecond), "err", err)
			return err
		case <-tick.Chan():
			left := n.host.Loaded()
			n.metrics.drainRemaining.Set(float64(left))
			n.log.Info("draining", "remaining", left, "of", total)
		}
	}
}

// Close stops serving and releases everything; call after Drain. Calling
// it again does nothing.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := n.server.Shutdown(ctx)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		n.closeErr = errors.Join(err, n.closeAll())
	})
	return n.closeErr
}

func (n *Node) closeAll() error {
	if n.members != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = n.members.Leave(ctx)
		cancel()
	}
	if n.router != nil {
		n.router.close()
	}
	if n.remote != nil {
		n.remote.Shutdown(true)
	}
	if n.host != nil {
		n.host.Close()
	}
	if n.system != nil {
		n.system.Shutdown()
	}
	if n.commit != nil {
		n.commit.Close()
	}
	var err error
	if n.lease != nil {
		err = n.lease.release()
	}
	_ = n.ln.Close()
	return errors.Join(err, n.store.Close())
}

func storeName(cfg config.Config) string {
	if cfg.Database.URL != "" {
		return "sql"
	}
	return "embedded " + filepath.Join(cfg.DataDir, "hearth.db")
}

// defaultNodeID is the hostname plus a random suffix: node ids are
// single-use in the store, so every start needs a new one.
func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := host + "-" + hex.EncodeToString(b[:])
	if err := persistence.ValidateNodeID(id); err != nil {
		return "node-" + hex.EncodeToString(b[:])
	}
	return id
}

// remoteConnectAttempts: protoactor's endpoint writer tries to connect this
// many times, 2 s apart, holding every message for the address meanwhile
// (default 5: 10 s). One attempt fails messages to a dead address after
// about 2 s; the router routes around a broken member before that anyway
// (suspect.go).
const remoteConnectAttempts = 1

// join starts the actor remote and the router actor, and registers in
// Consul. The router learns the members from the membership's changes.
func (n *Node) join(ctx context.Context) (err error) {
	c := n.cfg
	tlsServer, tlsDial := n.remoteTLS.options()
	opts := append(remoteLimitOptions(n.maxBody, tlsServer...), tlsDial...)
	installWireLimits(n.system, n.maxBody)
	if c.Cluster.AdvertisedHost != "" {
		port := c.Cluster.Port
		opts = append(opts, remote.WithAdvertisedHost(net.JoinHostPort(c.Cluster.AdvertisedHost, fmt.Sprint(port))))
	}
	defer func() {
		// remote.Start panics when it cannot listen.
		if p := recover(); p != nil {
			err = fmt.Errorf("cluster remote on %s:%d: %v", c.Cluster.Host, c.Cluster.Port, p)
		}
	}()
	rc := remote.Configure(c.Cluster.Host, c.Cluster.Port, opts...)
	rc.MaxRetryCount = remoteConnectAttempts
	n.remote = remote.NewRemote(n.system, rc)
	n.remote.Start()
	rcfg := RouterConfig{Host: n.host, System: n.system, Clock: n.clock, Logger: n.log, LeaseValid: n.lease.Valid}
	if n.remoteTLS != nil {
		rcfg.Probe = n.remoteTLS.probe
	}
	n.router = NewRouter(rcfg)
	if _, err := n.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return newRouterActor(n.host, n.clock, n.router.owner) }), routerName); err != nil {
		return err
	}
	n.members, err = StartMembership(ctx, MembershipConfig{
		ConsulAddress: c.Consul.Address,
		Access:        consulAccess(c.Consul),
		Service:       c.Consul.Service,
		NodeID:        n.id,
		Address:       n.system.Address(),
		TTL:           c.Consul.CheckTTL,
		Clock:         n.clock,
		Logger:        n.log,
		OnChange: func(self string, members []Member) {
			n.metrics.members.Set(float64(len(members)))
			n.metrics.memberChanges.Inc()
			n.router.SetMembers(self, members)
		},
	})
	return err
}
