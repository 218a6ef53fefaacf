package profile

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"log/slog"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-profiles/hearth/actors/groupcommit"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/sqlstore"
)

// BenchmarkResidentProfiles loads many ~1 KB profiles into one Host, lets
// them go idle (saved and compacted), and reports what each costs the node:
// Go heap and RSS per resident profile beyond the document's own JSON. The
// store is PostgreSQL, in its own process, so its memory is not counted.
// Run with -benchtime=1x:
//
//	go test -run XXX -bench BenchmarkResidentProfiles -benchtime=1x ./actors/profile/
func BenchmarkResidentProfiles(b *testing.B) {
	for _, n := range []int{100_000, 200_000} {
		b.Run(fmt.Sprintf("profiles=%d", n), func(b *testing.B) {
			for range b.N {
				residentProfiles(b, n)
			}
		})
	}
}

func residentProfiles(b *testing.B, n int) {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, pg.NewDatabase(b), sqlstore.Options{MaxConns: 8})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	id := fmt.Sprintf("resident-%d", time.Now().UnixNano())
	if _, err := store.RegisterNode(ctx, persistence.NodeInfo{ID: id}, time.Hour); err != nil {
		b.Fatal(err)
	}
	clock := clockwork.NewRealClock()
	c := groupcommit.New(store, store.Limits(), id, groupcommit.Options{})
	defer c.Close()
	system := newQuietSystem()
	defer system.Shutdown()
	var logs strings.Builder
	var logMu sync.Mutex
	h, err := NewHost(system, Config{NodeID: id, Store: store, Committer: c, AllowUnknownNamespaces: true, Clock: clock,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Timing: Timing{CompactAfter: time.Second, IdleTimeout: time.Hour}, ActivationWriters: activationWriters()})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()

	// A ~1 KB document: a few counters, a small inventory, settings.
	var inv []string
	for i := range 12 {
		inv = append(inv, fmt.Sprintf(`{"item":"sword-%02d","level":%d,"enchant":"fire"}`, i, i))
	}
	doc := `{"coins":1500,"gems":20,"level":37,"xp":98123,"name":"player",` +
		`"settings":{"music":true,"sfx":false,"lang":"en-GB"},"inventory":[` + strings.Join(inv, ",") + `]}`

	before := heapInUse()
	rssBefore := rss()
	cpuBefore := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				r := &hearthv1.ProfileRef{Namespace: "game", Id: "p" + strconv.FormatInt(i, 10)}
				res, err := h.Request(ctx, &hearthv1.UpdateRequest{Profile: r, Durability: hearthv1.Durability_DURABILITY_DURABLE,
					Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "", Value: doc}}})
				if err != nil || res.(*hearthv1.UpdateResponse).GetError() != nil {
					b.Errorf("load %d: %v %v", i, err, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	loadTook := time.Since(start)
	// Idle: past CompactAfter every profile keeps only its JSON.
	for h.sched.nextAt().Before(clock.Now().Add(time.Minute)) {
		time.Sleep(100 * time.Millisecond) // until every activation compacted and waits for its idle check
	}
	logMu.Lock()
	if logs.Len() > 0 {
		b.Logf("warnings while loading:\n%.2000s", logs.String())
	}
	logMu.Unlock()
	after := heapInUse()
	rssAfter := rss()
	if path := os.Getenv("HEARTH_BENCH_HEAPPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			_ = pprof.WriteHeapProfile(f)
			_ = f.Close()
		}
	}
	if h.Loaded() != n {
		b.Fatalf("%d loaded, want %d", h.Loaded(), n)
	}
	// Idle CPU: nothing to do until the idle timeout, on the real clock
	// the node would sit; measure 5 s of it.
	cpuIdle := cpuTime()
	time.Sleep(5 * time.Second)
	idleCores := (cpuTime() - cpuIdle).Seconds() / 5
	perProfile := float64(after-before) / float64(n)
	b.ReportMetric(perProfile-float64(len(doc)), "heap-B/profile-beyond-doc")
	b.ReportMetric(perProfile, "heap-B/profile")
	b.ReportMetric(float64(rssAfter-rssBefore)/float64(n), "rss-B/profile")
	b.ReportMetric(float64(len(doc)), "doc-B")
	b.ReportMetric(idleCores, "idle-cores")
	b.ReportMetric(float64(n)/loadTook.Seconds(), "loads/s")
	b.ReportMetric((cpuTime()-cpuBefore-5*time.Duration(idleCores*float64(time.Second))).Seconds()*1e6/float64(n), "load-cpu-µs/profile")
	runtime.KeepAlive(h)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// rss is the process's resident set size in bytes (Linux).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// cpuTime is the process's user+system CPU time (Linux).
func cpuTime() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100
}

type lockedWriter struct {
	w  *strings.Builder
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// activationWriters lets a benchmark run compare writer counts
// (HEARTH_BENCH_ACTIVATION_WRITERS); 0 takes the default.
func activationWriters() int {
	n, _ := strconv.Atoi(os.Getenv("HEARTH_BENCH_ACTIVATION_WRITERS"))
	return n
}
