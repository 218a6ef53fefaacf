package storetest

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// The benchmarks every store runs, so the SQL and embedded figures in
// docs/BENCHMARKS.md come from the same workload.

// BenchDocument is a ~1 KB JSON profile, the size the targets are stated for.
func BenchDocument(seed int) []byte {
	doc := fmt.Sprintf(`{"level":%d,"xp":%d,"coins":%d,"gems":12,"name":"player-%06d",`+
		`"settings":{"music":0.8,"sfx":0.6,"lang":"en","hints":true},`+
		`"inventory":[`, seed%90+1, seed*37, seed*11, seed)
	for i := 0; i < 14; i++ {
		if i > 0 {
			doc += ","
		}
		doc += fmt.Sprintf(`{"item":"sword-%03d","qty":%d,"rarity":"epic","bound":false}`, (seed+i)%997, i+1)
	}
	return []byte(doc + `],"quests":{"q1":"done","q2":"active","q3":"locked"}}`)
}

// BenchSave measures batched fenced saves: writers goroutines each save
// batches of batch rows to profiles they own, until b.N rows are saved.
// It reports rows/s.
func BenchSave(b *testing.B, s persistence.Store, batch, writers int) {
	ctx := context.Background()
	node := benchNode(b, s)
	type owned struct {
		key   persistence.ProfileKey
		epoch int64
		seq   int64
	}
	sets := make([][]owned, writers)
	for w := range sets {
		for i := 0; i < batch; i++ {
			key := persistence.ProfileKey{Namespace: "bench", ID: spreadID("save", w, i)}
			a, err := s.Acquire(ctx, node, key)
			if err != nil {
				b.Fatal(err)
			}
			sets[w] = append(sets[w], owned{key: key, epoch: a.Epoch})
		}
	}
	doc := BenchDocument(batch)
	// remaining hands out work; saved counts what was done, which can exceed
	// b.N by up to one batch per writer, and is what the rate is made of.
	var remaining, saved atomic.Int64
	remaining.Store(int64(b.N))
	elapsed := runWorkers(b, writers, func(w int) error {
		set := sets[w]
		rows := make([]persistence.SaveRow, len(set))
		for remaining.Add(-int64(len(set))) > -int64(len(set)) {
			for i := range set {
				set[i].seq++
				rows[i] = persistence.SaveRow{Key: set[i].key, Epoch: set[i].epoch, Seq: set[i].seq, SchemaVersion: 1, Document: doc}
			}
			res, err := s.Save(ctx, node, rows)
			if err != nil {
				return err
			}
			for _, r := range res {
				if r.Outcome != persistence.SaveSaved {
					return fmt.Errorf("%s: %s", r.Key, r.Outcome)
				}
			}
			saved.Add(int64(len(res)))
		}
		return nil
	})
	b.ReportMetric(float64(saved.Load())/elapsed.Seconds(), "rows/s")
}

// BenchAcquire measures activations: workers goroutines acquire profiles
// that exist with a ~1 KB snapshot (read + fence + epoch bump), until b.N
// acquisitions are done. Each worker cycles over its own profiles so the
// figure is throughput, not contention. It reports acquires/s.
func BenchAcquire(b *testing.B, s persistence.Store, workers int) {
	ctx := context.Background()
	node := benchNode(b, s)
	const perWorker = 50
	keys := make([][]persistence.ProfileKey, workers)
	for w := range keys {
		var rows []persistence.SaveRow
		for i := 0; i < perWorker; i++ {
			key := persistence.ProfileKey{Namespace: "bench", ID: spreadID("acq", w, i)}
			a, err := s.Acquire(ctx, node, key)
			if err != nil {
				b.Fatal(err)
			}
			rows = append(rows, persistence.SaveRow{Key: key, Epoch: a.Epoch, Seq: 1, SchemaVersion: 1,
				Document: BenchDocument(i), Release: true})
			keys[w] = append(keys[w], key)
		}
		if _, err := s.Save(ctx, node, rows); err != nil {
			b.Fatal(err)
		}
	}
	var remaining atomic.Int64
	remaining.Store(int64(b.N))
	elapsed := runWorkers(b, workers, func(w int) error {
		for i := 0; remaining.Add(-1) >= 0; i++ {
			a, err := s.Acquire(ctx, node, keys[w][i%len(keys[w])])
			if err != nil {
				return err
			}
			if a.Snapshot == nil {
				return fmt.Errorf("%s: no snapshot", a.Key)
			}
		}
		return nil
	})
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "acquires/s")
}

