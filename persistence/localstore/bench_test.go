package localstore

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hearth-profiles/hearth/persistence/storetest"
)

// benchEngines are the configurations benchmarked: memory, bbolt without
// fsync (tests), and bbolt with fsync on every commit (the real
// configuration, bounded by the disk's fsync latency).
var benchEngines = []struct {
	name string
	open func(b *testing.B) *Store
}{
	{"memory", func(b *testing.B) *Store { return OpenMemory(Options{}) }},
	{"bolt-nosync", func(b *testing.B) *Store { return openBench(b, true) }},
	{"bolt-fsync", func(b *testing.B) *Store { return openBench(b, false) }},
}

func openBench(b *testing.B, noSync bool) *Store {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSave saves batches of ~1 KB JSON documents from one writer, the
// shape of the actor system's save loop. The rows/s metric is the figure to
// compare; ns/op is per row.
func BenchmarkSave(b *testing.B) {
	for _, e := range benchEngines {
		for _, batch := range []int{1, 10, 100, 500} {
			b.Run(fmt.Sprintf("%s/batch=%d", e.name, batch), func(b *testing.B) {
				s := e.open(b)
				defer s.Close()
				storetest.BenchSave(b, s, batch, 1)
			})
		}
	}
}

// BenchmarkAcquire measures activations of saved profiles (read the newest
// snapshot, fence, bump the epoch), one worker.
func BenchmarkAcquire(b *testing.B) {
	for _, e := range benchEngines {
		b.Run(e.name, func(b *testing.B) {
			s := e.open(b)
			defer s.Close()
			storetest.BenchAcquire(b, s, 1)
		})
	}
}

// BenchmarkColdActivation: 8 workers activating saved, released profiles,
// one Acquire each (batch=0) or AcquireBatch of 1, 16 and 100.
func BenchmarkColdActivation(b *testing.B) {
	for _, e := range benchEngines {
		for _, batch := range []int{0, 1, 16, 100} {
			b.Run(fmt.Sprintf("%s/workers=8/batch=%d", e.name, batch), func(b *testing.B) {
				s := e.open(b)
				defer s.Close()
				storetest.BenchColdActivation(b, s, batch, 8)
			})
		}
	}
}
