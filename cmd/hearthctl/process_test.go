package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/internal/testenv/freeport"
)

// Node processes (cmd/node), for what happens between processes: a node
// asked to drain must exit like one sent SIGTERM. (Two clustered nodes
// cannot share a test process either: protoactor's remote sets gRPC's
// global logger.)

// nodeBinary builds cmd/node once per test binary.
var nodeBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hearthctl-node-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "node")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/hearth-profiles/hearth/cmd/node").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build node: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is one node process.
type proc struct {
	id      string
	gateway string
	cmd     *exec.Cmd
	mu      sync.Mutex
	log     bytes.Buffer
	exited  chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startProc starts node id on e's database in Consul service service and
// waits until it is ready.
func (e *env) startProc(id, service string) *proc {
	t := e.t
	t.Helper()
	bin, err := nodeBinary()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := freeport.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{id: id, gateway: fmt.Sprintf("127.0.0.1:%d", ports[0]), exited: make(chan struct{})}
	p.cmd = exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HEARTH_") { // the harness's own are no node settings
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env,
		"HEARTH_NODE__ID="+id,
		"HEARTH_DATABASE__URL="+e.db,
		"HEARTH_DATABASE__MAX_CONNS=4",
		"HEARTH_CONSUL__ADDRESS="+consul.HTTPAddr(),
		"HEARTH_CONSUL__SERVICE="+service,
		"HEARTH_GATEWAY__LISTEN="+p.gateway,
		"HEARTH_GATEWAY__TOKEN="+testToken,
		"HEARTH_LEASE__TTL=3s",
		"HEARTH_LEASE__RENEW=1s",
		"HEARTH_PROFILES__AUTOSAVE_INTERVAL=1h",
		"HEARTH_DRAIN__TIMEOUT=30s",
	)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("--- log of %s ---\n%s", id, p.logs())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !ready(p.gateway) {
		select {
		case <-p.exited:
			t.Fatalf("node %s exited at start:\n%s", id, p.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not ready:\n%s", id, p.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// exitCode waits for p to exit and returns its status.
func (p *proc) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.Sys().(syscall.WaitStatus).ExitStatus()
	case <-time.After(within):
		t.Fatalf("node %s did not exit:\n%s", p.id, p.logs())
		return -1
	}
}
