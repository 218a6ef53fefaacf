package cluster

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/messages/hearthv1/hearthv1connect"
)

// BenchmarkRecovery measures, with real node processes on the default
// lease settings (lease.ttl 5 s, lease.renew 1 s, consul.check_ttl 1 s),
// how long the profiles a fault touches go unanswered, and what the other
// profiles' throughput does meanwhile. Each run starts three fresh nodes,
// keeps one write in flight per profile (so a stuck profile holds up no
// other), injects the fault, and waits until every affected profile has
// answered again.
//
//	go test -run '^$' -bench Recovery -benchtime 3x -timeout 40m ./cluster/
//
// Metrics per fault, over the runs (testing runs one more first, with
// b.N = 1): the longest time an affected profile went without an answer
// from the fault on (median and max over runs, ms), and the unaffected
// profiles' throughput after the fault relative to before (the mean over
// the recovery, and the worst 250 ms), and the p99 over every affected
// profile of every run of its longest gap (for SIGTERM and a node added,
// the planned handoff's cost per profile; those runs use 240 profiles
// instead of 60 so the p99 rests on about 180 profiles).
func BenchmarkRecovery(b *testing.B) {
	for _, fault := range []string{"sigterm", "kill9", "sigstop", "consul-restart", "consul-restart+sigterm", "node-added"} {
		b.Run(fault, func(b *testing.B) {
			var rec, mean, worst, worstBefore, inFlight, rereg, gaps, gapsBefore, lat, latBefore []float64
			for i := range b.N {
				r := recoveryRun(b, fault)
				b.Logf("run %d: %s: %d affected profiles, all answering again after %v (per profile median %v); writes in flight at the fault ended within %v; unaffected throughput %.2f of before (worst 250 ms %.2f; before the fault %.2f); consul lists every node again after %v",
					i, fault, r.affected, r.recovered.Round(time.Millisecond), r.medianProfile.Round(time.Millisecond), r.inFlight.Round(time.Millisecond),
					r.meanRatio, r.worstRatio, r.worstBefore, r.reregistered.Round(time.Millisecond))
				rec = append(rec, float64(r.recovered.Milliseconds()))
				mean, worst = append(mean, r.meanRatio), append(worst, r.worstRatio)
				worstBefore = append(worstBefore, r.worstBefore)
				inFlight = append(inFlight, float64(r.inFlight.Milliseconds()))
				rereg = append(rereg, float64(r.reregistered.Milliseconds()))
				gaps = append(gaps, r.perProfile...)
				gapsBefore = append(gapsBefore, r.perProfileBefore...)
				lat, latBefore = append(lat, r.latency...), append(latBefore, r.latencyBefore...)
			}
			// Every affected profile of every run: the handoff as one
			// profile's callers see it (for SIGTERM, a drain; for a node
			// added, a scale-out).
			b.ReportMetric(percentile(gaps, 0.99)/1e6, "profile-gap-p99-ms")
			// The same profiles' longest gap in the 3 s before the fault:
			// what closed-loop writes on two busy cores cost without one.
			b.ReportMetric(percentile(gapsBefore, 0.99)/1e6, "profile-gap-before-p99-ms")
			// Each affected profile's slowest write (first attempt to
			// answer, retries included) from the fault on, and before it:
			// on the paced planned-move runs, the handoff's cost per
			// profile as its caller sees it.
			b.ReportMetric(percentile(lat, 0.99)/1e6, "write-p99-ms")
			b.ReportMetric(percentile(lat, 0.5)/1e6, "write-p50-ms")
			b.ReportMetric(percentile(latBefore, 0.99)/1e6, "write-before-p99-ms")
			b.ReportMetric(float64(len(gaps)), "profiles-measured")
			b.ReportMetric(median(rec), "recovery-ms-median")
			b.ReportMetric(slices.Max(rec), "recovery-ms-max")
			b.ReportMetric(median(mean), "unaffected-tput-ratio")
			b.ReportMetric(median(worst), "unaffected-tput-worst250ms")
			b.ReportMetric(median(worstBefore), "before-tput-worst250ms")
			b.ReportMetric(median(inFlight), "inflight-end-ms")
			if fault == "consul-restart" {
				b.ReportMetric(median(rereg), "reregistered-ms")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// percentile is the nearest-rank q-quantile of xs.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1)]
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type recovery struct {
	affected   int
	perProfile []float64 // each affected profile's longest gap without an answer, ns
	// each affected profile's longest gap in the 3 s before the fault, ns
	perProfileBefore []float64
	// each affected profile's slowest write answered from the fault on,
	// and in the 3 s before it, ns
	latency, latencyBefore []float64
	recovered              time.Duration // until every affected profile answered again
	medianProfile          time.Duration
	inFlight               time.Duration // the longest a write in flight at the fault took to end (the client gives up at 2 s)
	reregistered           time.Duration // Consul restarts: until every node is listed again
	meanRatio              float64
	worstRatio             float64
	worstBefore            float64 // the same worst window in the 3 s before the fault (the machine's noise)
}

// defaultLease undoes the test cluster's shorter lease: the measurement is
// of the settings a deployment gets.
var defaultLease = []string{"HEARTH_LEASE__TTL=5s", "HEARTH_LEASE__RENEW=1s", "HEARTH_LEASE__SAFETY_MARGIN=1s", "HEARTH_CONSUL__CHECK_TTL=1s"}

func recoveryRun(b *testing.B, fault string) recovery {
	b.StopTimer()
	c := newTestCluster(b)
	defer c.stop()
	nodes := []*proc{c.start("node-a", defaultLease...), c.start("node-b", defaultLease...), c.start("node-c", defaultLease...)}
	c.waitMembers(3)
	members := []Member{{ID: "node-a~0", NodeID: "node-a"}, {ID: "node-b~0", NodeID: "node-b"}, {ID: "node-c~0", NodeID: "node-c"}}
	// Planned moves get more profiles, for a per-profile p99 over the runs.
	profiles := 60
	if fault == "sigterm" || fault == "node-added" {
		profiles = 240
	}
	if fault == "sigterm" || fault == "node-added" {
		prefillDatabase(b, c.dbURL)
	}
	victim := nodes[2]
	// One connection per profile and gateway, kept open (the default
	// transport keeps two per host and redials the rest every request).
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * profiles}}
	defer hc.CloseIdleConnections()
	var gateways []hearthv1connect.ProfileServiceClient
	for _, n := range nodes[:2] {
		gateways = append(gateways, hearthv1connect.NewProfileServiceClient(hc, "http://"+n.gateway))
	}
	// Planned moves are measured per write, on a load paced below what
	// the two cores can do: closed-loop writes back to back keep the
	// machine saturated, and a profile then waits 100-200 ms between
	// answers at p99 with no fault at all.
	var pace time.Duration
	if fault == "sigterm" || fault == "node-added" {
		pace = plannedPace
	}
	load := startLoad(gateways, profiles, pace)
	defer load.finish()
	if !load.waitAll(time.Now(), 30*time.Second) {
		b.Fatal("profiles not answering before the fault")
	}
	time.Sleep(3 * time.Second) // a steady rate to compare with

	ownedBy := func(ms []Member, node string) []int {
		var out []int
		for i := range profiles {
			k, _ := profileKeyOf(profileRef(i))
			if owner(ms, k).NodeID == node {
				out = append(out, i)
			}
		}
		return out
	}
	var affected []int
	reregistered := make(chan time.Duration, 1)
	t0 := time.Now()
	switch fault {
	case "sigterm", "kill9", "sigstop":
		affected = ownedBy(members, "node-c")
		sig := map[string]syscall.Signal{"sigterm": syscall.SIGTERM, "kill9": syscall.SIGKILL, "sigstop": syscall.SIGSTOP}[fault]
		t0 = time.Now()
		if err := victim.cmd.Process.Signal(sig); err != nil {
			b.Fatal(err)
		}
		if fault == "sigstop" {
			defer func() { _ = victim.cmd.Process.Signal(syscall.SIGCONT) }()
		}
	case "consul-restart", "consul-restart+sigterm":
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		t0 = time.Now()
		if err := consul.Restart(ctx); err != nil {
			b.Fatal(err)
		}
		restarted := t0
		go func() {
			cl := consulClient(b)
			for ctx.Err() == nil {
				if entries, _, err := cl.Health().Service(c.service, "", true, nil); err == nil && len(entries) == 3 {
					reregistered <- time.Since(restarted)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		for i := range profiles {
			affected = append(affected, i)
		}
		if fault == "consul-restart+sigterm" {
			// The case: a node stops while the others' member lists
			// may still be stale from the restart.
			affected = ownedBy(members, "node-c")
			t0 = time.Now()
			if err := victim.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				b.Fatal(err)
			}
		}
	case "node-added":
		t0 = time.Now()
		c.start("node-d", defaultLease...)
		affected = ownedBy(append(members, Member{ID: "node-d~0", NodeID: "node-d"}), "node-d")
	default:
		b.Fatalf("unknown fault %s", fault)
	}
	if !load.waitAffected(affected, t0, 60*time.Second) {
		b.Fatalf("%s: affected profiles not answering 60s after the fault", fault)
	}
	time.Sleep(2 * time.Second) // the tail, and answers for the gap after a handoff
	end := time.Now()
	load.finish()

	r := recovery{affected: len(affected)}
	var perProfile []float64
	for _, p := range affected {
		g := load.longestGap(p, t0, end)
		perProfile = append(perProfile, float64(g))
		r.perProfileBefore = append(r.perProfileBefore, float64(load.longestGap(p, t0.Add(-3*time.Second), t0)))
		r.latency = append(r.latency, float64(load.slowestWrite(p, t0, end)))
		r.latencyBefore = append(r.latencyBefore, float64(load.slowestWrite(p, t0.Add(-3*time.Second), t0)))
		r.recovered = max(r.recovered, g)
		r.inFlight = max(r.inFlight, load.inFlightAt(p, t0))
	}
	r.medianProfile = time.Duration(median(perProfile))
	if testing.Verbose() && len(affected) > 0 {
		// The slowest write's failed attempts: where a handoff's tail goes.
		slow := affected[slices.Index(r.latency, slices.Max(r.latency))]
		b.Logf("slowest write: profile %d, %v", slow, load.slowestWrite(slow, t0, end).Round(time.Millisecond))
		for _, a := range load.failedSince(slow, t0) {
			b.Logf("  failed attempt at +%v after %v: %s", a.sent.Sub(t0).Round(time.Millisecond), a.done.Sub(a.sent).Round(time.Millisecond), a.err)
		}
		// How long the nodes' own side of a planned move took: the drain
		// and the handoff passes, as each node logged them.
		for _, p := range c.procs {
			for _, line := range strings.Split(p.logs(), "\n") {
				if strings.Contains(line, "handed off") || strings.Contains(line, "member list changed") || strings.Contains(line, "msg=drained") || strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
					b.Logf("%s: %s", p.id, line)
				}
			}
		}
	}
	r.perProfile = perProfile
	select {
	case r.reregistered = <-reregistered:
	default:
	}
	var unaffected []int
	for i := range profiles {
		if !slices.Contains(affected, i) {
			unaffected = append(unaffected, i)
		}
	}
	if len(unaffected) > 0 {
		before := load.rate(unaffected, t0.Add(-3*time.Second), t0)
		until := t0.Add(max(r.recovered, time.Second))
		r.meanRatio = load.rate(unaffected, t0, until) / before
		r.worstRatio = load.worstWindow(unaffected, t0, until) / before
		r.worstBefore = load.worstWindow(unaffected, t0.Add(-3*time.Second), t0) / before
	}
	return r
}

// load keeps one memory-lane write in flight per profile through the given
// gateways (a failed write is retried on the next gateway), and records
// when each profile's writes were answered.
type load struct {
	gateways []hearthv1connect.ProfileServiceClient
	pace     time.Duration // 0: back to back; else one write per profile per pace
	stop     chan struct{}
	done     sync.WaitGroup
	once     sync.Once
	mu       sync.Mutex
	answered [][]answer
	failed   [][]answer // writes that got an error or no answer in time
}

// answer is one acknowledged write: when it was sent and answered, and
// when its first attempt was sent (retries included, its latency as the
// caller sees it is done - first).
type answer struct {
	first, sent, done time.Time
	err               string // for a failed attempt: why
}

// plannedPace is how often each profile writes in the planned-move runs:
// 240 profiles every 200 ms, 1,200 writes/s (a player's game server writes
// every few seconds), which leaves the two cores room: at 50 ms (4,800/s)
// the slowest writes before any fault already took 55-75 ms at p99.
const plannedPace = 200 * time.Millisecond

func startLoad(gateways []hearthv1connect.ProfileServiceClient, profiles int, pace time.Duration) *load {
	l := &load{gateways: gateways, pace: pace, stop: make(chan struct{}), answered: make([][]answer, profiles), failed: make([][]answer, profiles)}
	for p := range profiles {
		l.done.Add(1)
		go l.run(p)
	}
	return l
}

func (l *load) run(p int) {
	defer l.done.Done()
	for n, attempt := 0, 0; ; n++ {
		req := &hearthv1.UpdateRequest{Profile: profileRef(p), IdempotencyKey: fmt.Sprint("load-", p, "-", n),
			Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: "/n", Value: "1"}}}
		first := time.Now()
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			sent := time.Now()
			res, err := l.gateways[(p+attempt)%len(l.gateways)].Update(ctx, connect.NewRequest(req))
			cancel()
			if err == nil && res.Msg.GetError() == nil {
				l.mu.Lock()
				l.answered[p] = append(l.answered[p], answer{first: first, sent: sent, done: time.Now()})
				l.mu.Unlock()
				if wait := time.Until(first.Add(l.pace)); wait > 0 {
					time.Sleep(wait)
				}
				break
			}
			l.mu.Lock()
			why := fmt.Sprint(err)
			if err == nil {
				why = res.Msg.GetError().String()
			}
			l.failed[p] = append(l.failed[p], answer{first: first, sent: sent, done: time.Now(), err: why})
			l.mu.Unlock()
			attempt++
			time.Sleep(20 * time.Millisecond) // the client's retry delay
		}
	}
}

func (l *load) finish() {
	l.once.Do(func() { close(l.stop) })
	l.done.Wait()
}

// waitAll waits until every profile answered a write sent after since.
func (l *load) waitAll(since time.Time, within time.Duration) bool {
	all := make([]int, len(l.answered))
	for i := range all {
		all[i] = i
	}
	return l.waitAffected(all, since, within)
}

func (l *load) waitAffected(ps []int, since time.Time, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		ok := true
		for _, p := range ps {
			// A write sent before the fault and answered after it proves
			// nothing about the profile's new owner.
			if a := l.answered[p]; len(a) == 0 || a[len(a)-1].sent.Before(since) {
				ok = false
				break
			}
		}
		l.mu.Unlock()
		if ok {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// inFlightAt is how long after t the write to p in flight at t took to
// end (answered or failed); 0 if none was.
func (l *load) inFlightAt(p int, t time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, as := range [][]answer{l.answered[p], l.failed[p]} {
		for _, a := range as {
			if a.sent.Before(t) && a.done.After(t) {
				return a.done.Sub(t)
			}
		}
	}
	return 0
}

// longestGap is the longest time profile p went without an answer between
// from and to, counting from as an answer.
func (l *load) longestGap(p int, from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	last, gap := from, time.Duration(0)
	for _, a := range l.answered[p] {
		if t := a.done; !t.Before(from) && !t.After(to) {
			gap = max(gap, t.Sub(last))
			last = t
		}
	}
	return max(gap, to.Sub(last))
}

// failedSince lists p's failed attempts sent from t on.
func (l *load) failedSince(p int, t time.Time) []answer {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []answer
	for _, a := range l.failed[p] {
		if !a.sent.Before(t) {
			out = append(out, a)
		}
	}
	return out
}

// slowestWrite is the longest a write to p answered in [from, to] took
// from its first attempt.
func (l *load) slowestWrite(p int, from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var worst time.Duration
	for _, a := range l.answered[p] {
		if !a.done.Before(from) && !a.done.After(to) {
			worst = max(worst, a.done.Sub(a.first))
		}
	}
	return worst
}

// worstWindow is the lowest rate of answers to ps in a 250 ms window of
// [from, to).
func (l *load) worstWindow(ps []int, from, to time.Time) float64 {
	worst := math.Inf(1)
	for w := from; w.Add(250*time.Millisecond).Compare(to) <= 0; w = w.Add(250 * time.Millisecond) {
		worst = min(worst, l.rate(ps, w, w.Add(250*time.Millisecond)))
	}
	return worst
}

// rate is the answers per second to the profiles ps in [from, to).
func (l *load) rate(ps []int, from, to time.Time) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range ps {
		for _, a := range l.answered[p] {
			if !a.done.Before(from) && a.done.Before(to) {
				n++
			}
		}
	}
	return float64(n) / to.Sub(from).Seconds()
}

// prefillDatabase gives the tables the rows a production database has
// (100,000 other profiles, each with a snapshot) and fresh statistics, as
// the store's own benchmarks do: on nearly empty tables PostgreSQL plans
// sequential scans, whose relation-wide SIREAD locks make concurrent
// SERIALIZABLE transactions (a drain's saves, the new owners' acquires)
// fail and retry although they share no profile. CockroachDB tracks
// conflicts per key.
func prefillDatabase(b *testing.B, url string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`INSERT INTO hearth_profiles (namespace, profile_id, owner_node, epoch, save_seq, schema_version)
		 SELECT 'fill', 'f' || g::TEXT, NULL, 1, 1, 1 FROM generate_series(1, 100000) AS g`,
		`INSERT INTO hearth_snapshots (namespace, profile_id, save_seq, epoch, schema_version, document, size_bytes)
		 SELECT 'fill', 'f' || g::TEXT, 1, 1, 1, '\x7b7d'::BYTEA, 2 FROM generate_series(1, 100000) AS g`,
		`ANALYZE hearth_profiles`, `ANALYZE hearth_snapshots`, `ANALYZE hearth_records`, `ANALYZE hearth_nodes`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}
