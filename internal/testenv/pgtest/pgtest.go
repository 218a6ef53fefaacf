// Package pgtest starts a real, throwaway PostgreSQL server for integration
// tests, and hands each test its own database on it.
//
// Starting PostgreSQL takes a second or two, so a test package normally
// shares one server between all of its tests and isolates tests from each
// other with one database per test:
//
//	// pg is shared by every test in this package. It is package-level state
//	// because TestMain is the only hook that runs once per test binary; it is
//	// written once by pgtest.Main before any test runs and only read after.
//	var pg *pgtest.Server
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }
//
//	func TestSomething(t *testing.T) {
//		dbURL := pg.NewDatabase(t) // fresh, empty database for this test only
//		...
//	}
//
// If HEARTH_TEST_DATABASE_URL is set (a postgres:// URL whose user may
// create databases), no server is started and that server is used instead;
// databases made by NewDatabase are then dropped when the test ends, because
// nobody deletes an external server's data directory for us.
//
// Otherwise Start runs initdb and pg_ctl from the local PostgreSQL
// installation (found with pg_config --bindir, falling back to
// /usr/lib/postgresql/*/bin) with durability switched off, since the data is
// thrown away. initdb refuses to run as root, so when the tests run as root
// (as they do in CI) the server runs as the "postgres" OS user.
//
// A server is left behind if the test binary dies without reaching Stop (a
// panic in a test or a go test -timeout). Its data directory is left too;
// the postmaster cannot know it is orphaned while that directory exists.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/internal/testenv/sharedmain"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/internal/testenv/freeport"
)

// EnvDatabaseURL names the environment variable that, when set, makes Start
// use an existing server instead of starting one.
const EnvDatabaseURL = "HEARTH_TEST_DATABASE_URL"

const (
	defaultStartTimeout = 60 * time.Second
	// stopTimeout bounds Stop, which has no context, so a wedged pg_ctl
	// cannot hang the test binary at exit.
	stopTimeout = 60 * time.Second
	// maxIdentifierLen is PostgreSQL's NAMEDATALEN-1. Longer names are
	// silently truncated by the server, which would make the returned URL
	// point at a database that does not exist, so we reject them instead.
	maxIdentifierLen = 63
	// serverUser is both the OS user the server runs as when we are root and
	// the database superuser created by initdb.
	serverUser = "postgres"
)

// Options configures Start. The zero value is ready to use.
type Options struct {
	// BinDir is the directory holding initdb and pg_ctl. Empty means ask
	// pg_config --bindir, then look in /usr/lib/postgresql/*/bin.
	BinDir string
	// StartTimeout bounds how long pg_ctl waits for the server to accept
	// connections. Zero means 60 seconds.
	StartTimeout time.Duration
}

// Server is a PostgreSQL server for tests: either one started by Start, or
// an external one named by HEARTH_TEST_DATABASE_URL. Its methods are safe
// for concurrent use by parallel tests.
type Server struct {
	url string

	// The fields below are zero for an external server.
	dir     string              // temp dir holding data dir, socket and log
	binDir  string              // where initdb and pg_ctl live
	cred    *syscall.Credential // non-nil when running the server as another OS user
	logPath string

	// token makes database names from NewDatabase unique across test
	// binaries sharing an external server (go test runs packages in
	// parallel), and across runs that leaked databases after a crash.
	token string
	next  atomic.Int64

	stopOnce sync.Once
	stopErr  error
}

