// Command loadtest drives a Hearth cluster with simulated game servers,
// verifies the contract afterwards (straight from the database), and
// reports throughput and latency. See docs/BENCHMARKS.md for the runs
// behind the published figures.
//
//	go run ./cmd/loadtest -embedded -duration 20s -report out.json
//	go run ./cmd/loadtest -target 127.0.0.1:8081,127.0.0.1:8082 -db URL
//	go run ./cmd/loadtest -target consul://127.0.0.1:8500/hearth -db URL
//	go run ./cmd/loadtest -baseline sql -db URL
//	go run ./cmd/loadtest -spawn 3 -db URL -consul 127.0.0.1:8500 -chaos
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hearth-profiles/hearth/cluster"
	"github.com/hearth-profiles/hearth/cluster/client"
	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/localstore"
	"github.com/hearth-profiles/hearth/persistence/sqlstore"
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
	Verify                Verify   `json:"verify"`
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
		embedded   = fs.Bool("embedded", false, "start an in-process node with the embedded store (nothing else needed)")
		target     = fs.String("target", "", "node gateways (host:port,...) or consul://ADDR/SERVICE for the Go cluster client")
		baselineF  = fs.String("baseline", "", `"sql": run the workload as one SERIALIZABLE transaction per operation against -db`)
		db         = fs.String("db", "", "database URL: for -baseline, -spawn, and to verify a -target run")
		spawn      = fs.Int("spawn", 0, "start this many node processes (needs -db and -consul)")
		consulAddr = fs.String("consul", "", "Consul HTTP address for -spawn")
		chaos      = fs.Bool("chaos", false, "with -spawn: SIGTERM+restart, kill -9+restart, add a node, in turn")
		chaosEvery = fs.Duration("chaos-every", 8*time.Second, "time between chaos actions")
		nodeBin    = fs.String("node-bin", "", "cmd/node binary for -spawn (default: go build it)")
		reportPath = fs.String("report", "", "write the JSON report here")
		dataDir    = fs.String("data", "", "embedded store directory (default: a temporary one)")
	)
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
	var killed atomic.Bool
	st := newStats(time.Now())
	rep := Report{Config: cfg, Errors: map[string]int64{}}

	var (
		transport client.Transport
		metrics   []string                      // gateways to scrape
		read      func() reader                 // how to read the stored profiles, after the run
		finish    = func() error { return nil } // stop what we started, before verifying
		chaosStop = make(chan struct{})
		events    = make(chan string, 100)
	)
	tmp, err := os.MkdirTemp("", "hearth-loadtest")
	if err != nil {
		log.Error("temp dir", "err", err)
		return 2
	}
	defer os.RemoveAll(tmp)

	switch {
	case *baselineF == "sql":
		if *db == "" {
			log.Error("-baseline sql needs -db")
			return 2
		}
		b, err := openBaseline(ctx, *db, cfg.Servers)
		if err != nil {
			log.Error("baseline", "err", err)
			return 2
		}
		defer b.Close()
		transport, rep.Target = b, "baseline: one SERIALIZABLE read-modify-write transaction per operation"
		read = func() reader { return b.reader(cfg.Namespace) }
	case *embedded:
		dir := *dataDir
		if dir == "" {
			dir = tmp
		}
		nc := config.Default()
		nc.DataDir, nc.Gateway.Listen = dir, "127.0.0.1:0"
		nc.Log.Level = "warn"
		node, err := cluster.Start(ctx, nc, log.With("component", "node"))
		if err != nil {
			log.Error("embedded node", "err", err)
			return 2
		}
		transport, metrics, rep.Target = newGateways([]string{node.Addr()}), []string{node.Addr()}, "embedded node "+node.Addr()
		finish = func() error {
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return errors.Join(node.Drain(dctx), node.Close())
		}
		read = func() reader {
			s, err := localstore.Open(nc.DataDir+"/hearth.db", localstore.Options{})
			if err != nil {
				return func(context.Context, string) (counters, error) { return counters{}, err }
			}
			return storeReader(s, cfg.Namespace)
		}
	case *spawn > 0:
		if *db == "" || *consulAddr == "" {
			log.Error("-spawn needs -db and -consul")
			return 2
		}
		bin := *nodeBin
		if bin == "" {
			if bin, err = buildNode(tmp); err != nil {
				log.Error("node binary", "err", err)
				return 2
			}
		}
		f := &fleet{bin: bin, db: *db, consul: *consulAddr, service: fmt.Sprintf("hearth-loadtest-%d", time.Now().UnixNano()), log: log, logDir: tmp}
		for range *spawn {
			if _, err := f.start(""); err != nil {
				log.Error("spawn", "err", err)
				f.stopAll()
				return 2
			}
		}
		addrs := f.gateways()
		transport, rep.Target = newGateways(addrs), fmt.Sprintf("%d spawned nodes (%s)", *spawn, describe(addrs))
		metrics = addrs
		if *chaos {
			go f.chaos(*chaosEvery, chaosStop, func() { killed.Store(true) }, events)
		}
		finish = func() error { f.stopAll(); return nil }
		read = sqlReader(ctx, *db, cfg.Namespace)
	case *target != "":
		if rest, ok := strings.CutPrefix(*target, "consul://"); ok {
			addr, service, _ := strings.Cut(rest, "/")
			conn, err := cluster.DialCluster(ctx, cluster.ClientConfig{ConsulAddress: addr, Service: service})
			if err != nil {
				log.Error("cluster client", "err", err)
				return 2
			}
			defer conn.Close()
			transport, rep.Target = conn, "cluster client via consul "+rest
		} else {
			addrs := strings.Split(*target, ",")
			transport, metrics, rep.Target = newGateways(addrs), addrs, describe(addrs)
		}
		if *db != "" {
			read = sqlReader(ctx, *db, cfg.Namespace)
		}
	default:
		fmt.Fprintln(os.Stderr, "choose a target: -embedded, -target, -baseline sql or -spawn (see -help)")
		return 2
	}

	cl := client.New(transport, client.Options{Timeout: 30 * time.Second})
	w := newWorkload(cfg, cl, st, &killed)
	fmt.Fprintf(os.Stderr, "loadtest: %s; %d players on %d servers for %s, seed %d\n", rep.Target, cfg.Players, cfg.Servers, cfg.Duration, cfg.Seed)

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
			if len(metrics) > 0 {
				extra = fmt.Sprintf("  activations %.0f", scrape(metrics, "hearth_profile_activations_total"))
			}
			st.progress(os.Stderr, now.Sub(last), extra, tty)
			last = now
		}
	}
	tick.Stop()
	close(chaosStop)
	if tty {
		fmt.Fprintln(os.Stderr)
	}
	elapsed := time.Since(st.start)
	rep.DurationSec = elapsed.Seconds()
	rep.Ops, rep.OpsPerSec, rep.LatencyMS, rep.PerOperation, rep.Errors = st.snapshot(elapsed)
	rep.Activations = scrape(metrics, "hearth_profile_activations_total")
	rep.Passivations = scrape(metrics, "hearth_profile_passivations_total")
	for len(events) > 0 {
		rep.Chaos = append(rep.Chaos, <-events)
	}
	if err := finish(); err != nil {
		log.Error("stopping", "err", err)
	}
	code := 0
	if read != nil {
		v, err := w.verify(context.Background(), read())
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
	if *reportPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*reportPath, append(b, '\n'), 0o644); err != nil {
			log.Error("report", "err", err)
			code = max(code, 2)
		}
	}
	return code
}

func sqlReader(ctx context.Context, url, namespace string) func() reader {
	return func() reader {
		s, err := sqlstore.Open(ctx, url, sqlstore.Options{SkipMigrations: true})
		if err != nil {
			return func(context.Context, string) (counters, error) { return counters{}, err }
		}
		var st persistence.Store = s
		return storeReader(st, namespace)
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
	v := r.Verify
	fmt.Printf("verify        %d profiles: lost durable %d, lost memory %d (allowed: %v), duplicate applies %d, stale reads %d, unknown outcomes %d\n",
		v.ProfilesChecked, v.LostDurable, v.LostMemory, v.LostMemoryAllowed, v.DuplicateApplies, v.StaleReads, v.UnknownOutcomes)
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
