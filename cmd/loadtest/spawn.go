package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// fleet is the node processes a -spawn run starts and, with -chaos, abuses.
type fleet struct {
	bin, db, consul, service string
	log                      *slog.Logger
	logDir                   string
	// added hears of every node chaos adds (the gateway targets grow).
	added func(gateway string)
	mu    sync.Mutex
	nodes []*nodeProc // running
	all   []*nodeProc // every node started, for CPU accounting
	seq   int
}

type nodeProc struct {
	name, gateway string
	cmd           *exec.Cmd
	done          chan struct{}
}

// buildNode builds cmd/node next to the load tester's temp files.
func buildNode(dir string) (string, error) {
	bin := filepath.Join(dir, "hearth-node")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/hearth-profiles/hearth/cmd/node").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build cmd/node: %v\n%s", err, out)
	}
	return bin, nil
}

// start launches a node on gateway (a fresh free address if empty) and
// waits for it to be ready.
func (f *fleet) start(gateway string) (*nodeProc, error) {
	var err error
	if gateway == "" {
		if gateway, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	f.seq++
	name := fmt.Sprintf("loadtest-node-%d", f.seq)
	f.mu.Unlock()
	logFile, err := os.Create(filepath.Join(f.logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	n := &nodeProc{name: name, gateway: gateway, done: make(chan struct{})}
	n.cmd = exec.Command(f.bin)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HEARTH_") {
			env = append(env, kv)
		}
	}
	n.cmd.Env = append(env,
		"HEARTH_DATABASE__URL="+f.db, "HEARTH_CONSUL__ADDRESS="+f.consul, "HEARTH_CONSUL__SERVICE="+f.service,
		"HEARTH_GATEWAY__LISTEN="+gateway, "HEARTH_LEASE__TTL=5s", "HEARTH_LEASE__RENEW=1s",
		"HEARTH_PROFILES__AUTOSAVE_INTERVAL=2s", "HEARTH_DATABASE__MAX_CONNS=8")
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = n.cmd.Wait(); _ = logFile.Close(); close(n.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if r, err := http.Get("http://" + gateway + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		select {
		case <-n.done:
			return nil, fmt.Errorf("node %s exited at start; see %s", name, logFile.Name())
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("node %s not ready after 60s", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.mu.Lock()
	f.nodes = append(f.nodes, n)
	f.all = append(f.all, n)
	f.mu.Unlock()
	f.log.Info("node up", "node", name, "gateway", gateway)
	return n, nil
}

func (f *fleet) gateways() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.nodes {
		out = append(out, n.gateway)
	}
	return out
}

// stop ends a node: SIGTERM (a drain) or SIGKILL, and forgets it.
func (f *fleet) stop(n *nodeProc, kill bool) {
	if kill {
		_ = n.cmd.Process.Kill()
	} else {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-n.done:
	case <-time.After(60 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, m := range f.nodes {
		if m == n {
			f.nodes = append(f.nodes[:i], f.nodes[i+1:]...)
			break
		}
	}
}

// stopAll drains every node.
func (f *fleet) stopAll() {
	f.mu.Lock()
	nodes := append([]*nodeProc(nil), f.nodes...)
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); f.stop(n, false) }()
	}
	wg.Wait()
}

// chaos acts on the fleet every period until stop closes: SIGTERM and
// restart, kill -9 and restart, add a node, in turn. It reports each event.
func (f *fleet) chaos(period time.Duration, stop <-chan struct{}, killed func(), events chan<- string) {
	actions := []string{"sigterm-restart", "kill9-restart", "add-node"}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(period):
		}
		f.mu.Lock()
		var victim *nodeProc
		if len(f.nodes) > 1 {
			victim = f.nodes[i%len(f.nodes)]
		}
		f.mu.Unlock()
		act := actions[i%len(actions)]
		if victim == nil {
			act = "add-node" // one node: grow before stopping any
		}
		start := time.Now()
		switch {
		case act == "add-node":
			n, err := f.start("")
			if err != nil {
				f.log.Error("chaos: add node failed", "err", err)
				continue
			}
			if f.added != nil {
				f.added(n.gateway)
			}
		case act == "kill9-restart":
			killed()
			f.stop(victim, true)
			if _, err := f.start(victim.gateway); err != nil {
				f.log.Error("chaos: restart failed", "err", err)
			}
		default:
			f.stop(victim, false)
			if _, err := f.start(victim.gateway); err != nil {
				f.log.Error("chaos: restart failed", "err", err)
			}
		}
		ev := act
		if act != "add-node" {
			ev += " " + victim.name
		}
		events <- fmt.Sprintf("%s (%.1fs)", ev, time.Since(start).Seconds())
	}
}

// cpu is the CPU time every node of the fleet used so far, the stopped
// ones included (their final figure, from wait4).
func (f *fleet) cpu() (time.Duration, error) {
	f.mu.Lock()
	all := append([]*nodeProc(nil), f.all...)
	f.mu.Unlock()
	var total time.Duration
	var errs []error
	for _, n := range all {
		t, err := n.cpu()
		total += t
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

// cpu is the node process's CPU time so far.
func (n *nodeProc) cpu() (time.Duration, error) {
	select {
	case <-n.done:
		return n.cmd.ProcessState.UserTime() + n.cmd.ProcessState.SystemTime(), nil
	default:
	}
	t, err := readProcTimes(n.cmd.Process.Pid)
	if err == nil {
		return t.self, nil
	}
	select { // it exited meanwhile: its final figure comes with the wait
	case <-n.done:
		return n.cmd.ProcessState.UserTime() + n.cmd.ProcessState.SystemTime(), nil
	case <-time.After(5 * time.Second):
		return 0, fmt.Errorf("node %s: %w", n.name, err)
	}
}
