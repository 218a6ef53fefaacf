// Command loadtest drives a Hearth cluster with simulated game servers,
// verifies the contract afterwards (straight from the database), and
// reports throughput and latency. See docs/BENCHMARKS.md for the runs
// behind the published figures.
//
//	go run ./cmd/loadtest -embedded -duration 20s -report out.json
//	go run ./cmd/loadtest -target 127.0.0.1:8081,127.0.0.1:8082 -db URL
//	go run ./cmd/loadtest -target consul://127.0.0.1:8500/hearth -db URL
//	go run ./cmd/loadtest -baseline sql-lock -db URL -db-latency 300us
//	go run ./cmd/loadtest -spawn 3 -db URL -consul 127.0.0.1:8500 -chaos
//	go run ./cmd/loadtest -spawn 1 -transport cluster -db URL -consul 127.0.0.1:8500 -db-latency 300us
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hearth-profiles/hearth/cluster/client"
)

// Report is the JSON report (-report).
type Report struct {
	Target       string             `json:"target"`
	Config       Config             `json:"config"`
	DurationSec  float64            `json:"duration_s"`
	Ops          int64              `json:"ops"`
	OpsPerSec    float64            `json:"ops_per_sec"`
	LatencyMS    Latency            `json:"latency_ms"`
	PerOperation map[string]Latency `json:"per_operation_latency_ms"`
	Errors       map[string]int64   `json:"errors"`
	Activations  float64            `json:"activations"`
	// ColdActivationsPerSec is players / the time every player's first
	// join took (each a cold activation: load, fence, migrate).
	ColdActivationsPerSec float64  `json:"cold_activations_per_sec"`
	Passivations          float64  `json:"passivations"`
	Chaos                 []string `json:"chaos,omitempty"`
	// Gateways is the gateways the client sent to at the end of the run
	// (chaos's added nodes included); empty for other transports.
	Gateways []string `json:"gateways,omitempty"`
	// DBProxy is the latency proxy between the database's clients and the
	// database (-db-latency), with its measured lateness.
	DBProxy *ProxyStats `json:"db_proxy,omitempty"`
	CPU     CPUReport   `json:"cpu"`
	Verify  Verify      `json:"verify"`
}

