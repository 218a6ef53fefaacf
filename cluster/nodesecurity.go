package cluster

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearth-profiles/hearth/cluster/gateway"
	"github.com/hearth-profiles/hearth/cluster/tlsfiles"
	"github.com/hearth-profiles/hearth/config"
)

// A node's security settings turned into its parts: the gateway's
// certificate and tokens, the cluster port's mutual TLS, Consul's token
// and TLS. config.Validate has already refused combinations that would
// leave a port open beyond loopback.

// loadTLS reads the gateway's and the cluster port's certificate files
// (failing the start if they do not load) and exports their expiry.
func (n *Node) loadTLS() error {
	if g := n.cfg.Gateway.TLS; g.Enabled() {
		src, err := tlsfiles.Load(tlsfiles.Files{CA: g.ClientCAFile, Cert: g.CertFile, Key: g.KeyFile},
			tlsfiles.Options{Clock: n.clock, Logger: n.log.With("component", "gateway-tls")})
		if err != nil {
			return fmt.Errorf("gateway.tls: %w", err)
		}
		n.gatewayTLS = src
		tlsExpiryGauge(n.reg, "gateway", src)
	}
	if n.cfg.Consul.Address == "" {
		return nil // a single node: no cluster port
	}
	refused := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hearth_cluster_tls_refused_total",
		Help: "Connections to the cluster port refused in the TLS handshake (no valid certificate of the cluster's CA).",
	})
	rt, err := loadRemoteTLS(n.cfg.Cluster.TLS, n.clock, n.log, refused)
	if err != nil || rt == nil {
		return err
	}
	n.reg.MustRegister(refused)
	tlsExpiryGauge(n.reg, "cluster", rt.src)
	n.remoteTLS = rt
	return nil
}

// serveGateway serves the gateway on n.ln: HTTPS (HTTP/1.1, and HTTP/2
// through ALPN for gRPC) with a certificate; HTTP/1.1 and unencrypted
// HTTP/2 (h2c, for gRPC clients) without, which the configuration allows
// beyond loopback only behind a proxy that terminates TLS.
func (n *Node) serveGateway() {
	n.server.Protocols = new(http.Protocols)
	n.server.Protocols.SetHTTP1(true)
	if n.gatewayTLS == nil {
		n.server.Protocols.SetUnencryptedHTTP2(true)
		go func() { n.served <- n.server.Serve(n.ln) }()
		return
	}
	n.server.Protocols.SetHTTP2(true)
	n.server.TLSConfig = n.gatewayTLS.ServerConfig("h2", "http/1.1")
	// net/http reports failed handshakes here.
	n.server.ErrorLog = slog.NewLogLogger(n.log.With("component", "gateway").Handler(), slog.LevelWarn)
	go func() { n.served <- n.server.ServeTLS(n.ln, "", "") }()
}

// gatewayTokens are gateway.tokens with their scopes parsed.
func gatewayTokens(toks []config.GatewayToken) ([]gateway.Token, error) {
	out := make([]gateway.Token, 0, len(toks))
	for _, t := range toks {
		scope, err := gateway.ParseScope(t.Scope)
		if err != nil {
			return nil, fmt.Errorf("%w: gateway.tokens (%s): %v", config.ErrInvalid, t.Name, err)
		}
		out = append(out, gateway.Token{Name: t.Name, Secret: t.Secret, Scope: scope})
	}
	return out, nil
}

// consulAccess is how the node reaches Consul: token and TLS.
func consulAccess(c config.ConsulConfig) ConsulAccess {
	return ConsulAccess{Token: c.Token, TokenFile: c.TokenFile, Scheme: c.Scheme, TLS: c.TLS}
}
