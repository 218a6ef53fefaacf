package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hearth-profiles/hearth/cluster"
	"github.com/hearth-profiles/hearth/cluster/client"
	"github.com/hearth-profiles/hearth/cluster/nodestore"
	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/localstore"
	"github.com/hearth-profiles/hearth/persistence/sqlstore"
)

// options are the command line's choices of what to drive.
type options struct {
	embedded   bool
	target     string
	baseline   string
	db         string
	dbLatency  time.Duration
	dbPID      int
	spawn      int
	transport  string
	consul     string
	chaos      bool
	chaosEvery time.Duration
	nodeBin    string
	nodePIDs   []int
	dataDir    string
}

// setup is what a run drives and how to check it afterwards.
type setup struct {
	transport client.Transport
	target    string
	metrics   func() []string // gateways to scrape
	gateways  func() []string // the client's gateway targets (nil: not a gateway transport)
	read      func() reader   // the stored profiles, after the run; nil: no verification
	finish    func() error    // stop what the run started, before verifying
	cleanup   []func()        // after the report
	proxy     *latencyProxy   // with -db-latency
	// nodeCPU is the CPU time of what serves the run so far (nil: not
	// measured), with a note on what it covers.
	nodeCPU  func() (time.Duration, error)
	nodeNote string
	// chaos starts the chaos schedule (with -spawn -chaos).
	chaos func(stop <-chan struct{}, killed func(), events chan<- string)
}