// CPUReport is CPU time per acknowledged operation, in µs, from the start of
// the workload to its end (start-up and the final drain excluded).
type CPUReport struct {
	// Node: the node processes (see NodeNote for what was measured).
	NodeUSPerOp float64 `json:"node_us_per_op,omitempty"`
	NodeCores   float64 `json:"node_cores,omitempty"`
	NodeNote    string  `json:"node_note"`
	// Loadtest: this process (the load generator, the latency proxy, and
	// for a baseline the stateless service; for -embedded also the node).
	LoadtestUSPerOp float64 `json:"loadtest_us_per_op"`
	LoadtestCores   float64 `json:"loadtest_cores"`
	// Database: the database server's processes, when it runs here.
	DatabaseUSPerOp float64 `json:"database_us_per_op,omitempty"`
	DatabaseCores   float64 `json:"database_cores,omitempty"`
	DatabaseNote    string  `json:"database_note"`
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run is the whole program; it returns the exit code (0: the contract held,
// 1: a violation, 2: the run could not be made).
func run(args []string) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	var (
		cfg        Config
		o          options
		nodePIDs   string
		reportPath string
	)
	fs.BoolVar(&o.embedded, "embedded", false, "start an in-process node with the embedded store (nothing else needed)")
	fs.StringVar(&o.target, "target", "", "node gateways (host:port,...) or consul://ADDR/SERVICE for the Go cluster client")
	fs.StringVar(&o.baseline, "baseline", "", `run the workload as a stateless service against -db: "sql" (one SERIALIZABLE transaction per operation, retried) or "sql-lock" (one READ COMMITTED transaction that locks the row)`)
	fs.StringVar(&o.db, "db", "", "database URL: for -baseline, -spawn, and to verify a -target run")
	fs.DurationVar(&o.dbLatency, "db-latency", 0, "with -baseline or -spawn: put a proxy between the database's clients and the database that delays each direction by this (e.g. 300us); the verifier reads directly")
	fs.IntVar(&o.dbPID, "db-pid", 0, "the database server's process id, for its CPU per operation (default: the process listening where -db points, if on this machine)")
	fs.IntVar(&o.spawn, "spawn", 0, "start this many node processes (needs -db and -consul)")
	fs.StringVar(&o.transport, "transport", "gateway", `with -spawn: "gateway" (HTTP, every node's gateway in turn) or "cluster" (the Go cluster client through Consul)`)
	fs.StringVar(&o.consul, "consul", "", "Consul HTTP address for -spawn")
	fs.BoolVar(&o.chaos, "chaos", false, "with -spawn: SIGTERM+restart, kill -9+restart, add a node, in turn")
	fs.DurationVar(&o.chaosEvery, "chaos-every", 8*time.Second, "time between chaos actions")
	fs.StringVar(&o.nodeBin, "node-bin", "", "cmd/node binary for -spawn (default: go build it)")
	fs.StringVar(&nodePIDs, "node-pid", "", "with -target: the nodes' process ids (comma-separated), for node CPU per operation")
	fs.StringVar(&reportPath, "report", "", "write the JSON report here")
	fs.StringVar(&o.dataDir, "data", "", "embedded store directory (default: a temporary one)")
	fs.IntVar(&cfg.Players, "players", 2000, "players (profiles)")
	fs.IntVar(&cfg.Servers, "servers", 32, "simulated game servers (concurrent callers)")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "how long to play")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed gives the same decisions")
	fs.Float64Var(&cfg.Rate, "rate", 0, "total operations per second (0: as fast as the servers go)")
	fs.Float64Var(&cfg.DurableShare, "durable-share", 0.2, "share of updates that are durable")
	fs.Float64Var(&cfg.PurchaseShare, "purchase-share", 0.03, "share of operations that are purchases")
	fs.Float64Var(&cfg.DupShare, "dup-share", 0.2, "share of purchases that re-deliver an earlier receipt")
	fs.Float64Var(&cfg.GiftShare, "gift-share", 0.03, "share of operations that are gifts from another server")
	fs.Float64Var(&cfg.HopShare, "hop-share", 0.005, "share of operations where a player hops to another server")
	fs.Float64Var(&cfg.LeaveShare, "leave-share", 0.005, "share of operations where a player leaves (and comes back later)")
	fs.StringVar(&cfg.Namespace, "namespace", "", "profile namespace (default: loadtest-<run id>, fresh for every run)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, p := range strings.Split(nodePIDs, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pid, err := strconv.Atoi(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "-node-pid %q: %v\n", p, err)
			return 2
		}
		o.nodePIDs = append(o.nodePIDs, pid)
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	cfg.RunID = fmt.Sprintf("%x", time.Now().UnixNano())
	if cfg.Namespace == "" {
		cfg.Namespace = "loadtest-" + cfg.RunID
	}
	cfg.DBLatency = o.dbLatency
	var killed atomic.Bool
	rep := Report{Config: cfg, Errors: map[string]int64{}}

	tmp, err := os.MkdirTemp("", "hearth-loadtest")
	if err != nil {
		log.Error("temp dir", "err", err)
		return 2
	}
	defer os.RemoveAll(tmp)
	s, err := prepare(ctx, o, cfg, log, tmp)
	defer s.close()
	if err != nil {
		log.Error("setup", "err", err)
		return 2
	}
	rep.Target = s.target
	if s.proxy != nil {
		rep.Target += fmt.Sprintf(", database %s away each way (latency proxy)", o.dbLatency)
	}
	dbCPU, dbNote := databaseCPU(o)
	rep.CPU.NodeNote, rep.CPU.DatabaseNote = s.nodeNote, dbNote

	st := newStats(time.Now())
	cl := client.New(s.transport, client.Options{Timeout: 30 * time.Second})
	w := newWorkload(cfg, cl, st, &killed)
	fmt.Fprintf(os.Stderr, "loadtest: %s; %d players on %d servers for %s, seed %d\n", rep.Target, cfg.Players, cfg.Servers, cfg.Duration, cfg.Seed)

	chaosStop := make(chan struct{})
	events := make(chan string, 100)
	if s.chaos != nil {
		go s.chaos(chaosStop, func() { killed.Store(true) }, events)
	}
	cpu0 := sampleCPU(s.nodeCPU, dbCPU, log)
	done := make(chan struct{})
	joined := make(chan time.Duration, 1)
	go func() { w.run(ctx, joined); close(done) }()
	tty := isTerminal(os.Stderr)
	tick := time.NewTicker(time.Second)
	last := time.Now()
loop:
	for {
		select {
		case <-done:
			break loop
		case d := <-joined:
			rep.ColdActivationsPerSec = float64(cfg.Players) / d.Seconds()
			if tty {
				fmt.Fprintln(os.Stderr)
			}
			fmt.Fprintf(os.Stderr, "all %d players joined in %.2fs: %.0f cold activations/s\n", cfg.Players, d.Seconds(), rep.ColdActivationsPerSec)
		case ev := <-events:
			rep.Chaos = append(rep.Chaos, ev)
			if tty {
				fmt.Fprintln(os.Stderr)
			}
			fmt.Fprintf(os.Stderr, "chaos: %s\n", ev)
		case now := <-tick.C:
			extra := ""
			if m := s.metrics(); len(m) > 0 {
				extra = fmt.Sprintf("  activations %.0f", scrape(m, "hearth_profile_activations_total"))
			}
			st.progress(os.Stderr, now.Sub(last), extra, tty)
			last = now
		}
	}
	tick.Stop()
	close(chaosStop)
	cpu1 := sampleCPU(s.nodeCPU, dbCPU, log)
	if tty {
		fmt.Fprintln(os.Stderr)
	}
	elapsed := time.Since(st.start)
	rep.DurationSec = elapsed.Seconds()
	rep.Ops, rep.OpsPerSec, rep.LatencyMS, rep.PerOperation, rep.Errors = st.snapshot(elapsed)
	rep.CPU.fill(cpu0, cpu1, rep.Ops)
	rep.Activations = scrape(s.metrics(), "hearth_profile_activations_total")
	rep.Passivations = scrape(s.metrics(), "hearth_profile_passivations_total")
	if s.gateways != nil {
		rep.Gateways = s.gateways()
	}
	if s.proxy != nil {
		ps := s.proxy.Stats()
		rep.DBProxy = &ps
	}
	for len(events) > 0 {
		rep.Chaos = append(rep.Chaos, <-events)
	}
	if err := s.finish(); err != nil {
		log.Error("stopping", "err", err)
	}
	code := 0
	if s.read != nil {
		v, err := w.verify(context.Background(), s.read())
		if err != nil {
			log.Error("verify", "err", err)
			code = 2
		}
		rep.Verify = v
		if !v.OK() {
			code = 1
		}
	} else {
		rep.Verify.Violations = []string{"not verified: give -db to read the stored profiles"}
	}
	printReport(rep)
	if reportPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(reportPath, append(b, '\n'), 0o644); err != nil {
			log.Error("report", "err", err)
			code = max(code, 2)
		}
	}
	return code
}

