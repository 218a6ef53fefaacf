package sqlstore

import (
	"fmt"
	"testing"

	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/storetest"
)

// Benchmarks against the package's PostgreSQL (see docs/BENCHMARKS.md for
// the commands and figures). Each sub-benchmark gets a fresh database.

func BenchmarkSave(b *testing.B) {
	for _, writers := range []int{1, 8} {
		for _, batch := range []int{1, 10, 100, 500} {
			b.Run(fmt.Sprintf("writers=%d/batch=%d", writers, batch), func(b *testing.B) {
				s := openTestStore(b, persistence.Limits{})
				storetest.BenchSave(b, s, batch, writers)
			})
		}
	}
}

func BenchmarkAcquire(b *testing.B) {
	for _, workers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			s := openTestStore(b, persistence.Limits{})
			storetest.BenchAcquire(b, s, workers)
		})
	}
}
