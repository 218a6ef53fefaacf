package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/hearth-profiles/hearth/cluster/nodestore"
	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/internal/testenv/testcerts"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

// httpsClient trusts roots and presents cert (if any), speaking HTTP/2
// when the server offers it.
func httpsClient(roots *x509.CertPool, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: roots}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

// gatewayTLSNode starts an embedded node whose gateway serves the
// certificate in files and, with clientCA, requires client certificates.
func gatewayTLSNode(t *testing.T, files testcerts.Files, clientCA string) *Node {
	t.Helper()
	cfg := embeddedConfig(t, t.TempDir())
	cfg.Gateway.TLS = config.GatewayTLSConfig{CertFile: files.Cert, KeyFile: files.Key, ClientCAFile: clientCA}
	cfg.Gateway.Token = "admin-secret"
	n := startNode(t, cfg)
	t.Cleanup(func() { stopNode(t, n) })
	return n
}

// TestGatewayTLS: with a certificate the gateway serves JSON over
// HTTPS/1.1 and gRPC over HTTP/2 (ALPN h2); plaintext, an untrusted
// server and, with gateway.tls.client_ca_file, a client without a
// certificate of that CA get no answer from the API.
func TestGatewayTLS(t *testing.T) {
	ca, clientCA, other := testcerts.NewCA(t, "gateway"), testcerts.NewCA(t, "game-servers"), testcerts.NewCA(t, "other")
	dir := t.TempDir()
	files := ca.Write(t, dir, "gateway", ca.Issue(t, "gateway", testcerts.Options{}))
	clientCAFile := clientCA.Write(t, t.TempDir(), "unused", clientCA.Issue(t, "unused", testcerts.Options{})).CA
	n := gatewayTLSNode(t, files, clientCAFile)
	url := "https://" + n.Addr() + "/hearth.v1.ProfileService/Get"
	good := clientCA.Issue(t, "game-server-1", testcerts.Options{Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}).TLSCertificate(t)
	client := httpsClient(testcerts.Pool(ca), &good)

	// JSON over HTTPS, HTTP/1.1 or HTTP/2.
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"profile":{"namespace":"game","id":"p"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer admin-secret")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "ERROR_CODE_NOT_FOUND") || res.ProtoMajor != 2 {
		t.Fatalf("JSON over HTTPS: %s %d %s", res.Proto, res.StatusCode, body)
	}
	// gRPC needs HTTP/2, negotiated by ALPN.
	grpcClient := hearthv1connect.NewProfileServiceClient(client, "https://"+n.Addr(), connect.WithGRPC())
	up := connect.NewRequest(&hearthv1.UpdateRequest{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: "p"},
		Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/tls", Value: "true"}}})
	up.Header().Set("Authorization", "Bearer admin-secret")
	if _, err := grpcClient.Update(context.Background(), up); err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}

	refused := func(name string, c *http.Client, url, wantErr string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"profile":{"namespace":"game","id":"p"}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer admin-secret")
		// HTTP/1.1, whose errors name the TLS alert (HTTP/2's say only
		// that no connection could be made).
		if tr, ok := c.Transport.(*http.Transport); ok {
			tr.ForceAttemptHTTP2 = false
		}
		res, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if name == "plaintext" && res.StatusCode == http.StatusBadRequest && !strings.Contains(string(body), "ERROR_CODE") {
				return // net/http's answer to HTTP on an HTTPS port; the API never saw it
			}
			t.Fatalf("%s: answered %d %s", name, res.StatusCode, body)
		}
		if !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("%s: %v, want %q", name, err, wantErr)
		}
	}
	refused("plaintext", &http.Client{Timeout: 10 * time.Second}, "http://"+strings.TrimPrefix(url, "https://"), "")
	refused("untrusted server", httpsClient(testcerts.Pool(other), &good), url, "certificate signed by unknown authority")
	refused("no client certificate", httpsClient(testcerts.Pool(ca), nil), url, "certificate required")
	intruder := other.Issue(t, "intruder", testcerts.Options{}).TLSCertificate(t)
	refused("client certificate of another CA", forceClientCert(testcerts.Pool(ca), intruder), url, "unknown certificate authority")
}