// cpuSample is the CPU time used so far by the node processes, this
// process and the database (-1: not measured).
type cpuSample struct {
	at                   time.Time
	node, self, database time.Duration
}

func sampleCPU(node, database func() (time.Duration, error), log *slog.Logger) cpuSample {
	s := cpuSample{at: time.Now(), node: -1, self: selfCPU(), database: -1}
	read := func(f func() (time.Duration, error), what string) time.Duration {
		if f == nil {
			return -1
		}
		t, err := f()
		if err != nil {
			log.Warn("cpu time", "of", what, "err", err)
			return -1
		}
		return t
	}
	s.node, s.database = read(node, "node"), read(database, "database")
	return s
}

// fill turns two samples into CPU per operation and cores.
func (c *CPUReport) fill(a, b cpuSample, ops int64) {
	wall := b.at.Sub(a.at).Seconds()
	cores := func(d time.Duration) float64 {
		if wall <= 0 {
			return 0
		}
		return d.Seconds() / wall
	}
	if a.node >= 0 && b.node >= 0 {
		c.NodeUSPerOp, c.NodeCores = cpuPerOp(b.node-a.node, ops), cores(b.node-a.node)
	}
	c.LoadtestUSPerOp, c.LoadtestCores = cpuPerOp(b.self-a.self, ops), cores(b.self-a.self)
	if a.database >= 0 && b.database >= 0 {
		c.DatabaseUSPerOp, c.DatabaseCores = cpuPerOp(b.database-a.database, ops), cores(b.database-a.database)
	}
}

