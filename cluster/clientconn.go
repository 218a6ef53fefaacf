package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/cluster/gateway"
	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// ClientConn joins a cluster as a client: it follows the members through
// Consul without registering or hosting profiles, and sends each request as
// an actor message straight to the owning node's router actor.
type ClientConn struct {
	system  *actor.ActorSystem
	remote  *remote.Remote
	router  *Router
	members *Membership
}

// ClientConfig configures a ClientConn.
type ClientConfig struct {
	ConsulAddress string
	// ConsulAccess is the ACL token and TLS for Consul (as the nodes'
	// consul.* settings).
	ConsulAccess ConsulAccess
	Service      string // the nodes' consul.service
	// TLS is mutual TLS on the actor remote, as the nodes' cluster.tls:
	// the client's certificate must come from the nodes' CA, and it
	// serves it too (nodes dial the client to answer), so it needs both
	// extended key usages and a name the nodes check (the host they dial,
	// AdvertisedHost, or the shared ServerName). Without TLS, Host must be
	// loopback.
	TLS config.TLSConfig
	// Host the client's actor remote listens on (answers come back to it);
	// AdvertisedHost is what nodes dial, if different.
	Host           string
	AdvertisedHost string
	// CheckTTL is the nodes' consul.check_ttl (default 1 s): the watch
	// settles this long after Consul comes back.
	CheckTTL time.Duration
	Clock    clockwork.Clock
	Logger   *slog.Logger
	// MaxRequestBytes is the largest request the client sends (larger
	// ones are refused with TOO_LARGE before they are sent); 0 means
	// gateway.DefaultMaxBodyBytes, the nodes' default.
	MaxRequestBytes int
}

// DialCluster joins the cluster as a client.
func DialCluster(ctx context.Context, cfg ClientConfig) (c *ClientConn, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Service == "" {
		cfg.Service = "hearth"
	}
	if cfg.CheckTTL <= 0 {
		cfg.CheckTTL = time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if !cfg.TLS.Enabled() && !config.IsLoopback(cfg.Host) {
		return nil, fmt.Errorf("%w: a cluster client listening on %q, beyond loopback, needs mutual TLS (ClientConfig.TLS): anyone reaching its port could send it forged answers", config.ErrInvalid, cfg.Host)
	}
	rt, err := loadRemoteTLS(cfg.TLS, cfg.Clock, cfg.Logger, nil)
	if err != nil {
		return nil, err
	}
	c = &ClientConn{system: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return cfg.Logger.With("lib", "protoactor")
	}))}
	defer func() {
		if p := recover(); p != nil { // remote.Start panics when it cannot listen
			err = fmt.Errorf("cluster client remote: %v", p)
		}
		if err != nil {
			c.Close()
		}
	}()
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = gateway.DefaultMaxBodyBytes
	}
	tlsServer, tlsDial := rt.options()
	opts := append(remoteLimitOptions(cfg.MaxRequestBytes, tlsServer...), tlsDial...)
	installWireLimits(c.system, cfg.MaxRequestBytes)
	if cfg.AdvertisedHost != "" {
		opts = append(opts, remote.WithAdvertisedHost(cfg.AdvertisedHost))
	}
	rc := remote.Configure(cfg.Host, 0, opts...)
	rc.MaxRetryCount = remoteConnectAttempts
	c.remote = remote.NewRemote(c.system, rc)
	c.remote.Start()
	rcfg := RouterConfig{System: c.system, Clock: cfg.Clock, Logger: cfg.Logger}
	if rt != nil {
		rcfg.Probe = rt.probe
	}
	c.router = NewRouter(rcfg)
	c.members, err = StartMembership(ctx, MembershipConfig{
		ConsulAddress: cfg.ConsulAddress,
		Access:        cfg.ConsulAccess,
		Service:       cfg.Service,
		WatchOnly:     true,
		TTL:           cfg.CheckTTL,
		Clock:         cfg.Clock,
		Logger:        cfg.Logger,
		OnChange:      c.router.SetMembers,
	})
	return c, err
}

// Request sends a request to the profile's owning node; a Batch or a
// PollEvents goes to every owning node of the profiles it names.
func (c *ClientConn) Request(ctx context.Context, msg proto.Message) (proto.Message, error) {
	switch m := msg.(type) {
	case *hearthv1.BatchRequest:
		return c.router.Batch(ctx, m)
	case *hearthv1.PollEventsRequest:
		return c.router.PollEvents(ctx, m)
	default:
		return c.router.Request(ctx, msg)
	}
}

// Watch follows a profile's events on its owning node.
func (c *ClientConn) Watch(ctx context.Context, ref *hearthv1.ProfileRef, fn func(*hearthv1.WatchEvent) error) error {
	return c.router.Watch(ctx, ref, fn)
}

// Members is the member list the client routes by.
func (c *ClientConn) Members() []Member {
	if c.members == nil {
		return nil
	}
	return c.members.Members()
}

// Close leaves the cluster.
func (c *ClientConn) Close() {
	if c.members != nil {
		_ = c.members.Leave(context.Background())
	}
	if c.router != nil {
		c.router.close()
	}
	if c.remote != nil {
		c.remote.Shutdown(true)
	}
	c.system.Shutdown()
}
