package profile

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-profiles/hearth/actors/groupcommit"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/localstore"
	"github.com/hearth-profiles/hearth/persistence/sqlstore"
)

// benchHost starts a Host on a real clock for benchmarks, with a counter of
// rows and batches the committer wrote.
func benchHost(b *testing.B, store persistence.Store) (*Host, *atomic.Int64, *atomic.Int64) {
	b.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if _, err := store.RegisterNode(ctx, persistence.NodeInfo{ID: id}, time.Hour); err != nil {
		b.Fatal(err)
	}
	var rows, batches atomic.Int64
	c := groupcommit.New(store, store.Limits(), id, groupcommit.Options{OnBatch: func(n int, _ time.Duration, _ error) {
		rows.Add(int64(n))
		batches.Add(1)
	}})
	b.Cleanup(c.Close)
	system := newQuietSystem()
	b.Cleanup(system.Shutdown)
	h, err := NewHost(system, Config{NodeID: id, Store: store, Committer: c, AllowUnknownNamespaces: true, Clock: clockwork.NewRealClock()})
	if err != nil {
		b.Fatal(err)
	}
	return h, &rows, &batches
}

func benchStores(b *testing.B) map[string]func(b *testing.B) persistence.Store {
	return map[string]func(b *testing.B) persistence.Store{
		"bolt-fsync": func(b *testing.B) persistence.Store {
			s, err := localstore.Open(filepath.Join(b.TempDir(), "bench.db"), localstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		},
		"postgres": func(b *testing.B) persistence.Store {
			s, err := sqlstore.Open(context.Background(), pg.NewDatabase(b), sqlstore.Options{MaxConns: 8})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
}

// BenchmarkDurableUpdates: callers each own a profile and send durable
// updates back to back. Each answer waits for a commit, so one caller is
// bound by commit latency; with more callers the committer batches their
// saves and throughput grows with concurrency (the point of group commit).
func BenchmarkDurableUpdates(b *testing.B) {
	for _, name := range []string{"bolt-fsync", "postgres"} {
		for _, callers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", name, callers), func(b *testing.B) {
				h, rows, batches := benchHost(b, benchStores(b)[name](b))
				runCallers(b, h, callers, hearthv1.Durability_DURABILITY_DURABLE)
				if n := batches.Load(); n > 0 {
					b.ReportMetric(float64(rows.Load())/float64(n), "rows/batch")
				}
			})
		}
	}
}

// BenchmarkMemoryUpdates: the memory lane, answered without waiting for the
// store; its cost is the actor round trip and the document operation.
func BenchmarkMemoryUpdates(b *testing.B) {
	for _, callers := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			h, _, _ := benchHost(b, localstore.OpenMemory(localstore.Options{}))
			runCallers(b, h, callers, hearthv1.Durability_DURABILITY_MEMORY)
		})
	}
}

func runCallers(b *testing.B, h *Host, callers int, d hearthv1.Durability) {
	b.Helper()
	ctx := context.Background()
	for i := range callers {
		mustBench(b, h, &hearthv1.UpdateRequest{Profile: ref(fmt.Sprint("c", i)), Operations: []*hearthv1.Operation{set("/name", `"bench"`)}})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &hearthv1.UpdateRequest{Profile: ref(fmt.Sprint("c", i)), Durability: d,
				Operations: []*hearthv1.Operation{incr("/coins", "1"), set("/last", `"x"`)}}
			for next.Add(1) <= int64(b.N) {
				res, err := h.Request(ctx, req)
				if err != nil || res.(*hearthv1.UpdateResponse).GetError() != nil {
					b.Errorf("update: %v %v", err, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
}

func mustBench(b *testing.B, h *Host, req *hearthv1.UpdateRequest) {
	res, err := h.Request(context.Background(), req)
	if err != nil || res.(*hearthv1.UpdateResponse).GetError() != nil {
		b.Fatalf("%v %v", err, res)
	}
}