// Start returns a running server: the one named by HEARTH_TEST_DATABASE_URL
// if that is set, otherwise a new one on a free port of 127.0.0.1. The caller
// must call Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	token, err := randomToken()
	if err != nil {
		return nil, err
	}

	if ext := os.Getenv(EnvDatabaseURL); ext != "" {
		if _, err := databaseURL(ext, "postgres"); err != nil {
			return nil, fmt.Errorf("pgtest: %s: %w", EnvDatabaseURL, err)
		}
		s := &Server{url: ext, token: token}
		// Fail here, with a clear cause, rather than in every test.
		if err := s.exec(ctx, "SELECT 1"); err != nil {
			return nil, fmt.Errorf("pgtest: server from %s: %w", EnvDatabaseURL, err)
		}
		return s, nil
	}

	binDir, err := findBinDir(ctx, opts.BinDir)
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	parent, err := tempParent(cred != nil)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(parent, "hearth-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: create temp dir: %w", err)
	}
	if cred != nil {
		// The server user must be able to create the data dir, socket and
		// log in here; MkdirTemp made it 0700 and owned by root.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, errors.Join(fmt.Errorf("pgtest: chown %s to %s: %w", dir, serverUser, err), os.RemoveAll(dir))
		}
	}
	s := &Server{
		dir:     dir,
		binDir:  binDir,
		cred:    cred,
		logPath: filepath.Join(dir, "server.log"),
		token:   token,
	}
	if err := s.start(ctx, opts); err != nil {
		// Stop copes with a half-started server and removes the dir.
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

func (s *Server) start(ctx context.Context, opts Options) error {
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = defaultStartTimeout
	}
	ports, err := freeport.Get(1)
	if err != nil {
		return fmt.Errorf("pgtest: pick port: %w", err)
	}
	port := ports[0]

	// --no-sync: the cluster is thrown away, so skip initdb's fsyncs, which
	// are most of its run time on slow CI disks.
	initdb := s.command(ctx, "initdb", "-D", s.dataDir(), "-U", serverUser,
		"--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, sharedmain.Tail(out))
	}

	// pg_ctl hands -o to a shell, hence the quoting of the socket dir.
	if strings.ContainsRune(s.dir, '\'') {
		return fmt.Errorf("pgtest: temp dir %q contains a single quote, which pg_ctl -o cannot pass", s.dir)
	}
	// Durability is off because the data is disposable and fsyncs dominate
	// test time; max_connections is raised because parallel tests each open
	// pools against the shared server.
	serverOpts := fmt.Sprintf("-p %d -k '%s' -c listen_addresses=127.0.0.1"+
		" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"+
		" -c max_connections=200"+
		// Batched saves touch hundreds of rows in one SERIALIZABLE
		// transaction; past 64 predicate locks PostgreSQL widens them to
		// whole relations, and concurrent batches then conflict for no
		// reason. CockroachDB has no predicate locks to tune.
		" -c max_pred_locks_per_transaction=1024", port, s.dir)
	secs := int((timeout + time.Second - 1) / time.Second)
	pgctl := s.command(ctx, "pg_ctl", "-D", s.dataDir(), "-l", s.logPath,
		"-o", serverOpts, "-w", "-t", strconv.Itoa(secs), "start")
	if out, err := pgctl.CombinedOutput(); err != nil {
		// No log path in the message: the temp dir is deleted on failure.
		return fmt.Errorf("pgtest: pg_ctl start on port %d: %w\n%s\nserver log:\n%s",
			port, err, sharedmain.Tail(out), sharedmain.FileTail(s.logPath))
	}
	s.url = fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", serverUser, port)
	return nil
}

// command prepares a PostgreSQL program to run as the server user.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, name), args...)
	// Our working directory (the package under test) may not be readable by
	// the server user; initdb and pg_ctl complain about that.
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	// pg_ctl daemonizes the postmaster with its output redirected to the log,
	// so nothing should keep our output pipe open; if something ever does,
	// give up on the pipe rather than hang.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// URL returns the connection URL of the server's "postgres" database, as a
// superuser. Tests should normally use NewDatabase instead of sharing it.
func (s *Server) URL() string { return s.url }

// Stop shuts down a server started by Start and deletes its data. It does
// nothing for an external server. Calling it more than once is harmless.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.dir == "" {
			return
		}
		var errs []error
		// A data dir without postmaster.pid means initdb or start failed and
		// there is nothing to stop.
		if _, err := os.Stat(filepath.Join(s.dataDir(), "postmaster.pid")); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			defer cancel()
			// Immediate mode: we are about to delete the data, so a clean
			// shutdown checkpoint would be wasted time.
			out, err := s.command(ctx, "pg_ctl", "-D", s.dataDir(), "-m", "immediate", "-w", "stop").CombinedOutput()
			if err != nil {
				errs = append(errs, fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, sharedmain.Tail(out)))
			}
		}
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("pgtest: remove %s: %w", s.dir, err))
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// CreateDatabase creates an empty database called name and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	if name == "" || len(name) > maxIdentifierLen {
		return "", fmt.Errorf("pgtest: database name %q must be 1 to %d bytes", name, maxIdentifierLen)
	}
	dbURL, err := databaseURL(s.url, name)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create database %q: %w", name, err)
	}
	return dbURL, nil
}

