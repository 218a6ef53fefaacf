// Package nodestore opens the store a node's configuration names: the
// CockroachDB (or PostgreSQL) store when database.url is set, else the
// embedded bbolt store in data_dir. It is the only part of a node that
// links database drivers, kept out of package cluster so that game servers
// importing the cluster client link none.
package nodestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/localstore"
	"github.com/hearth-profiles/hearth/persistence/sqlstore"
)

// Open opens the store cfg names.
func Open(ctx context.Context, cfg config.Config) (persistence.Store, error) {
	if cfg.Database.URL != "" {
		dbURL, err := withIdleTxTimeout(cfg.Database.URL, cfg.Lease.SafetyMargin)
		if err != nil {
			return nil, err
		}
		return sqlstore.Open(ctx, dbURL, sqlstore.Options{MaxConns: int32(cfg.Database.MaxConns)})
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return localstore.Open(filepath.Join(cfg.DataDir, "hearth.db"), localstore.Options{})
}
