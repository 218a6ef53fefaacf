// Package config loads a node's configuration from defaults, a YAML file,
// environment variables and command-line flags, in that order of
// precedence (flags win). It uses koanf (docs/OPERATIONS.md says why).
package config

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config is everything a node can be told. Every field has a default
// (Default), a flag and an environment variable (docs/OPERATIONS.md).
type Config struct {
	Node     NodeConfig     `koanf:"node"`
	DataDir  string         `koanf:"data_dir"`
	Database DatabaseConfig `koanf:"database"`
	Consul   ConsulConfig   `koanf:"consul"`
	Cluster  ClusterConfig  `koanf:"cluster"`
	Gateway  GatewayConfig  `koanf:"gateway"`
	Lease    LeaseConfig    `koanf:"lease"`
	Drain    DrainConfig    `koanf:"drain"`
	Profiles ProfilesConfig `koanf:"profiles"`
	Log      LogConfig      `koanf:"log"`
	Pprof    bool           `koanf:"pprof"`
	// Namespaces are read from the file only (templates and migrations are
	// documents, not flags).
	Namespaces map[string]Namespace `koanf:"-"`
}

type NodeConfig struct {
	// ID names this node incarnation; empty means hostname plus a random
	// suffix, new at every start (ids are single-use in the store).
	ID string `koanf:"id"`
}

type DatabaseConfig struct {
	// URL is a CockroachDB (or PostgreSQL) URL. Empty: the embedded store
	// in DataDir.
	URL      string `koanf:"url"`
	MaxConns int    `koanf:"max_conns"`
}

type ConsulConfig struct {
	// Address of the Consul agent's HTTP API. Empty: a single node.
	Address string `koanf:"address"`
	// Service is the Consul service name the cluster's nodes register as.
	Service string `koanf:"service"`
	// CheckTTL is the TTL of each node's Consul health check (the node
	// heartbeats every third of it): a node that stops answering, crashed
	// or paused, leaves the other nodes' member lists about this long after
	// its last heartbeat, and requests in flight to it fail then.
	CheckTTL time.Duration `koanf:"check_ttl"`
	// Token is the Consul ACL token (TokenFile: a file holding it); the
	// node needs service:write on Service and read on the catalog.
	Token     string `koanf:"token"`
	TokenFile string `koanf:"token_file"`
	// Scheme is "http" or "https" (the agent's HTTPS port).
	Scheme string `koanf:"scheme"`
	// TLS: CAFile verifies the agent's certificate (empty: the system
	// roots), CertFile and KeyFile are a client certificate for an agent
	// that verifies incoming clients, ServerName the name checked in the
	// agent's certificate (empty: the host of Address).
	TLS TLSConfig `koanf:"tls"`
}

type ClusterConfig struct {
	// Host and Port the node's actor remote listens on (0: a free port).
	Host string `koanf:"host"`
	Port int    `koanf:"port"`
	// AdvertisedHost is what other nodes dial; empty means Host.
	AdvertisedHost string `koanf:"advertised_host"`
	// TLS is mutual TLS on the actor remote: every node and cluster client
	// presents a certificate issued by a CA of CAFile and verifies its
	// peers' against it. Required when Host is beyond loopback.
	TLS TLSConfig `koanf:"tls"`
}

// TLSConfig names the PEM files of a TLS identity. The files are read
// again when they change (certificate rotation without a restart).
type TLSConfig struct {
	// CAFile is the bundle of CAs whose certificates are accepted from
	// peers.
	CAFile string `koanf:"ca_file"`
	// CertFile is this side's certificate chain (leaf first), KeyFile its
	// private key.
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// ServerName is the name checked in a server's certificate instead of
	// the host dialled (empty: the host dialled).
	ServerName string `koanf:"server_name"`
}

// Enabled reports whether any file is named.
func (t TLSConfig) Enabled() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != ""
}

