package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-profiles/hearth/internal/testenv/testcerts"
)

// handshake runs one TLS handshake over loopback TCP between a server
// with scfg and a client with ccfg, and one byte from the server after it
// (in TLS 1.3 the client finishes before the server has checked the
// client's certificate; the read sees the server's verdict). It returns
// both sides' errors and the certificate each saw from the other.
func handshake(t *testing.T, scfg, ccfg *tls.Config) (serverErr, clientErr error, serverSaw, clientSaw *x509.Certificate) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			serverErr = err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, scfg)
		if serverErr = tc.Handshake(); serverErr != nil {
			return
		}
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			serverSaw = pc[0]
		}
		_, serverErr = tc.Write([]byte{1})
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, ccfg)
	clientErr = tc.Handshake()
	if clientErr == nil {
		clientSaw = tc.ConnectionState().PeerCertificates[0]
		_, clientErr = tc.Read(make([]byte, 1))
	}
	_ = c.Close()
	wg.Wait()
	return serverErr, clientErr, serverSaw, clientSaw
}

// identityFiles writes ca and leaf into their own directory.
func identityFiles(t *testing.T, ca *testcerts.CA, leaf testcerts.Leaf) Files {
	t.Helper()
	f := ca.Write(t, t.TempDir(), "node", leaf)
	return Files{CA: f.CA, Cert: f.Cert, Key: f.Key}
}

