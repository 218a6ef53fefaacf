package config

import (
	"errors"
	"strings"
	"testing"
)

// TestSecurityRefusals: beyond loopback a node needs a token and TLS on
// the gateway and mutual TLS on the cluster port; TLS settings come
// whole; Consul's settings are consistent.
func TestSecurityRefusals(t *testing.T) {
	cluster := []string{"--consul.address", "127.0.0.1:8500", "--database.url", "postgresql://x@127.0.0.1/db"}
	mtls := []string{"--cluster.tls.ca_file", "ca.pem", "--cluster.tls.cert_file", "node.pem", "--cluster.tls.key_file", "node-key.pem"}
	gwTLS := []string{"--gateway.tls.cert_file", "gw.pem", "--gateway.tls.key_file", "gw-key.pem"}
	open := []string{"--gateway.listen", "0.0.0.0:8080", "--gateway.token", "s3cret"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, c := range []struct {
		name string
		args []string
		want string // "" : accepted
	}{
		{"gateway beyond loopback without TLS", open, "gateway.allow_plaintext"},
		{"gateway beyond loopback with TLS", cat(open, gwTLS), ""},
		{"gateway beyond loopback behind a TLS proxy", cat(open, []string{"--gateway.allow_plaintext"}), ""},
		{"gateway TLS without key", cat(open, []string{"--gateway.tls.cert_file", "gw.pem"}), "gateway.tls.cert_file and gateway.tls.key_file"},
		{"gateway client CA without certificate", []string{"--gateway.tls.client_ca_file", "ca.pem"}, "gateway.tls.client_ca_file"},
		{"gateway on loopback without TLS", []string{"--gateway.token", "s3cret"}, ""},
		{"cluster port beyond loopback without TLS", cat(cluster, []string{"--cluster.host", "0.0.0.0"}), "cluster.tls"},
		{"cluster port on all interfaces", cat(cluster, []string{"--cluster.host", ""}), "cluster.tls"},
		{"cluster port beyond loopback with mutual TLS", cat(cluster, []string{"--cluster.host", "10.0.0.5"}, mtls), ""},
		{"cluster port on loopback without TLS", cluster, ""},
		{"single node binds no cluster port", []string{"--cluster.host", "0.0.0.0"}, ""},
		{"cluster TLS without CA", cat(cluster, []string{"--cluster.tls.cert_file", "n.pem", "--cluster.tls.key_file", "k.pem"}), "cluster.tls needs all of"},
		{"cluster server name without TLS", cat(cluster, []string{"--cluster.tls.server_name", "hearth-node"}), "cluster.tls.server_name"},
		{"consul scheme", []string{"--consul.scheme", "ftp"}, "consul.scheme"},
		{"consul token twice", []string{"--consul.token", "a", "--consul.token_file", "t"}, "consul.token or consul.token_file"},
		{"consul TLS over http", []string{"--consul.tls.ca_file", "ca.pem"}, "consul.scheme https"},
		{"consul TLS", []string{"--consul.scheme", "https", "--consul.tls.ca_file", "ca.pem"}, ""},
		{"consul client cert without key", []string{"--consul.scheme", "https", "--consul.tls.cert_file", "c.pem"}, "consul.tls.cert_file and consul.tls.key_file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.args, nil)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrInvalid naming %q", err, c.want)
			}
		})
	}
}

// TestGatewayTokens: scoped tokens are listed in the file with their
// secrets in files or environment variables, never inline.
func TestGatewayTokens(t *testing.T) {
	write := writer(t)
	dash := write("dashboard.token", "read-secret\n")
	yaml := write("node.yaml", `
gateway:
  listen: 0.0.0.0:8443
  tls: {cert_file: gw.pem, key_file: gw-key.pem}
  tokens:
    - {name: dashboard, scope: read, token_file: `+dash+`}
    - {name: game-servers, scope: game, token_env: GAME_TOKEN}
`)
	c, err := load(t, []string{"--config", yaml}, []string{"GAME_TOKEN=game-secret"})
	if err != nil {
		t.Fatal(err)
	}
	want := []GatewayToken{{Name: "dashboard", Scope: "read", Secret: "read-secret"}, {Name: "game-servers", Scope: "game", Secret: "game-secret"}}
	if len(c.Gateway.Tokens) != 2 || c.Gateway.Tokens[0] != want[0] || c.Gateway.Tokens[1] != want[1] {
		t.Fatalf("tokens %+v", c.Gateway.Tokens)
	}

	for _, tc := range []struct {
		name, file string
		env        []string
		want       []string
	}{
		{"inline secret", "gateway: {tokens: [{name: a, scope: read, token: x}]}", nil, []string{`unknown key "token"`, "token_file or token_env"}},
		{"no secret", "gateway: {tokens: [{name: a, scope: read}]}", nil, []string{"gateway.tokens[0] (a) needs one of token_file or token_env"}},
		{"both sources", "gateway: {tokens: [{name: a, scope: read, token_env: A, token_file: " + dash + "}]}", []string{"A=x"}, []string{"one of token_file or token_env"}},
		{"unset variable", "gateway: {tokens: [{name: a, scope: read, token_env: NOPE}]}", nil, []string{"NOPE", "unset or empty"}},
		{"settings prefix", "gateway: {tokens: [{name: a, scope: read, token_env: HEARTH_X}]}", nil, []string{"HEARTH_X", "kept for settings"}},
		{"missing file", "gateway: {tokens: [{name: a, scope: read, token_file: /no/such/file}]}", nil, []string{"/no/such/file"}},
		{"empty file", "gateway: {tokens: [{name: a, scope: read, token_file: " + write("empty", "\n") + "}]}", nil, []string{"is empty"}},
		{"unknown scope", "gateway: {tokens: [{name: a, scope: write, token_env: A}]}", []string{"A=x"}, []string{`scope "write"`, "read, game, admin"}},
		{"no name", "gateway: {tokens: [{scope: read, token_env: A}]}", []string{"A=x"}, []string{"gateway.tokens[0] needs a name"}},
		{"name twice", "gateway: {tokens: [{name: a, scope: read, token_env: A}, {name: a, scope: game, token_env: B}]}", []string{"A=x", "B=y"}, []string{`"a" is used twice`}},
		{"one secret two scopes", "gateway: {tokens: [{name: a, scope: read, token_env: A}, {name: b, scope: admin, token_env: B}]}", []string{"A=x", "B=x"}, []string{"same token as gateway.tokens[0] (a)"}},
		{"secret of gateway.token", "gateway: {token: x, tokens: [{name: a, scope: read, token_env: A}]}", []string{"A=x"}, []string{"same token as gateway.token"}},
		{"not a list", "gateway: {tokens: {name: a}}", nil, []string{"gateway.tokens must be a list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, []string{"--config", write(strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.file)}, tc.env)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
	// A scoped token alone is a token for the loopback rule.
	if _, err := load(t, []string{"--config", write("scoped.yaml", "gateway: {listen: 0.0.0.0:80, allow_plaintext: true, tokens: [{name: a, scope: game, token_env: A}]}")}, []string{"A=x"}); err != nil {
		t.Fatalf("scoped tokens only: %v", err)
	}
}
