package config

import (
	"fmt"
	"slices"
	"strings"
)

// validateSecurity checks the settings that keep a node's ports closed to
// strangers: beyond loopback, the gateway needs a token and TLS (or an
// explicit word that a proxy terminates TLS), and the cluster port needs
// mutual TLS. gatewayHost is gateway.listen's host.
func (c Config) validateSecurity(gatewayHost string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	g := c.Gateway
	if err := c.validateTokens(); err != nil {
		return err
	}
	switch {
	case (g.TLS.CertFile == "") != (g.TLS.KeyFile == ""):
		return bad("gateway.tls.cert_file and gateway.tls.key_file go together")
	case g.TLS.ClientCAFile != "" && g.TLS.CertFile == "":
		return bad("gateway.tls.client_ca_file needs gateway.tls.cert_file and gateway.tls.key_file")
	case !IsLoopback(gatewayHost) && g.Token == "" && len(g.Tokens) == 0:
		return bad("gateway.listen %q is beyond loopback: set gateway.token (HEARTH_GATEWAY__TOKEN) or gateway.tokens so the gateway is not open to anyone", g.Listen)
	case !IsLoopback(gatewayHost) && !g.TLS.Enabled() && !g.AllowPlaintext:
		return bad("gateway.listen %q is beyond loopback without TLS: set gateway.tls.cert_file and gateway.tls.key_file, or gateway.allow_plaintext: true if a load balancer in front of the node terminates TLS (tokens would otherwise cross the network in the clear)", g.Listen)
	}

	t := c.Cluster.TLS
	switch {
	case t.Enabled() && (t.CAFile == "" || t.CertFile == "" || t.KeyFile == ""):
		return bad("cluster.tls needs all of ca_file, cert_file and key_file (mutual TLS: each node verifies its peers and presents its own certificate)")
	case t.ServerName != "" && !t.Enabled():
		return bad("cluster.tls.server_name needs cluster.tls.ca_file, cert_file and key_file")
	case c.Consul.Address != "" && !IsLoopback(c.Cluster.Host) && !t.Enabled():
		return bad("cluster.host %q is beyond loopback: set cluster.tls.ca_file, cluster.tls.cert_file and cluster.tls.key_file, or anyone who reaches the cluster port can send any request (Delete included) to this node", c.Cluster.Host)
	}

	k := c.Consul
	switch {
	case k.Scheme != "http" && k.Scheme != "https":
		return bad("consul.scheme must be http or https, not %q", k.Scheme)
	case k.Token != "" && k.TokenFile != "":
		return bad("set consul.token or consul.token_file, not both")
	case k.TLS.Enabled() && k.Scheme != "https":
		return bad("consul.tls.* needs consul.scheme https")
	case (k.TLS.CertFile == "") != (k.TLS.KeyFile == ""):
		return bad("consul.tls.cert_file and consul.tls.key_file go together")
	}
	return nil
}

// validateTokens checks the gateway's tokens: each named once, with a
// known scope and a secret of its own.
func (c Config) validateTokens() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	names := map[string]bool{}
	secrets := map[string]string{}
	if c.Gateway.Token != "" {
		secrets[c.Gateway.Token] = "gateway.token"
	}
	for i, tok := range c.Gateway.Tokens {
		where := fmt.Sprintf("gateway.tokens[%d]", i)
		switch {
		case tok.Name == "":
			return bad("%s needs a name", where)
		case names[tok.Name]:
			return bad("%s: the name %q is used twice", where, tok.Name)
		case !slices.Contains(TokenScopes(), tok.Scope):
			return bad("%s (%s): scope %q is not one of %s", where, tok.Name, tok.Scope, strings.Join(TokenScopes(), ", "))
		case tok.Secret == "":
			return bad("%s (%s) has an empty token", where, tok.Name)
		}
		if other, ok := secrets[tok.Secret]; ok {
			return bad("%s (%s) has the same token as %s: one secret must name one scope", where, tok.Name, other)
		}
		names[tok.Name] = true
		secrets[tok.Secret] = where + " (" + tok.Name + ")"
	}
	return nil
}