func printReport(r Report) {
	fmt.Printf("target        %s\n", r.Target)
	fmt.Printf("ops           %d in %.1fs = %.0f ops/s\n", r.Ops, r.DurationSec, r.OpsPerSec)
	fmt.Printf("latency ms    p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", r.LatencyMS.P50, r.LatencyMS.P99, r.LatencyMS.P999, r.LatencyMS.Max)
	for op, l := range r.PerOperation {
		fmt.Printf("  %-15s n=%-8d p50 %.2f  p99 %.2f  p99.9 %.2f\n", op, l.N, l.P50, l.P99, l.P999)
	}
	fmt.Printf("errors        %v\n", r.Errors)
	fmt.Printf("activations   %.0f  passivations %.0f  (first joins: %.0f cold activations/s)\n", r.Activations, r.Passivations, r.ColdActivationsPerSec)
	for _, c := range r.Chaos {
		fmt.Printf("chaos         %s\n", c)
	}
	if p := r.DBProxy; p != nil {
		fmt.Printf("db proxy      %.0f µs each way; %d connections, %d chunks, %d bytes; late p50 %.0f µs, p99 %.0f µs, mean %.0f µs; %d stalls\n",
			p.OneWayDelayUS, p.Connections, p.Chunks, p.Bytes, p.LateP50US, p.LateP99US, p.LateMeanUS, p.Stalls)
	}
	c := r.CPU
	if c.NodeUSPerOp > 0 {
		fmt.Printf("cpu node      %.1f µs/op (%.2f cores): %s\n", c.NodeUSPerOp, c.NodeCores, c.NodeNote)
	} else {
		fmt.Printf("cpu node      %s\n", c.NodeNote)
	}
	fmt.Printf("cpu loadtest  %.1f µs/op (%.2f cores)\n", c.LoadtestUSPerOp, c.LoadtestCores)
	if c.DatabaseUSPerOp > 0 {
		fmt.Printf("cpu database  %.1f µs/op (%.2f cores): %s\n", c.DatabaseUSPerOp, c.DatabaseCores, c.DatabaseNote)
	} else {
		fmt.Printf("cpu database  %s\n", c.DatabaseNote)
	}
	v := r.Verify
	fmt.Printf("verify        %d profiles: lost durable %d, lost memory %d (allowed: %v; %d of them acknowledged before a save that must hold them), duplicate applies %d, stale reads %d, unknown outcomes %d\n",
		v.ProfilesChecked, v.LostDurable, v.LostMemory, v.LostMemoryAllowed, v.LostMemorySaved, v.DuplicateApplies, v.StaleReads, v.UnknownOutcomes)
	for i, s := range v.Violations {
		if i == 20 {
			fmt.Printf("  ... %d more\n", len(v.Violations)-20)
			break
		}
		fmt.Printf("  VIOLATION %s\n", s)
	}
	if v.OK() {
		fmt.Println("result        contract held")
	} else {
		fmt.Println("result        CONTRACT VIOLATED")
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