func load(t *testing.T, f Files, o Options) *Source {
	t.Helper()
	s, err := Load(f, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func clientOf(t *testing.T, s *Source, serverName string) *tls.Config {
	t.Helper()
	c, err := s.ClientConfig(serverName)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMutualTLS: two peers of one CA verify each other, in both roles.
func TestMutualTLS(t *testing.T) {
	ca := testcerts.NewCA(t, "cluster")
	a := load(t, identityFiles(t, ca, ca.Issue(t, "node-a", testcerts.Options{})), Options{})
	b := load(t, identityFiles(t, ca, ca.Issue(t, "node-b", testcerts.Options{})), Options{})
	serr, cerr, serverSaw, clientSaw := handshake(t, a.ServerConfig(), clientOf(t, b, "127.0.0.1"))
	if serr != nil || cerr != nil {
		t.Fatalf("server %v, client %v", serr, cerr)
	}
	if serverSaw.Subject.CommonName != "node-b" || clientSaw.Subject.CommonName != "node-a" {
		t.Fatalf("server saw %s, client saw %s", serverSaw.Subject, clientSaw.Subject)
	}
}

// TestServerRefusesClients: a client without a certificate, with one from
// another CA, an expired one, or one not for client authentication
// cannot complete a handshake.
func TestServerRefusesClients(t *testing.T) {
	ca, other := testcerts.NewCA(t, "cluster"), testcerts.NewCA(t, "other")
	server := load(t, identityFiles(t, ca, ca.Issue(t, "node", testcerts.Options{})), Options{})
	past := time.Now().Add(-48 * time.Hour)
	for _, c := range []struct {
		name string
		cert *testcerts.Leaf // nil: none
		// refused: the server's error is a failed verification (a
		// missing certificate fails before).
		refused bool
	}{
		{"no certificate", nil, false},
		{"another CA", ptr(other.Issue(t, "intruder", testcerts.Options{})), true},
		{"expired", ptr(ca.Issue(t, "old", testcerts.Options{NotBefore: past, NotAfter: past.Add(time.Hour)})), true},
		{"server use only", ptr(ca.Issue(t, "srv", testcerts.Options{Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ccfg := &tls.Config{RootCAs: testcerts.Pool(ca), ServerName: "127.0.0.1"}
			if c.cert != nil {
				cert := c.cert.TLSCertificate(t)
				// Sent whatever CAs the server names, as an intruder would.
				ccfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
			}
			serr, cerr, _, _ := handshake(t, server.ServerConfig(), ccfg)
			if serr == nil || cerr == nil {
				t.Fatalf("handshake not refused: server %v, client %v", serr, cerr)
			}
			if c.refused && !failedVerification(serr) {
				t.Fatalf("server error %v, want a failed verification", serr)
			}
		})
	}
}

// TestClientRefusesServers: a server with a certificate from another CA,
// for another name, or expired, is refused by the client.
func TestClientRefusesServers(t *testing.T) {
	ca, other := testcerts.NewCA(t, "cluster"), testcerts.NewCA(t, "other")
	client := load(t, identityFiles(t, ca, ca.Issue(t, "client", testcerts.Options{})), Options{})
	past := time.Now().Add(-48 * time.Hour)
	for _, c := range []struct {
		name string
		ca   *testcerts.CA
		leaf testcerts.Leaf
	}{
		{"another CA", other, other.Issue(t, "impostor", testcerts.Options{})},
		{"another name", ca, ca.Issue(t, "elsewhere", testcerts.Options{DNSNames: []string{"elsewhere.example"}})},
		{"expired", ca, ca.Issue(t, "old", testcerts.Options{NotBefore: past, NotAfter: past.Add(time.Hour)})},
		{"client use only", ca, ca.Issue(t, "cli", testcerts.Options{Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})},
	} {
		t.Run(c.name, func(t *testing.T) {
			scfg := &tls.Config{Certificates: []tls.Certificate{c.leaf.TLSCertificate(t)}}
			_, cerr, _, _ := handshake(t, scfg, clientOf(t, client, "127.0.0.1"))
			if !failedVerification(cerr) {
				t.Fatalf("client error %v, want a failed verification", cerr)
			}
		})
	}
	// A client with no name to check refuses rather than skip the check.
	scfg := &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "node", testcerts.Options{}).TLSCertificate(t)}}
	if _, cerr, _, _ := handshake(t, scfg, clientOf(t, client, "")); cerr == nil || !strings.Contains(cerr.Error(), "ServerName") {
		t.Fatalf("no server name: %v", cerr)
	}
}

// TestServerName: certificates that carry a shared cluster name instead of
// each host's address verify when the client checks that name.
func TestServerName(t *testing.T) {
	ca := testcerts.NewCA(t, "cluster")
	named := testcerts.Options{DNSNames: []string{"hearth-node"}}
	server := load(t, identityFiles(t, ca, ca.Issue(t, "a", named)), Options{})
	client := load(t, identityFiles(t, ca, ca.Issue(t, "b", named)), Options{})
	if serr, cerr, _, _ := handshake(t, server.ServerConfig(), clientOf(t, client, "hearth-node")); serr != nil || cerr != nil {
		t.Fatalf("shared name: server %v, client %v", serr, cerr)
	}
	if _, cerr, _, _ := handshake(t, server.ServerConfig(), clientOf(t, client, "127.0.0.1")); !failedVerification(cerr) {
		t.Fatalf("the address is not in the certificate: %v", cerr)
	}
}

// TestServerWithoutCA: without a CA file the server asks no client
// certificate (the gateway without gateway.tls.client_ca_file).
func TestServerWithoutCA(t *testing.T) {
	ca := testcerts.NewCA(t, "gateway")
	f := identityFiles(t, ca, ca.Issue(t, "gw", testcerts.Options{}))
	f.CA = ""
	server := load(t, f, Options{})
	if _, err := server.ClientConfig(""); err == nil {
		t.Fatal("a client config without a CA bundle")
	}
	serr, cerr, _, _ := handshake(t, server.ServerConfig(), &tls.Config{RootCAs: testcerts.Pool(ca), ServerName: "localhost"})
	if serr != nil || cerr != nil {
		t.Fatalf("server %v, client %v", serr, cerr)
	}
}

// TestRotation: new files are picked up by the next handshake once
// CheckEvery has passed, without a restart; a new CA in the bundle admits
// its clients from then on.
func TestRotation(t *testing.T) {
	clock := clockwork.NewFakeClock()
	ca, ca2 := testcerts.NewCA(t, "cluster"), testcerts.NewCA(t, "cluster-2025")
	first := ca.Issue(t, "node", testcerts.Options{})
	f := identityFiles(t, ca, first)
	server := load(t, f, Options{Clock: clock, CheckEvery: time.Minute})
	client := ca.Issue(t, "client", testcerts.Options{})
	nf := identityFiles(t, ca2, ca2.Issue(t, "new-client", testcerts.Options{}))
	testcerts.WriteFile(t, nf.CA, append(append([]byte{}, ca.PEM...), ca2.PEM...)) // it trusts the server's CA
	newClient := load(t, nf, Options{Clock: clock})

	serial := func() *big.Int {
		t.Helper()
		ccfg := &tls.Config{RootCAs: testcerts.Pool(ca, ca2), ServerName: "127.0.0.1", Certificates: []tls.Certificate{client.TLSCertificate(t)}}
		serr, cerr, _, saw := handshake(t, server.ServerConfig(), ccfg)
		if serr != nil || cerr != nil {
			t.Fatalf("server %v, client %v", serr, cerr)
		}
		return saw.SerialNumber
	}
	if got := serial(); got.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("serves %x, want %x", got, first.Cert.SerialNumber)
	}
	second := ca2.Issue(t, "node", testcerts.Options{})
	testcerts.WriteFile(t, f.Cert, second.CertPEM)
	testcerts.WriteFile(t, f.Key, second.KeyPEM)
	testcerts.WriteFile(t, f.CA, append(append([]byte{}, ca.PEM...), ca2.PEM...))
	if got := serial(); got.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatal("the files were read again before CheckEvery passed")
	}
	if serr, _, _, _ := handshake(t, server.ServerConfig(), clientOf(t, newClient, "127.0.0.1")); !failedVerification(serr) {
		t.Fatalf("a client of the new CA before the bundle is read again: %v", serr)
	}
	clock.Advance(time.Minute)
	if got := serial(); got.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("after rotation serves %x, want %x", got, second.Cert.SerialNumber)
	}
	if serr, cerr, _, _ := handshake(t, server.ServerConfig(), clientOf(t, newClient, "127.0.0.1")); serr != nil || cerr != nil {
		t.Fatalf("a client of the new CA after the bundle was read again: server %v, client %v", serr, cerr)
	}
	if !server.NotAfter().Equal(second.Cert.NotAfter) {
		t.Fatalf("NotAfter %v, want %v", server.NotAfter(), second.Cert.NotAfter)
	}
}

