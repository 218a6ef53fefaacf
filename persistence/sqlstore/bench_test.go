package sqlstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/storetest"
)

// Benchmarks against the package's PostgreSQL (see docs/BENCHMARKS.md for
// the commands and figures). Each sub-benchmark gets a fresh database.

func BenchmarkSave(b *testing.B) {
	// One writer is a node's group commit; four show what concurrent
	// batches cost on PostgreSQL. Four writers of 500-row batches are left
	// out: their predicate locks cover so many index pages that one run in
	// three exhausted its retries (docs/BENCHMARKS.md).
	for _, writers := range []int{1, 4} {
		for _, batch := range []int{1, 10, 100, 500} {
			if writers > 1 && batch > 100 {
				continue
			}
			b.Run(fmt.Sprintf("writers=%d/batch=%d", writers, batch), func(b *testing.B) {
				s := openTestStore(b, persistence.Limits{})
				prefill(b, s)
				storetest.BenchSave(b, s, batch, writers)
			})
		}
	}
}

func BenchmarkAcquire(b *testing.B) {
	for _, workers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			s := openTestStore(b, persistence.Limits{})
			prefill(b, s)
			storetest.BenchAcquire(b, s, workers)
		})
	}
}

// BenchmarkColdActivation: 8 workers activating saved, released profiles,
// one Acquire each (batch=0) or AcquireBatch of 1, 16 and 100.
func BenchmarkColdActivation(b *testing.B) {
	for _, batch := range []int{0, 1, 16, 100} {
		b.Run(fmt.Sprintf("workers=8/batch=%d", batch), func(b *testing.B) {
			s := openTestStore(b, persistence.Limits{})
			prefill(b, s)
			storetest.BenchColdActivation(b, s, batch, 8)
		})
	}
}

// prefillProfiles is how many other profiles (each with one snapshot) the
// benchmark tables hold. A production table has millions; with only the few
// thousand rows a benchmark touches, PostgreSQL plans sequential scans, whose
// relation-wide SIREAD locks make every pair of concurrent SERIALIZABLE save
// batches conflict. CockroachDB has no such locks; this keeps the PostgreSQL
// figures representative of a real table instead of an empty one.
const prefillProfiles = 100_000

func prefill(b *testing.B, s *Store) {
	b.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO hearth_profiles (namespace, profile_id, owner_node, epoch, save_seq, schema_version)
		 SELECT 'fill', 'f' || g::TEXT, NULL, 1, 1, 1 FROM generate_series(1, $1::BIGINT) AS g`,
		`INSERT INTO hearth_snapshots (namespace, profile_id, save_seq, epoch, schema_version, document, size_bytes)
		 SELECT 'fill', 'f' || g::TEXT, 1, 1, 1, '\x7b7d'::BYTEA, 2 FROM generate_series(1, $1::BIGINT) AS g`,
	} {
		if _, err := s.pool.Exec(ctx, q, prefillProfiles); err != nil {
			b.Fatal(err)
		}
	}
	for _, t := range []string{"hearth_profiles", "hearth_snapshots", "hearth_records", "hearth_nodes"} {
		if _, err := s.pool.Exec(ctx, "ANALYZE "+t); err != nil {
			b.Fatal(err)
		}
	}
}
