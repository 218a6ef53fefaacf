// Package sqlstore is the production persistence.Store on CockroachDB,
// through pgx v5. Tests run it against PostgreSQL 15, which speaks the same
// protocol; every statement is written in the dialect both accept (see
// ../../docs/ARCHITECTURE.md and shared notes on CockroachDB SQL).
//
// Every transaction runs at SERIALIZABLE through cockroach-go's retry helper.
// Ownership decisions read the rows inside the transaction, decide with the
// pure rules in package persistence, and make every write conditional on
// what was read (the epoch), so a decision can never act on stale state.
package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hearth-profiles/hearth/persistence"
)

// Options configure a Store.
type Options struct {
	Limits persistence.Limits // zero fields = defaults
	// MaxConns bounds the connection pool (default 16). Group commit keeps
	// the number of concurrent save transactions small, so a modest pool
	// serves a busy node.
	MaxConns int32
	// TxAttempts bounds how many times a transaction that fails with a
	// serialization conflict is run again from the start (default 8).
	TxAttempts int
	// SkipMigrations leaves the schema alone (for read-only tools).
	SkipMigrations bool
	// ExportPage is how many profiles Export reads per query (default 500,
	// at most persistence.MaxListPage).
	ExportPage int
}

// Store is the SQL persistence.Store.
type Store struct {
	pool   *pgxpool.Pool
	limits persistence.Limits
	opts   Options
	lists  *listCache // retained lists this store's saves wrote (retention.go)
}

var _ persistence.Store = (*Store)(nil)

// Open connects to url (postgres:// or postgresql://, CockroachDB or
// PostgreSQL), migrates the schema and returns the store.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: parse database url: %w", err)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	if opts.TxAttempts <= 0 {
		opts.TxAttempts = 8
	}
	if opts.ExportPage == 0 {
		opts.ExportPage = 500
	}
	if opts.ExportPage < 0 || opts.ExportPage > persistence.MaxListPage {
		return nil, fmt.Errorf("sqlstore: %w (got %d): %w", errExportPage, opts.ExportPage, persistence.ErrInvalid)
	}
	cfg.MaxConns = opts.MaxConns
	cfg.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sqlstore: ping %s: %w", cfg.ConnConfig.Host, err)
	}
	if !opts.SkipMigrations {
		if err := migrate(ctx, pool); err != nil {
			pool.Close()
			return nil, fmt.Errorf("sqlstore: %w", err)
		}
	}
	return &Store{pool: pool, limits: opts.Limits.WithDefaults(), opts: opts, lists: newListCache(listCacheSize)}, nil
}

// Limits reports the limits this store enforces.
func (s *Store) Limits() persistence.Limits { return s.limits }

// Ping checks that the database answers (readiness probes).
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close releases the connection pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}