func (s *setup) close() {
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

// clientDB is the database URL the run's database clients use: through a
// latency proxy with -db-latency, else the database itself.
func (s *setup) clientDB(o options) (string, error) {
	if o.dbLatency <= 0 {
		return o.db, nil
	}
	network, addr, err := databaseUpstream(o.db)
	if err != nil {
		return "", err
	}
	p, err := startLatencyProxy(network, addr, o.dbLatency)
	if err != nil {
		return "", err
	}
	s.proxy = p
	s.cleanup = append(s.cleanup, func() { p.Close() })
	return viaProxy(o.db, p.Addr())
}

// prepare starts or connects to what the options name. tmp is the run's
// temporary directory.
func prepare(ctx context.Context, o options, cfg Config, log *slog.Logger, tmp string) (*setup, error) {
	s := &setup{metrics: func() []string { return nil }, finish: func() error { return nil }}
	if o.dbLatency > 0 && o.baseline == "" && o.spawn == 0 {
		return s, errors.New("-db-latency puts a proxy in front of the database for -baseline and -spawn runs only")
	}
	switch {
	case o.baseline != "":
		if o.baseline != "sql" && o.baseline != "sql-lock" {
			return s, fmt.Errorf("-baseline %q: want sql or sql-lock", o.baseline)
		}
		if o.db == "" {
			return s, fmt.Errorf("-baseline %s needs -db", o.baseline)
		}
		url, err := s.clientDB(o)
		if err != nil {
			return s, err
		}
		b, err := openBaseline(ctx, url, cfg.Servers, o.baseline == "sql-lock")
		if err != nil {
			return s, fmt.Errorf("baseline: %w", err)
		}
		s.cleanup = append(s.cleanup, b.Close)
		s.transport = b
		s.target = "baseline: one SERIALIZABLE read-modify-write transaction per operation, retried"
		if b.locking {
			s.target = "baseline: one READ COMMITTED transaction per operation that locks the row (SELECT ... FOR UPDATE), 2 round trips"
		}
		s.read = func() reader { return b.reader(cfg.Namespace) }
		s.nodeNote = "no node: the stateless service runs inside the load tester (see loadtest_us_per_op)"
	case o.embedded:
		dir := o.dataDir
		if dir == "" {
			dir = tmp
		}
		nc := config.Default()
		nc.DataDir, nc.Gateway.Listen = dir, "127.0.0.1:0"
		nc.Log.Level = "warn"
		node, err := cluster.Start(ctx, nc, nodestore.Open, log.With("component", "node"))
		if err != nil {
			return s, fmt.Errorf("embedded node: %w", err)
		}
		gws := newGateways([]string{node.Addr()})
		s.transport, s.target, s.gateways = gws, "embedded node "+node.Addr(), gws.addrs
		s.metrics = func() []string { return []string{node.Addr()} }
		s.finish = func() error {
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return errors.Join(node.Drain(dctx), node.Close())
		}
		s.read = func() reader {
			st, err := localstore.Open(nc.DataDir+"/hearth.db", localstore.Options{})
			if err != nil {
				return func(context.Context, string) (stored, error) { return stored{}, err }
			}
			return storeReader(st, cfg.Namespace)
		}
		s.nodeCPU = func() (time.Duration, error) { return selfCPU(), nil }
		s.nodeNote = "-embedded: the node runs inside the load tester, so this is the whole process, load generator included"
	case o.spawn > 0:
		if o.db == "" || o.consul == "" {
			return s, errors.New("-spawn needs -db and -consul")
		}
		if o.transport != "gateway" && o.transport != "cluster" {
			return s, fmt.Errorf("-transport %q: want gateway or cluster", o.transport)
		}
		url, err := s.clientDB(o)
		if err != nil {
			return s, err
		}
		bin := o.nodeBin
		if bin == "" {
			if bin, err = buildNode(tmp); err != nil {
				return s, err
			}
		}
		f := &fleet{bin: bin, db: url, consul: o.consul, service: fmt.Sprintf("hearth-loadtest-%d", time.Now().UnixNano()), log: log, logDir: tmp}
		for range o.spawn {
			if _, err := f.start(""); err != nil {
				f.stopAll()
				return s, fmt.Errorf("spawn: %w", err)
			}
		}
		gws := newGateways(f.gateways())
		f.added = gws.add // chaos's new nodes become targets
		s.transport, s.target, s.gateways = gws, fmt.Sprintf("%d spawned nodes via gateways (%s)", o.spawn, describe(f.gateways())), gws.addrs
		if o.transport == "cluster" {
			conn, err := cluster.DialCluster(ctx, cluster.ClientConfig{ConsulAddress: o.consul, Service: f.service})
			if err != nil {
				f.stopAll()
				return s, fmt.Errorf("cluster client: %w", err)
			}
			s.transport, s.target, s.gateways = conn, fmt.Sprintf("%d spawned nodes via the cluster client (consul %s, service %s)", o.spawn, o.consul, f.service), nil
			// The client leaves before the nodes stop: protoactor's remote
			// races its own Shutdown against the endpoint-terminated events
			// that stopped nodes cause (seen with -race).
			s.finish = func() error { conn.Close(); f.stopAll(); return nil }
		} else {
			s.finish = func() error { f.stopAll(); return nil }
		}
		s.metrics = f.gateways
		s.read = sqlReader(ctx, o.db, cfg.Namespace)
		s.nodeCPU = f.cpu
		s.nodeNote = "every spawned node process, restarted and added ones included"
		if o.chaos {
			every := o.chaosEvery
			s.chaos = func(stop <-chan struct{}, killed func(), events chan<- string) { f.chaos(every, stop, killed, events) }
		}
	case o.target != "":
		if rest, ok := strings.CutPrefix(o.target, "consul://"); ok {
			addr, service, _ := strings.Cut(rest, "/")
			conn, err := cluster.DialCluster(ctx, cluster.ClientConfig{ConsulAddress: addr, Service: service})
			if err != nil {
				return s, fmt.Errorf("cluster client: %w", err)
			}
			s.cleanup = append(s.cleanup, func() { conn.Close() })
			s.transport, s.target = conn, "cluster client via consul "+rest
		} else {
			addrs := strings.Split(o.target, ",")
			gws := newGateways(addrs)
			s.transport, s.target, s.gateways = gws, describe(addrs), gws.addrs
			s.metrics = func() []string { return addrs }
		}
		if o.db != "" {
			s.read = sqlReader(ctx, o.db, cfg.Namespace)
		}
		if len(o.nodePIDs) > 0 {
			pids := o.nodePIDs
			s.nodeCPU = func() (time.Duration, error) {
				var total time.Duration
				for _, pid := range pids {
					t, err := readProcTimes(pid)
					if err != nil {
						return 0, err
					}
					total += t.self
				}
				return total, nil
			}
			s.nodeNote = fmt.Sprintf("the processes given by -node-pid %v", pids)
		} else {
			s.nodeNote = "not measured: give -node-pid with the nodes' process ids"
		}
	default:
		return s, errors.New("choose a target: -embedded, -target, -baseline sql|sql-lock or -spawn (see -help)")
	}
	return s, nil
}

// databaseCPU is how to read the database server's CPU time (nil: not
// measured), from -db-pid or the process listening where -db points.
func databaseCPU(o options) (func() (time.Duration, error), string) {
	if o.db == "" {
		return nil, "no database"
	}
	pid := o.dbPID
	if pid == 0 {
		var err error
		if pid, err = listenerPID(o.db); err != nil {
			return nil, "not measured: " + err.Error()
		}
	}
	if _, err := treeCPU(pid); err != nil {
		return nil, "not measured: " + err.Error()
	}
	return func() (time.Duration, error) { return treeCPU(pid) },
		fmt.Sprintf("process %d and its children (PostgreSQL: the postmaster and every backend, of any client)", pid)
}

func sqlReader(ctx context.Context, url, namespace string) func() reader {
	return func() reader {
		s, err := sqlstore.Open(ctx, url, sqlstore.Options{SkipMigrations: true})
		if err != nil {
			return func(context.Context, string) (stored, error) { return stored{}, err }
		}
		var st persistence.Store = s
		return storeReader(st, namespace)
	}
}
