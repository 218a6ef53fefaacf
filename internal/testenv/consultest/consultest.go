// Package consultest starts a real Consul agent in dev mode (a single
// in-memory server) for integration tests.
//
// Starting an agent takes about a second, so a test package normally shares
// one agent between all of its tests:
//
//	// consul is shared by every test in this package. It is package-level
//	// state because TestMain is the only hook that runs once per test
//	// binary; consultest.Main sets it before any test runs.
//	var consul *consultest.Agent
//
//	func TestMain(m *testing.M) { os.Exit(consultest.Main(m, &consul)) }
//
//	func TestSomething(t *testing.T) {
//		addr := consul.HTTPAddr() // "127.0.0.1:PORT", for the Consul API client
//		...
//	}
//
// Because the agent is shared, tests must keep their keys and services
// apart, for example under a prefix derived from t.Name().
//
// The consul binary is, in order of preference: Options.Bin, the
// HEARTH_CONSUL_BIN environment variable, or the tool declared in the
// repository's tools/go.mod, located with `go tool -n` (which builds it into
// the Go build cache the first time; that takes minutes, so scripts/test.sh
// warms it up before running tests).
//
// If HEARTH_TEST_CONSUL_ADDR is set (host:port of an agent's HTTP API), no
// agent is started and that one is used; Restart then fails, since only an
// agent owned by the harness can be restarted.
//
// An agent is left running if the test binary dies without reaching Stop
// (a panic in a test or a go test -timeout).
package consultest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hearth-profiles/hearth/internal/testenv/sharedmain"

	"github.com/hearth-profiles/hearth/internal/testenv/freeport"
)

const (
	// EnvAddr names the environment variable that, when set, makes Start use
	// an existing agent instead of starting one.
	EnvAddr = "HEARTH_TEST_CONSUL_ADDR"
	// EnvBin names the environment variable holding the consul binary to run.
	EnvBin = "HEARTH_CONSUL_BIN"
)

const (
	defaultStartTimeout = 60 * time.Second
	// stopGrace is how long a SIGTERMed agent gets before it is killed. A
	// dev agent has nothing worth flushing, so this only bounds how long a
	// stuck shutdown can delay the tests.
	stopGrace = 10 * time.Second
	// pollInterval paces readiness checks: a dev agent elects itself in
	// well under a second, so a short interval keeps startup latency low.
	pollInterval = 50 * time.Millisecond
	// resolveTimeout bounds `go tool -n consul` in Main. A cold build of
	// Consul takes around ten minutes on a small machine.
	resolveTimeout = 20 * time.Minute
)

// Options configures Start. The zero value is ready to use.
type Options struct {
	// Bin is the consul binary. Empty means $HEARTH_CONSUL_BIN, or else the
	// tool from tools/go.mod.
	Bin string
	// StartTimeout bounds how long Start and Restart wait for the agent to
	// elect itself leader. Zero means 60 seconds.
	StartTimeout time.Duration
	// Args are more agent arguments, after the harness's own (a later
	// flag wins): -hcl for ACLs or TLS, -https-port to open HTTPS. The
	// HTTP port stays open: readiness is checked there.
	Args []string
}

// Agent is a Consul agent for tests: a dev-mode agent started by Start, or
// an external one named by HEARTH_TEST_CONSUL_ADDR. Its methods are safe for
// concurrent use.
type Agent struct {
	addr         string
	external     bool
	startTimeout time.Duration
	client       *http.Client
	args         []string // Options.Args

	// The fields below are unused for an external agent.
	bin   string
	dir   string // holds one log file per run of the agent
	ports ports

	// mu serializes Stop and Restart, which replace proc.
	mu      sync.Mutex
	proc    *process // nil once stopped
	runs    int      // number of processes started, names their logs
	stopped bool
}

// ports are the agent's listeners. They are picked once so that Restart
// brings the agent back where clients expect it.
type ports struct {
	http, serfLAN, serfWAN, server int
}

// process is one run of the consul binary.
type process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has exited
	waitErr error         // cmd.Wait's result; read only after done is closed
}