type GatewayConfig struct {
	// Listen is the HTTP address of the gateway and the health, metrics
	// and pprof endpoints.
	Listen string `koanf:"listen"`
	// Token, if set, is accepted as "Authorization: Bearer <token>" with
	// the admin scope. A node refuses to listen beyond loopback without a
	// token (this one or Tokens).
	Token string `koanf:"token"`
	// Tokens are more bearer tokens, each with a scope (file only: the
	// list is a section of the config file; the secrets come from files or
	// environment variables).
	Tokens []GatewayToken `koanf:"-"`
	// TLS: with a certificate the gateway serves HTTPS (HTTP/1.1 and
	// HTTP/2 for gRPC); without, HTTP/1.1 and h2c. A node refuses to
	// listen beyond loopback without TLS unless AllowPlaintext.
	TLS GatewayTLSConfig `koanf:"tls"`
	// AllowPlaintext lets the gateway listen beyond loopback without TLS:
	// for a load balancer or proxy that terminates TLS in front of it.
	AllowPlaintext bool `koanf:"allow_plaintext"`
	// MaxBodyBytes caps a request body on every transport, enforced as the
	// bytes arrive; 0 means twice the document limit plus 64 KiB (a
	// document sent as a JSON string is escaped). It is also the largest
	// request one node forwards to another.
	MaxBodyBytes int `koanf:"max_body_bytes"`
	// ReadHeaderTimeout bounds reading a request's headers; ReadTimeout
	// reading the whole request (net/http lifts it once the body is in, so
	// long answers and Watch streams are not cut); IdleTimeout how long a
	// keep-alive connection may sit idle.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	ReadTimeout       time.Duration `koanf:"read_timeout"`
	IdleTimeout       time.Duration `koanf:"idle_timeout"`
}

// GatewayTLSConfig names the gateway's certificate files.
type GatewayTLSConfig struct {
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// ClientCAFile, if set, makes the gateway require a client certificate
	// issued by one of its CAs (in addition to a bearer token).
	ClientCAFile string `koanf:"client_ca_file"`
}

// Enabled reports whether the gateway serves TLS.
func (t GatewayTLSConfig) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.ClientCAFile != ""
}

// GatewayToken is one bearer token the gateway accepts.
type GatewayToken struct {
	// Name identifies the token in messages (never the secret).
	Name string
	// Scope is "read", "game" or "admin" (TokenScopes).
	Scope string
	// Secret is the token itself, read by Load from the file or
	// environment variable the config file names.
	Secret string
}

// TokenScopes are the gateway's scopes, each allowing more than the one
// before: read (Get, Status, ListVersions, GetVersion, ListPurchases,
// Watch, PollEvents), game (what a game server does: also Acquire,
// Heartbeat, Release, Update, Purchase, Save, Batch), admin (everything,
// also Delete and Restore). docs/API.md has the table.
func TokenScopes() []string { return []string{"read", "game", "admin"} }

type LeaseConfig struct {
	// TTL of the node's lease in the store; a crashed node's profiles move
	// after it lapses.
	TTL time.Duration `koanf:"ttl"`
	// Renew is how often the lease is renewed (well under TTL).
	Renew time.Duration `koanf:"renew"`
	// SafetyMargin: the node acknowledges nothing once less than this is
	// left of its lease by its own monotonic clock (counted from before the
	// last successful renewal was sent). It covers the time between the
	// check and the reply leaving the process and any drift between the
	// node's clock and the database's.
	SafetyMargin time.Duration `koanf:"safety_margin"`
}

type DrainConfig struct {
	// Timeout bounds a drain on SIGTERM.
	Timeout time.Duration `koanf:"timeout"`
}

type ProfilesConfig struct {
	AutosaveInterval       time.Duration `koanf:"autosave_interval"`
	IdleTimeout            time.Duration `koanf:"idle_timeout"`
	ReleaseLinger          time.Duration `koanf:"release_linger"`
	SessionTTL             time.Duration `koanf:"session_ttl"`
	MaxAcquireWait         time.Duration `koanf:"max_acquire_wait"`
	MaxDocumentBytes       int           `koanf:"max_document_bytes"`
	MaxOperations          int           `koanf:"max_operations"`
	MaxPathDepth           int           `koanf:"max_path_depth"`
	AllowUnknownNamespaces bool          `koanf:"allow_unknown_namespaces"`
}

type LogConfig struct {
	Format string `koanf:"format"` // "text" or "json"
	Level  string `koanf:"level"`  // "debug", "info", "warn", "error"
}