// NewDatabase creates an empty database named after the test and returns
// its URL, failing the test if that is impossible. On an external server the
// database is dropped when the test finishes; an owned server's databases
// go away with the server.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := s.databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL, err := s.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatalf("pgtest: new database for %s: %v", t.Name(), err)
	}
	if s.dir == "" {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// FORCE: a test that forgot to close a pool must not leak the
			// database on a server that outlives this run.
			stmt := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
			if err := s.exec(ctx, stmt); err != nil {
				t.Errorf("pgtest: drop database %q: %v", name, err)
			}
		})
	}
	return dbURL
}

// databaseName builds a unique, valid, unquoted-safe database name that
// still shows which test made it when looking at the server.
func (s *Server) databaseName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := fmt.Sprintf("t_%s_%d_%s", s.token, s.next.Add(1), b.String())
	if len(name) > maxIdentifierLen {
		name = name[:maxIdentifierLen]
	}
	return name
}

// exec runs one statement on the maintenance database. It opens a
// connection per call because pgx.Conn is not safe for concurrent use and
// database creation is rare enough that a pool would buy nothing.
func (s *Server) exec(ctx context.Context, stmt string) error {
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	_, err = conn.Exec(ctx, stmt)
	return errors.Join(err, conn.Close(ctx))
}

// Main runs a test binary's tests against one shared server: it starts the
// server, stores it in *srv, runs the tests and stops the server. Use it as
// os.Exit(pgtest.Main(m, &srv)) in TestMain. If the server cannot start it
// reports why and returns 1, so a missing PostgreSQL fails the run instead
// of silently skipping the integration tests. m may be another harness's
// run (consultest.Around) to share both servers.
func Main(m sharedmain.Tests, srv **Server) int {
	return sharedmain.Run(m, "pgtest", "PostgreSQL", defaultStartTimeout+30*time.Second,
		func(ctx context.Context) (*Server, error) { return Start(ctx, Options{}) },
		func(x *Server) string { return x.URL() }, srv)
}

// databaseURL returns base with its database replaced by name.
func databaseURL(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		// url.Parse errors quote the URL, which may hold a password.
		return "", errors.New("server URL is not a valid URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("server URL must be postgres:// or postgresql://, not %q", u.Scheme)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// findBinDir locates initdb and pg_ctl. pg_config may belong to a client-
// only install (libpq-dev reports /usr/bin), so every candidate is checked
// for initdb.
func findBinDir(ctx context.Context, override string) (string, error) {
	hasInitdb := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "initdb"))
		return err == nil
	}
	if override != "" {
		if !hasInitdb(override) {
			return "", fmt.Errorf("pgtest: no initdb in Options.BinDir %s", override)
		}
		return override, nil
	}
	var tried []string
	if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if hasInitdb(dir) {
			return dir, nil
		}
		tried = append(tried, dir+" (from pg_config)")
	} else {
		tried = append(tried, fmt.Sprintf("pg_config --bindir (%v)", err))
	}
	// Debian/Ubuntu layout; prefer the newest major version installed.
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestVersion := "", -1
	for _, m := range matches {
		dir := filepath.Dir(m)
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		if err == nil && v > bestVersion {
			best, bestVersion = dir, v
		}
	}
	if best != "" {
		return best, nil
	}
	tried = append(tried, "/usr/lib/postgresql/*/bin")
	return "", fmt.Errorf("pgtest: cannot find initdb (tried %s); install PostgreSQL (scripts/test.sh does) or set %s",
		strings.Join(tried, ", "), EnvDatabaseURL)
}

// serverCredential returns the identity to run initdb and the server as:
// nil (ourselves) normally, or the postgres OS user when we are root,
// because initdb and postgres refuse to run as root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, so the server must run as OS user %q, but: %w", serverUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: uid %q of user %s: %w", u.Uid, serverUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: gid %q of user %s: %w", u.Gid, serverUser, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// tempParent picks where to create the server's temp dir. When the server
// runs as another user, every ancestor of that dir must be traversable by
// others; rather than chmod someone's TMPDIR we fall back to /tmp.
func tempParent(otherUser bool) (string, error) {
	dir := os.TempDir()
	if !otherUser {
		return dir, nil
	}
	for _, cand := range []string{dir, "/tmp"} {
		if traversableByOthers(cand) {
			return cand, nil
		}
	}
	return "", fmt.Errorf("pgtest: neither %s nor /tmp is traversable by user %s", dir, serverUser)
}

func traversableByOthers(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for d := abs; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func randomToken() (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pgtest: random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