// Start returns a ready agent (one that has elected a leader): the one named
// by HEARTH_TEST_CONSUL_ADDR if that is set, otherwise a new dev agent on
// free ports of 127.0.0.1. ctx bounds startup only, not the agent's life.
// The caller must call Stop.
func Start(ctx context.Context, opts Options) (*Agent, error) {
	a := &Agent{
		startTimeout: opts.StartTimeout,
		args:         opts.Args,
		// No keep-alives: after Restart, pooled connections would point at
		// the dead process, and idle connections outliving a test trip up
		// goroutine-leak checkers.
		client: &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	}
	if a.startTimeout <= 0 {
		a.startTimeout = defaultStartTimeout
	}

	if ext := os.Getenv(EnvAddr); ext != "" {
		a.addr, a.external = ext, true
		if err := a.waitReady(ctx, nil); err != nil {
			return nil, fmt.Errorf("consultest: agent %s from %s: %w", ext, EnvAddr, err)
		}
		return a, nil
	}

	bin, err := resolveBin(ctx, opts.Bin)
	if err != nil {
		return nil, err
	}
	p, err := freeport.Get(4)
	if err != nil {
		return nil, fmt.Errorf("consultest: pick ports: %w", err)
	}
	dir, err := os.MkdirTemp("", "hearth-consultest-")
	if err != nil {
		return nil, fmt.Errorf("consultest: create temp dir: %w", err)
	}
	a.bin, a.dir = bin, dir
	a.ports = ports{http: p[0], serfLAN: p[1], serfWAN: p[2], server: p[3]}
	a.addr = fmt.Sprintf("127.0.0.1:%d", a.ports.http)

	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.launch(ctx); err != nil {
		return nil, errors.Join(err, a.stopLocked())
	}
	return a, nil
}

// HTTPAddr returns the host:port of the agent's HTTP API.
func (a *Agent) HTTPAddr() string { return a.addr }

// Stop stops the agent and removes its files. It does nothing for an
// external agent. Calling it more than once is harmless. It reports an
// error if the agent had already died on its own, since that means tests
// ran against a dead agent.
func (a *Agent) Stop() error {
	if a.external {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopLocked()
}

func (a *Agent) stopLocked() error {
	if a.stopped {
		return nil
	}
	a.stopped = true
	err := a.killProcess()
	if rerr := os.RemoveAll(a.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("consultest: remove %s: %w", a.dir, rerr))
	}
	return err
}

// Restart stops the agent and starts a fresh one on the same ports, with
// empty state, as if the agent's machine had rebooted. It returns once the
// new agent has elected itself leader.
func (a *Agent) Restart(ctx context.Context) error {
	if a.external {
		return fmt.Errorf("consultest: Restart needs an agent started by the harness, but %s points at an external agent (%s)", EnvAddr, a.addr)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return errors.New("consultest: Restart after Stop")
	}
	if err := a.killProcess(); err != nil {
		return fmt.Errorf("consultest: restart: %w", err)
	}
	if err := a.launch(ctx); err != nil {
		return fmt.Errorf("consultest: restart: %w", err)
	}
	return nil
}

// launch starts a consul process on a's ports and waits for it to be ready.
// On failure the process may still be running; callers stop it.
func (a *Agent) launch(ctx context.Context) error {
	a.runs++
	logPath := filepath.Join(a.dir, fmt.Sprintf("agent-%d.log", a.runs))
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("consultest: create log: %w", err)
	}
	// Every listener is pinned: dev mode otherwise uses fixed default ports
	// (8500, 8502, 8503, 8600, ...), which collide between test packages
	// running in parallel. DNS and gRPC are off because nothing uses them.
	args := []string{"agent", "-dev", "-node", "hearth-test",
		"-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", strconv.Itoa(a.ports.http),
		"-serf-lan-port", strconv.Itoa(a.ports.serfLAN),
		"-serf-wan-port", strconv.Itoa(a.ports.serfWAN),
		"-server-port", strconv.Itoa(a.ports.server),
		"-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1", "-https-port", "-1",
	}
	args = append(args, a.args...)
	// Not CommandContext: ctx bounds startup, while the agent must outlive
	// it until Stop.
	cmd := exec.Command(a.bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = a.dir
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("consultest: start %s: %w", a.bin, err)
	}
	p := &process{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	a.proc = p

	if err := a.waitReady(ctx, p); err != nil {
		return fmt.Errorf("consultest: agent on %s: %w\nlog %s:\n%s", a.addr, err, logPath, sharedmain.FileTail(logPath))
	}
	return nil
}