// forceClientCert is a client that sends cert whatever CAs the server
// names (crypto/tls would otherwise send none).
func forceClientCert(roots *x509.CertPool, cert tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: roots, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

// servedSerial is the serial number of the certificate addr serves to a
// TLS client trusting roots.
func servedSerial(t *testing.T, addr string, cfg *tls.Config) (*big.Int, error) {
	t.Helper()
	d := tls.Dialer{Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// waitServed waits until addr serves the certificate with serial want.
func waitServed(t *testing.T, addr string, cfg *tls.Config, want *big.Int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := servedSerial(t, addr, cfg)
		if err == nil && got.Cmp(want) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s serves %x (%v), want %x", addr, got, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGatewayCertificateRotation: replacing the gateway's certificate
// files is picked up by new connections without a restart.
func TestGatewayCertificateRotation(t *testing.T) {
	ca := testcerts.NewCA(t, "gateway")
	first := ca.Issue(t, "gateway", testcerts.Options{})
	files := ca.Write(t, t.TempDir(), "gateway", first)
	n := gatewayTLSNode(t, files, "")
	cfg := &tls.Config{RootCAs: testcerts.Pool(ca), ServerName: "127.0.0.1"}
	waitServed(t, n.Addr(), cfg, first.Cert.SerialNumber)
	second := ca.Issue(t, "gateway", testcerts.Options{})
	testcerts.WriteFile(t, files.Key, second.KeyPEM)
	testcerts.WriteFile(t, files.Cert, second.CertPEM)
	waitServed(t, n.Addr(), cfg, second.Cert.SerialNumber)
	// And the node keeps answering over the new certificate.
	client := httpsClient(testcerts.Pool(ca), nil)
	if r, err := client.Get("https://" + n.Addr() + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("after rotation: %v %v", r, err)
	}
}

// TestScopedTokensOnNode: the node's gateway.tokens reach the gateway,
// pprof needs admin, /metrics and the probes need no token.
func TestScopedTokensOnNode(t *testing.T) {
	cfg := embeddedConfig(t, t.TempDir())
	cfg.Pprof = true
	cfg.Gateway.Token = "admin-secret"
	cfg.Gateway.Tokens = []config.GatewayToken{{Name: "dashboard", Scope: "read", Secret: "read-secret"}}
	n := startNode(t, cfg)
	defer stopNode(t, n)
	base := "http://" + n.Addr()
	ref := `{"profile":{"namespace":"game","id":"p"}}`
	if code, body := postJSON(t, base+"/hearth.v1.ProfileService/Delete", "read-secret", ref); code != http.StatusForbidden || !strings.Contains(body, "ERROR_CODE_PERMISSION_DENIED") {
		t.Fatalf("Delete with a read token: %d %s", code, body)
	}
	if code, body := postJSON(t, base+"/hearth.v1.ProfileService/Get", "read-secret", ref); code != http.StatusNotFound {
		t.Fatalf("Get with a read token: %d %s", code, body)
	}
	get := func(path, token string) int {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/debug/pprof/", "read-secret", http.StatusForbidden},
		{"/debug/pprof/", "", http.StatusUnauthorized},
		{"/debug/pprof/", "admin-secret", http.StatusOK},
		{"/metrics", "", http.StatusOK},
		{"/healthz", "", http.StatusOK},
		{"/readyz", "", http.StatusOK},
	} {
		if got := get(c.path, c.token); got != c.want {
			t.Errorf("GET %s with %q: %d, want %d", c.path, c.token, got, c.want)
		}
	}
}

// TestStartRefusesInsecureOrBrokenTLS: a cluster port beyond loopback
// without mutual TLS, and certificate files that do not load, stop a node
// before it serves.
func TestStartRefusesInsecureOrBrokenTLS(t *testing.T) {
	start := func(cfg config.Config) error {
		n, err := Start(context.Background(), cfg, nodestore.Open, slog.New(slog.DiscardHandler))
		if err == nil {
			stopNode(t, n)
		}
		return err
	}
	cfg := embeddedConfig(t, t.TempDir())
	cfg.Database.URL = "postgresql://unused@127.0.0.1:1/db"
	cfg.Consul.Address = consul.HTTPAddr()
	cfg.Cluster.Host = "0.0.0.0"
	if err := start(cfg); !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "cluster.tls") {
		t.Fatalf("cluster port beyond loopback without TLS: %v", err)
	}

	ca := testcerts.NewCA(t, "gateway")
	past := time.Now().Add(-48 * time.Hour)
	expired := ca.Write(t, t.TempDir(), "gw", ca.Issue(t, "gw", testcerts.Options{NotBefore: past, NotAfter: past.Add(time.Hour)}))
	cfg = embeddedConfig(t, t.TempDir())
	cfg.Gateway.TLS = config.GatewayTLSConfig{CertFile: expired.Cert, KeyFile: expired.Key}
	if err := start(cfg); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired gateway certificate: %v", err)
	}
}
