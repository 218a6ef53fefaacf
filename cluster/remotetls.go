package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/hearth-profiles/hearth/cluster/tlsfiles"
	"github.com/hearth-profiles/hearth/config"
)

// Mutual TLS on the actor remote (cluster.tls). Nodes and cluster clients
// exchange hearth.v1 requests over protoactor's gRPC remote, and a request
// that arrives there goes straight to a router actor, past the gateway's
// tokens: the only gate is the connection. So every connection, in both
// directions, is mutual TLS with certificates of the cluster's own CA:
// the server side refuses a peer without one, the client side refuses a
// server without one. Each handshake reads the current files (rotation,
// tlsfiles). Without TLS the remote is plaintext, which the configuration
// allows on loopback only.

// remoteHandshakeTimeout bounds a TLS handshake on the cluster port, so a
// stranger that connects and says nothing holds a goroutine for seconds,
// not gRPC's default two minutes.
const remoteHandshakeTimeout = 10 * time.Second

// remoteTLS is the transport credentials of a node's or cluster client's
// remote.
type remoteTLS struct {
	src *tlsfiles.Source
	// serverName, if set, is checked in servers' certificates instead of
	// the host dialled (cluster.tls.server_name).
	serverName string
	server     credentials.TransportCredentials
	refusals   *refusalLog
}

var _ credentials.TransportCredentials = (*remoteTLS)(nil)

// loadRemoteTLS reads the files of cfg; nil without TLS.
func loadRemoteTLS(cfg config.TLSConfig, clock clockwork.Clock, log *slog.Logger, refused prometheus.Counter) (*remoteTLS, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	src, err := tlsfiles.Load(tlsfiles.Files{CA: cfg.CAFile, Cert: cfg.CertFile, Key: cfg.KeyFile},
		tlsfiles.Options{Clock: clock, Logger: log.With("component", "cluster-tls")})
	if err != nil {
		return nil, fmt.Errorf("cluster.tls: %w", err)
	}
	return &remoteTLS{
		src:        src,
		serverName: cfg.ServerName,
		server:     credentials.NewTLS(src.ServerConfig("h2")),
		refusals:   &refusalLog{log: log, clock: clock, counter: refused},
	}, nil
}

// options are the remote's settings for TLS: server credentials, a
// handshake timeout, and dial credentials. Without TLS: none, and
// protoactor dials in plaintext.
func (c *remoteTLS) options() (server []grpc.ServerOption, dial []remote.ConfigOption) {
	if c == nil {
		return nil, nil
	}
	return []grpc.ServerOption{grpc.Creds(c), grpc.ConnectionTimeout(remoteHandshakeTimeout)},
		[]remote.ConfigOption{remote.WithDialOptions(grpc.WithTransportCredentials(c))}
}

// ClientHandshake verifies the server against the CA bundle for
// cluster.tls.server_name, or the host dialled, and presents this side's
// certificate.
func (c *remoteTLS) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	cfg, err := c.src.ClientConfig("")
	if err != nil {
		return nil, nil, err
	}
	name := c.serverName
	if name == "" {
		if name, _, err = net.SplitHostPort(authority); err != nil {
			name = authority
		}
	}
	// gRPC's TLS credentials check the name they are handed as authority.
	return credentials.NewTLS(cfg).ClientHandshake(ctx, name, raw)
}

// ServerHandshake requires the peer's certificate; a refusal is logged
// and counted (the node's only trace of a stranger at its cluster port).
func (c *remoteTLS) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.server.ServerHandshake(raw)
	if err != nil {
		c.refusals.refused(raw.RemoteAddr(), err)
	}
	return conn, info, err
}

func (c *remoteTLS) Info() credentials.ProtocolInfo { return c.server.Info() }

func (c *remoteTLS) Clone() credentials.TransportCredentials {
	cp := *c
	return &cp
}

// OverrideServerName is deprecated in gRPC; cluster.tls.server_name is
// the override.
func (c *remoteTLS) OverrideServerName(string) error { return nil }

// probe is a suspect probe (RouterConfig.Probe) for a TLS remote: the
// member answers when it accepts a TLS connection from this side and
// speaks gRPC's HTTP/2 on it, not merely when it accepts a TCP connection
// (which would also clear a member that refuses this side's certificate).
// In TLS 1.3 the client's handshake ends before the server has checked
// the client's certificate, so the probe waits for the server's first
// bytes (its HTTP/2 settings), which a refusing server never sends.
func (c *remoteTLS) probe(ctx context.Context, address string) error {
	cfg, err := c.src.ClientConfig(c.serverName)
	if err != nil {
		return err
	}
	cfg.NextProtos = []string{"h2"} // gRPC servers refuse a TLS client without ALPN
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(deadline)
	}
	_, err = conn.Read(make([]byte, 1))
	return err
}

// refusalLog logs refused handshakes on the cluster port, at most one line
// a second (with the count of those not logged since), and counts all.
type refusalLog struct {
	log     *slog.Logger
	clock   clockwork.Clock
	counter prometheus.Counter // nil: not counted (a cluster client)

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *refusalLog) refused(peer net.Addr, err error) {
	if errors.Is(err, io.EOF) {
		// Connected and left without a word: a port check, not a peer.
		return
	}
	if l.counter != nil {
		l.counter.Inc()
	}
	l.mu.Lock()
	now := l.clock.Now()
	if !l.last.IsZero() && now.Sub(l.last) < time.Second {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	l.log.Warn("cluster port refused a connection: no valid certificate of the cluster's CA (cluster.tls)",
		"peer", peer.String(), "err", err, "refused_unlogged", n)
}

// tlsExpiryGauge exports when the certificate src serves expires, by
// listener, so an alert can fire before it does.
func tlsExpiryGauge(reg prometheus.Registerer, listener string, src *tlsfiles.Source) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "hearth_tls_certificate_expiry_timestamp_seconds",
		Help:        "When the TLS certificate in use expires (Unix time), by listener (cluster, gateway).",
		ConstLabels: prometheus.Labels{"listener": listener},
	}, func() float64 { return float64(src.NotAfter().Unix()) }))
}