// killProcess stops the current process: SIGTERM, then SIGKILL after
// stopGrace. It reports an agent that had already exited on its own.
func (a *Agent) killProcess() error {
	p := a.proc
	if p == nil {
		return nil
	}
	a.proc = nil
	select {
	case <-p.done:
		return fmt.Errorf("consultest: agent had already exited: %v\nlog %s:\n%s", p.waitErr, p.logPath, sharedmain.FileTail(p.logPath))
	default:
	}
	// Consul exits non-zero on SIGTERM, so the exit status says nothing
	// useful here and is ignored.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("consultest: signal agent: %w", err)
	}
	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("consultest: kill agent after %v: %w", stopGrace, err)
	}
	<-p.done
	return nil
}

// waitReady polls /v1/status/leader until the agent reports a leader. A
// listening HTTP port is not enough: until the dev server has elected
// itself, KV and session calls fail with "No cluster leader".
// If p is non-nil, its exit ends the wait early.
func (a *Agent) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, a.startTimeout)
	defer cancel()
	var exited <-chan struct{}
	if p != nil {
		exited = p.done
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		leader, err := a.leader(ctx)
		if err == nil && leader != "" {
			return nil
		}
		if err == nil {
			err = errors.New("no leader elected yet")
		}
		lastErr = err
		select {
		case <-exited:
			return fmt.Errorf("agent exited before it was ready: %v", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w (last check: %v)", a.startTimeout, ctx.Err(), lastErr)
		case <-ticker.C:
		}
	}
}

// leader returns the agent's view of the raft leader ("" if none).
func (a *Agent) leader(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.addr+"/v1/status/leader", nil)
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET /v1/status/leader: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", fmt.Errorf("read /v1/status/leader: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /v1/status/leader: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var leader string
	if err := json.Unmarshal(body, &leader); err != nil {
		return "", fmt.Errorf("decode /v1/status/leader %q: %w", body, err)
	}
	return leader, nil
}

// Main runs a test binary's tests against one shared agent: it starts the
// agent, stores it in *agent, runs the tests and stops the agent. Use it as
// os.Exit(consultest.Main(m, &agent)) in TestMain. If the agent cannot start
// it reports why and returns 1, so a missing Consul fails the run instead of
// silently skipping the integration tests.
func Main(m sharedmain.Tests, agent **Agent) int {
	return sharedmain.Run(m, "consultest", "Consul", resolveTimeout,
		func(ctx context.Context) (*Agent, error) { return Start(ctx, Options{}) },
		func(x *Agent) string { return x.HTTPAddr() }, agent)
}

// Around is Main as a run another harness can wrap: a binary that needs a
// database too uses os.Exit(pgtest.Main(consultest.Around(m, &agent), &srv)).
func Around(m sharedmain.Tests, agent **Agent) sharedmain.Tests {
	return around{m: m, agent: agent}
}

type around struct {
	m     sharedmain.Tests
	agent **Agent
}

func (a around) Run() int { return Main(a.m, a.agent) }

// resolveBin finds the consul binary; see the package doc for the order.
func resolveBin(ctx context.Context, bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	if bin := os.Getenv(EnvBin); bin != "" {
		return bin, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	// `go tool -n` builds the tool into the build cache if needed and prints
	// its path, so later runs exec the binary directly: faster than going
	// through `go tool` each time, and our signals reach consul itself
	// rather than the go command. -modfile only works inside a module, hence
	// running from the repository root.
	cmd := exec.CommandContext(ctx, "go", "tool", "-modfile="+filepath.Join(root, "tools", "go.mod"), "-n", "consul")
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("consultest: go tool -n consul in %s: %w\n%s", root, err, sharedmain.Tail([]byte(stderr.String())))
	}
	path := strings.TrimSpace(string(out))
	if path == "" {
		return "", fmt.Errorf("consultest: go tool -n consul printed nothing")
	}
	return path, nil
}

// repoRoot walks up from the working directory (the package directory,
// under go test) to the directory holding tools/go.mod.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("consultest: working directory: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "tools", "go.mod")); err == nil {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("consultest: no tools/go.mod in %s or its parents; set %s", wd, EnvBin)
		}
	}
}