// TestBrokenRotationKeepsServing: a certificate written without its key
// (half a rotation) is logged once and the old identity stays in use until
// the key arrives.
func TestBrokenRotationKeepsServing(t *testing.T) {
	clock := clockwork.NewFakeClock()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ca := testcerts.NewCA(t, "cluster")
	first := ca.Issue(t, "node", testcerts.Options{})
	f := identityFiles(t, ca, first)
	s := load(t, f, Options{Clock: clock, Logger: log})
	second := ca.Issue(t, "node", testcerts.Options{})
	testcerts.WriteFile(t, f.Cert, second.CertPEM)
	for range 3 {
		clock.Advance(DefaultCheckEvery)
		if got := s.current().cert.Leaf.SerialNumber; got.Cmp(first.Cert.SerialNumber) != 0 {
			t.Fatalf("serves %x with a mismatched key", got)
		}
	}
	if n := strings.Count(logs.String(), "do not load"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logs.String())
	}
	testcerts.WriteFile(t, f.Key, second.KeyPEM)
	clock.Advance(DefaultCheckEvery)
	if got := s.current().cert.Leaf.SerialNumber; got.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("serves %x once the key arrived", got)
	}
	if !strings.Contains(logs.String(), "loaded new TLS files") {
		t.Fatalf("the reload was not logged:\n%s", logs.String())
	}
}

// TestLoadRefuses: a node does not start with files that cannot work.
func TestLoadRefuses(t *testing.T) {
	ca := testcerts.NewCA(t, "cluster")
	past := time.Now().Add(-48 * time.Hour)
	good := identityFiles(t, ca, ca.Issue(t, "node", testcerts.Options{}))
	expired := identityFiles(t, ca, ca.Issue(t, "node", testcerts.Options{NotBefore: past, NotAfter: past.Add(time.Hour)}))
	otherKey := identityFiles(t, ca, ca.Issue(t, "node", testcerts.Options{}))
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	testcerts.WriteFile(t, garbage, []byte("not a certificate"))
	for _, c := range []struct {
		name string
		f    Files
		want string
	}{
		{"expired", expired, "expired"},
		{"key of another certificate", Files{CA: good.CA, Cert: good.Cert, Key: otherKey.Key}, "does not match"},
		{"missing file", Files{CA: good.CA, Cert: good.Cert + ".missing", Key: good.Key}, "no such file"},
		{"CA bundle without a certificate", Files{CA: garbage, Cert: good.Cert, Key: good.Key}, "holds no PEM certificate"},
		{"no key", Files{CA: good.CA, Cert: good.Cert}, "required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.f, Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// failedVerification reports whether err is a handshake's failed
// certificate verification.
func failedVerification(err error) bool {
	var ve *tls.CertificateVerificationError
	return errors.As(err, &ve)
}

func ptr[T any](v T) *T { return &v }
