// Package tlsfiles builds TLS configurations from PEM files (a CA bundle,
// a certificate chain and its private key) and picks up new files without
// a restart: certificate rotation is replacing the files.
//
// The files are read again at a handshake when CheckEvery has passed since
// the last look, on the injected clock: no file watcher, no goroutine, and
// a node that makes no handshakes reads nothing. New content that does not
// load (a key that does not match its certificate, half a rotation, an
// expired certificate) is logged once and the previous identity stays in
// use, so a botched rotation does not take a node off the network.
//
// Peers are verified by crypto/tls against the CA bundle as it is at each
// handshake, so adding or removing a CA in the bundle applies to new
// connections from the next look on; connections already open keep the
// identity they were set up with (TLS verifies at the handshake only).
package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Files names the PEM files of one TLS identity.
type Files struct {
	// CA is the bundle of certificate authorities whose certificates this
	// side accepts from peers. Empty: peers are not asked for a
	// certificate (a server only).
	CA string
	// Cert is this side's certificate chain (leaf first), Key its key.
	Cert, Key string
}

// DefaultCheckEvery is how often, at most, the files are read again.
const DefaultCheckEvery = time.Second

// Options configure a Source.
type Options struct {
	Clock clockwork.Clock // default: the real clock
	// CheckEvery is how often, at most, a handshake reads the files again
	// (default DefaultCheckEvery).
	CheckEvery time.Duration
	Logger     *slog.Logger
}

// Source holds the current identity read from Files.
type Source struct {
	files Files
	clock clockwork.Clock
	every time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	checked time.Time
	cur     identity
	loaded  content // what cur was read from
	failed  content // the last content that did not load (not retried until it changes)
	lastErr string  // the last read error logged (not logged again until it changes)
}

// identity is one loaded generation of the files.
type identity struct {
	cert  *tls.Certificate // Leaf is set
	roots *x509.CertPool   // nil without a CA file
}

// content is the bytes of the CA, certificate and key files.
type content [3][]byte

func (c content) equal(o content) bool {
	return bytes.Equal(c[0], o[0]) && bytes.Equal(c[1], o[1]) && bytes.Equal(c[2], o[2])
}

// Load reads the files and fails if they do not make a valid identity
// now: a node should not start with a broken or expired certificate.
func Load(files Files, o Options) (*Source, error) {
	if files.Cert == "" || files.Key == "" {
		return nil, errors.New("tlsfiles: a certificate file and a key file are required")
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = DefaultCheckEvery
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{files: files, clock: o.Clock, every: o.CheckEvery, log: o.Logger}
	raw, err := s.read()
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	id, err := parse(files, raw, now)
	if err != nil {
		return nil, err
	}
	s.cur, s.loaded, s.checked = id, raw, now
	return s, nil
}

// read reads the three files.
func (s *Source) read() (content, error) {
	var c content
	for i, path := range []string{s.files.CA, s.files.Cert, s.files.Key} {
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("tlsfiles: %w", err)
		}
		c[i] = b
	}
	return c, nil
}

// parse builds an identity from the files' content, valid at now.
func parse(files Files, c content, now time.Time) (identity, error) {
	cert, err := tls.X509KeyPair(c[1], c[2])
	if err != nil {
		return identity{}, fmt.Errorf("tlsfiles: certificate %s with key %s: %w", files.Cert, files.Key, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return identity{}, fmt.Errorf("tlsfiles: certificate %s: %w", files.Cert, err)
		}
	}
	switch leaf := cert.Leaf; {
	case now.After(leaf.NotAfter):
		return identity{}, fmt.Errorf("tlsfiles: certificate %s expired at %s", files.Cert, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return identity{}, fmt.Errorf("tlsfiles: certificate %s is not valid before %s", files.Cert, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	id := identity{cert: &cert}
	if files.CA != "" {
		id.roots = x509.NewCertPool()
		if !id.roots.AppendCertsFromPEM(c[0]) {
			return identity{}, fmt.Errorf("tlsfiles: CA bundle %s holds no PEM certificate", files.CA)
		}
	}
	return id, nil
}

// current is the identity to use now, reading the files again if
// CheckEvery has passed since the last look.
func (s *Source) current() identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if now.Sub(s.checked) >= s.every {
		s.checked = now
		s.reloadLocked(now)
	}
	return s.cur
}

func (s *Source) reloadLocked(now time.Time) {
	raw, err := s.read()
	if err != nil {
		// A file missing for a moment in a rotation that is not atomic:
		// keep serving, say so once.
		if msg := err.Error(); msg != s.lastErr {
			s.lastErr = msg
			s.log.Error("could not read the TLS files; keeping the certificate in use", "err", err)
		}
		return
	}
	s.lastErr = ""
	if raw.equal(s.loaded) || raw.equal(s.failed) {
		return
	}
	id, err := parse(s.files, raw, now)
	if err != nil {
		s.failed = raw
		s.log.Error("new TLS files do not load; keeping the certificate in use", "err", err)
		return
	}
	s.cur, s.loaded, s.failed = id, raw, content{}
	leaf := id.cert.Leaf
	s.log.Info("loaded new TLS files", "cert", s.files.Cert, "subject", leaf.Subject.String(),
		"serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
}

// NotAfter is when the certificate in use expires (for a metric an alert
// can watch).
func (s *Source) NotAfter() time.Time {
	return s.current().cert.Leaf.NotAfter
}

// ServerConfig is a server's configuration: at each handshake it
// presents the current certificate and, with a CA file, requires a client
// certificate for client authentication issued by a CA of the bundle as
// it is then (crypto/tls's own verification). nextProtos are the ALPN
// protocols served ("h2", "http/1.1").
func (s *Source) ServerConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.current().cert, nil
		},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			id := s.current()
			cfg := &tls.Config{
				MinVersion:   tls.VersionTLS12,
				NextProtos:   nextProtos,
				Certificates: []tls.Certificate{*id.cert},
				Time:         s.clock.Now,
			}
			if id.roots != nil {
				cfg.ClientAuth = tls.RequireAndVerifyClientCert
				cfg.ClientCAs = id.roots
				// A resumed session skips the chain check against the
				// bundle as it is now; connections here are long-lived,
				// so resumption saves little.
				cfg.SessionTicketsDisabled = true
			}
			return cfg, nil
		},
	}
}

// ClientConfig is a client's configuration for one connection: it
// verifies the server's certificate against the CA bundle as it is now,
// for serverName (empty: the caller sets it, as gRPC does from the address
// dialled; crypto/tls refuses to skip it), and presents the current
// certificate when asked. Take a new one for each connection, so a
// rotated bundle applies.
func (s *Source) ClientConfig(serverName string) (*tls.Config, error) {
	id := s.current()
	if id.roots == nil {
		return nil, errors.New("tlsfiles: a client needs a CA bundle to verify servers")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		RootCAs:    id.roots,
		// Always sent, even when the server names other CAs (crypto/tls
		// would send nothing): its log then says whose certificate it
		// refused, which is what an operator mid-rotation needs.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return id.cert, nil
		},
		Time: s.clock.Now,
	}, nil
}