// BenchColdActivation measures cold activations: workers goroutines take
// profiles that exist with a ~1 KB snapshot and that no node holds (saved
// and released), each profile once, until b.N are active. batch 0 takes them
// one Acquire at a time; batch n in AcquireBatch calls of n requests without
// Create (how a node activates the profiles a burst of requests names).
// It reports activations/s.
func BenchColdActivation(b *testing.B, s persistence.Store, batch, workers int) {
	ctx := context.Background()
	node := benchNode(b, s)
	per := (b.N + workers - 1) / workers
	if batch > 0 {
		per = (per + batch - 1) / batch * batch
	}
	keys := make([][]persistence.ProfileKey, workers)
	for w := range keys {
		for i := 0; i < per; i++ {
			keys[w] = append(keys[w], persistence.ProfileKey{Namespace: "bench", ID: spreadID(node+"-cold", w, i)})
		}
		prepareReleased(b, s, node, keys[w])
	}
	var activated atomic.Int64
	elapsed := runWorkers(b, workers, func(w int) error {
		ks := keys[w]
		if batch == 0 {
			for _, k := range ks {
				a, err := s.Acquire(ctx, node, k)
				if err != nil {
					return err
				}
				if a.Snapshot == nil {
					return fmt.Errorf("%s: no snapshot", k)
				}
				activated.Add(1)
			}
			return nil
		}
		reqs := make([]persistence.AcquireRequest, batch)
		for i := 0; i < len(ks); i += batch {
			for j := range reqs {
				reqs[j] = persistence.AcquireRequest{Key: ks[i+j]}
			}
			res, err := s.AcquireBatch(ctx, node, reqs)
			if err != nil {
				return err
			}
			for j, r := range res {
				if r.Err != nil {
					return r.Err
				}
				if r.Acquired.Snapshot == nil {
					return fmt.Errorf("%s: no snapshot", reqs[j].Key)
				}
			}
			activated.Add(int64(len(res)))
		}
		return nil
	})
	b.ReportMetric(float64(activated.Load())/elapsed.Seconds(), "activations/s")
}

// prepareReleased creates keys with one ~1 KB snapshot each and releases
// them, in batches the store accepts.
func prepareReleased(b *testing.B, s persistence.Store, node string, keys []persistence.ProfileKey) {
	ctx := context.Background()
	step := s.Limits().MaxBatchRows
	for from := 0; from < len(keys); from += step {
		chunk := keys[from:min(from+step, len(keys))]
		reqs := make([]persistence.AcquireRequest, len(chunk))
		for i, k := range chunk {
			reqs[i] = persistence.AcquireRequest{Key: k, Create: true}
		}
		res, err := s.AcquireBatch(ctx, node, reqs)
		if err != nil {
			b.Fatal(err)
		}
		rows := make([]persistence.SaveRow, len(chunk))
		for i, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			rows[i] = persistence.SaveRow{Key: chunk[i], Epoch: r.Acquired.Epoch, Seq: 1, SchemaVersion: 1,
				Document: BenchDocument(from + i), Release: true}
		}
		if _, err := s.Save(ctx, node, rows); err != nil {
			b.Fatal(err)
		}
	}
}

// spreadID makes profile ids that scatter over the key space, as real player
// ids do. Ids like "save-0-1", "save-0-2" would put every writer's rows on
// the same few index pages, where a page-granular lock manager (PostgreSQL's
// SERIALIZABLE) sees conflicts between writers that share no profile.
func spreadID(kind string, w, i int) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s-%d-%d", kind, w, i)
	return fmt.Sprintf("%08x-%s-%d-%d", h.Sum32(), kind, w, i)
}

// runWorkers runs fn for workers goroutines with the benchmark timer on,
// and fails the benchmark with the first error.
func runWorkers(b *testing.B, workers int, fn func(w int) error) time.Duration {
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(w); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return elapsed
}

// benchNode registers a node with a lease long enough for any benchmark.
func benchNode(b *testing.B, s persistence.Store) string {
	id := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if _, err := s.RegisterNode(context.Background(), persistence.NodeInfo{ID: id}, time.Hour); err != nil {
		b.Fatal(err)
	}
	return id
}
