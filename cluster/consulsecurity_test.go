package cluster

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/internal/testenv/consultest"
	"github.com/hearth-profiles/hearth/internal/testenv/freeport"
	"github.com/hearth-profiles/hearth/internal/testenv/testcerts"
)

// TestMembershipConsulACLAndTLS: against a Consul agent with ACLs
// (default deny) serving HTTPS with a certificate of a test CA, a node
// joins with the ACL token and the CA, and is refused without the token,
// over plain HTTP, or without the CA.
func TestMembershipConsulACLAndTLS(t *testing.T) {
	if os.Getenv(consultest.EnvAddr) != "" {
		t.Skipf("%s points at an external agent; this test needs its own agent with ACLs and TLS", consultest.EnvAddr)
	}
	ca := testcerts.NewCA(t, "consul")
	files := ca.Write(t, t.TempDir(), "consul", ca.Issue(t, "server.dc1.consul", testcerts.Options{}))
	ports, err := freeport.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	const token = "c0ffee00-0000-4000-8000-000000000001"
	hcl := fmt.Sprintf(`acl { enabled = true
default_policy = "deny"
tokens { initial_management = %q
agent = %q } }
tls { defaults { ca_file = %q
cert_file = %q
key_file = %q } }`, token, token, files.CA, files.Cert, files.Key)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	agent, err := consultest.Start(ctx, consultest.Options{Args: []string{"-hcl", hcl, "-https-port", strconv.Itoa(ports[0])}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = agent.Stop() }()
	https := fmt.Sprintf("127.0.0.1:%d", ports[0])
	good := ConsulAccess{Token: token, Scheme: "https", TLS: config.TLSConfig{CAFile: files.CA}}

	join := func(address string, access ConsulAccess) error {
		m, err := StartMembership(ctx, MembershipConfig{ConsulAddress: address, Access: access, Service: serviceFor(t),
			NodeID: "node-acl", Address: "127.0.0.1:7000", TTL: 3 * time.Second})
		if err == nil {
			defer m.Leave(context.Background())
			deadline := time.Now().Add(10 * time.Second)
			for len(m.Members()) != 1 {
				if time.Now().After(deadline) {
					return fmt.Errorf("joined but sees members %v", m.Members())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		return err
	}
	if err := join(https, good); err != nil {
		t.Fatalf("with the token over HTTPS: %v", err)
	}
	tokenFile := t.TempDir() + "/consul-token"
	testcerts.WriteFile(t, tokenFile, []byte(token+"\n"))
	if err := join(https, ConsulAccess{TokenFile: tokenFile, Scheme: "https", TLS: config.TLSConfig{CAFile: files.CA}}); err != nil {
		t.Fatalf("with the token from a file: %v", err)
	}
	for _, c := range []struct {
		name    string
		address string
		access  ConsulAccess
		want    string
	}{
		{"no token", https, ConsulAccess{Scheme: "https", TLS: good.TLS}, "Permission denied"},
		{"wrong token", https, ConsulAccess{Token: "c0ffee00-0000-4000-8000-00000000dead", Scheme: "https", TLS: good.TLS}, "ACL not found"},
		{"no CA", https, ConsulAccess{Token: token, Scheme: "https"}, "certificate"},
		{"plain HTTP to the HTTPS port", https, ConsulAccess{Token: token, Scheme: "http"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := join(c.address, c.access)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}