// Default is the embedded single-node configuration: nothing to install.
func Default() Config {
	return Config{
		DataDir:  "./data",
		Database: DatabaseConfig{MaxConns: 16},
		Consul:   ConsulConfig{Service: "hearth", CheckTTL: time.Second, Scheme: "http"},
		Cluster:  ClusterConfig{Host: "127.0.0.1"},
		Gateway: GatewayConfig{
			Listen:            "127.0.0.1:8080",
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		Lease: LeaseConfig{TTL: 5 * time.Second, Renew: time.Second, SafetyMargin: time.Second},
		Drain: DrainConfig{Timeout: 60 * time.Second},
		Profiles: ProfilesConfig{
			AutosaveInterval:       30 * time.Second,
			IdleTimeout:            5 * time.Minute,
			ReleaseLinger:          10 * time.Second,
			SessionTTL:             60 * time.Second,
			MaxAcquireWait:         30 * time.Second,
			MaxOperations:          100,
			MaxPathDepth:           32,
			AllowUnknownNamespaces: true,
		},
		Log: LogConfig{Format: "text", Level: "info"},
	}
}

// help documents every key; a test checks none is missing, so --help is
// complete.
func help() map[string]string {
	return map[string]string{
		"node.id":                           "node incarnation id; empty: hostname plus a random suffix, new at every start",
		"data_dir":                          "directory of the embedded store (used when database.url is empty)",
		"database.url":                      "CockroachDB/PostgreSQL URL; empty runs the embedded store",
		"database.max_conns":                "database connection pool size",
		"consul.address":                    "Consul agent HTTP address (host:port); empty runs a single node",
		"consul.service":                    "Consul service name shared by the cluster's nodes",
		"consul.check_ttl":                  "TTL of the node's Consul health check (heartbeat every third): a silent node leaves the member lists after it",
		"consul.token":                      "Consul ACL token (needs service:write on consul.service and read on its nodes); prefer consul.token_file or the environment over the command line",
		"consul.token_file":                 "file holding the Consul ACL token (instead of consul.token)",
		"consul.scheme":                     "http, or https for the agent's HTTPS port",
		"consul.tls.ca_file":                "CA bundle verifying the Consul agent's HTTPS certificate (empty: the system roots)",
		"consul.tls.cert_file":              "client certificate for a Consul agent that verifies incoming HTTPS clients",
		"consul.tls.key_file":               "key of consul.tls.cert_file",
		"consul.tls.server_name":            "name checked in the Consul agent's certificate (empty: the host of consul.address)",
		"cluster.host":                      "host the node's actor remote listens on",
		"cluster.port":                      "port the node's actor remote listens on (0: any free port)",
		"cluster.advertised_host":           "host other nodes dial to reach this one (empty: cluster.host)",
		"cluster.tls.ca_file":               "CA bundle for mutual TLS on the cluster port: nodes and cluster clients must present a certificate it issued (required with cluster.host beyond loopback; re-read when it changes)",
		"cluster.tls.cert_file":             "this node's certificate for the cluster port (PEM, leaf first; used as server and client: needs both extended key usages; re-read when it changes)",
		"cluster.tls.key_file":              "key of cluster.tls.cert_file (PEM; re-read when it changes)",
		"cluster.tls.server_name":           "name every peer's cluster certificate carries, checked instead of the host dialled (empty: the host dialled must be in the certificate)",
		"gateway.listen":                    "HTTP address of the gateway, /healthz, /readyz, /metrics and pprof",
		"gateway.token":                     "bearer token with the admin scope (more tokens with scopes: gateway.tokens in the config file); a token is required to listen beyond loopback",
		"gateway.tls.cert_file":             "gateway certificate (PEM, leaf first): the gateway serves HTTPS, HTTP/1.1 and HTTP/2 (gRPC); re-read when it changes",
		"gateway.tls.key_file":              "key of gateway.tls.cert_file (PEM; re-read when it changes)",
		"gateway.tls.client_ca_file":        "CA bundle: when set, gateway clients must present a certificate it issued (mutual TLS, in addition to a token)",
		"gateway.allow_plaintext":           "allow gateway.listen beyond loopback without gateway TLS: only behind a load balancer or proxy that terminates TLS",
		"gateway.max_body_bytes":            "largest request body on any transport, refused with 413 as it arrives; also the largest request forwarded between nodes (0: twice the document limit plus 64 KiB)",
		"gateway.read_header_timeout":       "time a client has to send a request's headers",
		"gateway.read_timeout":              "time a client has to send a request's body (lifted once it is in: long answers and Watch streams are not cut)",
		"gateway.idle_timeout":              "how long an idle keep-alive connection stays open",
		"lease.ttl":                         "node lease TTL in the store: a crashed node's profiles move after it",
		"lease.renew":                       "how often the node renews its lease (well under lease.ttl)",
		"lease.safety_margin":               "the node acknowledges nothing once less than this is left of its lease by its own clock",
		"drain.timeout":                     "how long a drain on SIGTERM may take",
		"profiles.autosave_interval":        "how often a dirty profile is saved (jittered by 10%)",
		"profiles.idle_timeout":             "a profile without requests for this long is passivated",
		"profiles.release_linger":           "a released profile stays loaded this long for a quick rejoin",
		"profiles.session_ttl":              "a session lapses after this long without a request or heartbeat",
		"profiles.max_acquire_wait":         "cap (and default) of an Acquire's wait mode",
		"profiles.max_document_bytes":       "largest encoded document (0: the store's limit)",
		"profiles.max_operations":           "most operations in one update",
		"profiles.max_path_depth":           "most tokens in a path",
		"profiles.allow_unknown_namespaces": "serve namespaces missing from the config file with an empty template",
		"log.format":                        "log format: text or json",
		"log.level":                         "log level: debug, info, warn or error",
		"pprof":                             "serve /debug/pprof on the gateway address",
	}
}

// ErrInvalid reports a configuration that cannot run.
var ErrInvalid = errors.New("invalid configuration")

// Validate checks the configuration as a whole.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Database.URL == "" && c.DataDir == "":
		return bad("data_dir is required for the embedded store")
	case c.Consul.Address != "" && c.Database.URL == "":
		return bad("a cluster (consul.address) needs a shared database (database.url)")
	case c.Lease.TTL <= 0 || c.Lease.Renew <= 0 || c.Lease.Renew*2 > c.Lease.TTL:
		return bad("lease.renew (%s) must be positive and at most half of lease.ttl (%s)", c.Lease.Renew, c.Lease.TTL)
	case c.Lease.SafetyMargin < 0 || c.Lease.SafetyMargin+c.Lease.Renew >= c.Lease.TTL:
		return bad("lease.safety_margin (%s) must be at least 0 and less than lease.ttl (%s) minus lease.renew (%s), or the node stops acknowledging between two renewals",
			c.Lease.SafetyMargin, c.Lease.TTL, c.Lease.Renew)
	case c.Consul.CheckTTL < time.Second || c.Consul.CheckTTL >= c.Lease.TTL:
		return bad("consul.check_ttl (%s) must be at least 1s and less than lease.ttl (%s)", c.Consul.CheckTTL, c.Lease.TTL)
	case c.Log.Format != "text" && c.Log.Format != "json":
		return bad("log.format must be text or json, not %q", c.Log.Format)
	case c.Drain.Timeout <= 0:
		return bad("drain.timeout must be positive")
	case c.Gateway.MaxBodyBytes < 0:
		return bad("gateway.max_body_bytes must be 0 (the default) or positive, not %d", c.Gateway.MaxBodyBytes)
	case c.Gateway.ReadHeaderTimeout <= 0 || c.Gateway.ReadTimeout <= 0 || c.Gateway.IdleTimeout <= 0:
		return bad("gateway.read_header_timeout (%s), gateway.read_timeout (%s) and gateway.idle_timeout (%s) must be positive: without them a slow client holds a connection forever",
			c.Gateway.ReadHeaderTimeout, c.Gateway.ReadTimeout, c.Gateway.IdleTimeout)
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		return bad("%v", err)
	}
	host, _, err := net.SplitHostPort(c.Gateway.Listen)
	if err != nil {
		return bad("gateway.listen %q: %v", c.Gateway.Listen, err)
	}
	return c.validateSecurity(host)
}

// IsLoopback reports whether a listening host is loopback only ("" and
// 0.0.0.0 are every interface).
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
