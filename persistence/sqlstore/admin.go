package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/persistence"
)

// The admin APIs (persistence.AdminStore). Listing nodes and pruning scan
// hearth_profiles for owners: there is deliberately no index on owner_node
// (docs/ARCHITECTURE.md), and these are rare admin commands.

var _ persistence.AdminStore = (*Store)(nil)

// ProfilesByUser lists the live profiles carrying userID.
func (s *Store) ProfilesByUser(ctx context.Context, userID string) ([]persistence.ProfileKey, error) {
	if err := persistence.ValidateUserID(userID); err != nil {
		return nil, err
	}
	var out []persistence.ProfileKey
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		out = []persistence.ProfileKey{}
		rs, err := tx.Query(ctx, `
SELECT u.namespace, u.profile_id
  FROM hearth_profile_users AS u
  JOIN hearth_profiles AS p
    ON p.namespace = u.namespace AND p.profile_id = u.profile_id AND u.set_seq = p.users_seq AND NOT p.deleted
 WHERE u.user_id = $1
 ORDER BY u.namespace, u.profile_id`, userID)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var k persistence.ProfileKey
			if err := rs.Scan(&k.Namespace, &k.ID); err != nil {
				return err
			}
			out = append(out, k)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("profiles of user %q: %w", userID, err)
	}
	return out, nil
}

// qListProfiles reads a page of live profiles with their newest snapshot
// and user ids, in id order after $2.
const qListProfiles = `
SELECT p.profile_id, p.owner_node, p.epoch, p.save_seq,
       s.epoch, s.schema_version, s.document, s.saved_at,
       ARRAY(SELECT u.user_id FROM hearth_profile_users AS u
              WHERE u.namespace = p.namespace AND u.profile_id = p.profile_id AND u.set_seq = p.users_seq
              ORDER BY u.user_id)
  FROM hearth_profiles AS p
  LEFT JOIN hearth_snapshots AS s
         ON s.namespace = p.namespace AND s.profile_id = p.profile_id AND s.save_seq = p.save_seq
 WHERE p.namespace = $1 AND p.profile_id > $2 AND NOT p.deleted
 ORDER BY p.profile_id
 LIMIT $3`

// ListProfiles pages through a namespace's live profiles in id order.
func (s *Store) ListProfiles(ctx context.Context, namespace, after string, limit int) ([]persistence.ListedProfile, error) {
	limit, err := persistence.ValidateListQuery(namespace, after, limit)
	if err != nil {
		return nil, err
	}
	var out []persistence.ListedProfile
	err = s.runTx(ctx, func(tx pgx.Tx) error {
		out, err = listPage(ctx, tx, namespace, after, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list profiles of %s: %w", namespace, err)
	}
	return out, nil
}

func listPage(ctx context.Context, tx pgx.Tx, namespace, after string, limit int) ([]persistence.ListedProfile, error) {
	rs, err := tx.Query(ctx, qListProfiles, namespace, after, limit)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := []persistence.ListedProfile{}
	for rs.Next() {
		lp := persistence.ListedProfile{Key: persistence.ProfileKey{Namespace: namespace}}
		var (
			owner                 *string
			seq                   int64
			snapEpoch, snapSchema *int64
			doc                   []byte
			savedAt               *time.Time
		)
		if err := rs.Scan(&lp.Key.ID, &owner, &lp.Epoch, &seq, &snapEpoch, &snapSchema, &doc, &savedAt, &lp.UserIDs); err != nil {
			return nil, err
		}
		lp.Owner = deref(owner)
		if snapEpoch != nil {
			lp.Snapshot = &persistence.Snapshot{Key: lp.Key, Seq: seq, Epoch: *snapEpoch, SchemaVersion: *snapSchema,
				Document: doc, SavedAt: deref(savedAt)}
		}
		out = append(out, lp)
	}
	return out, rs.Err()
}

// Export streams a namespace's live profiles in id order, page by page
// (Options.ExportPage), from one consistent state of the database:
//
//   - PostgreSQL: every page is read in one READ ONLY REPEATABLE READ
//     transaction, which sees the database as it was at its first read.
//     A long export holds back vacuum for as long as it runs.
//   - CockroachDB (detected with SELECT version()): the transaction reads
//     AS OF SYSTEM TIME the cluster's timestamp when the export began; a
//     historical read takes no locks and never conflicts with writers. It
//     must finish within the table's garbage collection window
//     (gc.ttlseconds; 4 hours by default on recent versions), or CockroachDB
//     refuses the next page.
//
// fn runs between pages with the transaction open; it may use the store.
func (s *Store) Export(ctx context.Context, namespace string, fn func(persistence.ListedProfile) error) error {
	if err := persistence.ValidateNamespace(namespace); err != nil {
		return err
	}
	dialect, err := s.dialect(ctx)
	if err != nil {
		return fmt.Errorf("export %s: %w", namespace, err)
	}
	var asOf string
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	if dialect == cockroachDB {
		if err := s.pool.QueryRow(ctx, `SELECT cluster_logical_timestamp()::STRING`).Scan(&asOf); err != nil {
			return fmt.Errorf("export %s: read the cluster timestamp: %w", namespace, err)
		}
		opts = pgx.TxOptions{AccessMode: pgx.ReadOnly}
	}
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("export %s: %w", namespace, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // read only: nothing to commit
	if asOf != "" {
		stmt, err := asOfSystemTime(asOf)
		if err != nil {
			return fmt.Errorf("export %s: %w", namespace, err)
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("export %s: %w", namespace, err)
		}
	}
	after := ""
	for {
		page, err := listPage(ctx, tx, namespace, after, s.opts.ExportPage)
		if err != nil {
			return fmt.Errorf("export %s after %q: %w", namespace, after, err)
		}
		for _, p := range page {
			if err := fn(p); err != nil {
				return err
			}
		}
		if len(page) < s.opts.ExportPage {
			return nil
		}
		after = page[len(page)-1].Key.ID
	}
}

// sqlDialect is which database answers.
type sqlDialect int

const (
	postgreSQL sqlDialect = iota
	cockroachDB
)

// dialect asks the database what it is.
func (s *Store) dialect(ctx context.Context) (sqlDialect, error) {
	var version string
	if err := s.pool.QueryRow(ctx, `SELECT version()`).Scan(&version); err != nil {
		return postgreSQL, fmt.Errorf("read the database version: %w", err)
	}
	return dialectOf(version), nil
}

// dialectOf tells CockroachDB ("CockroachDB CCL v24.1.0 (...)") from
// PostgreSQL ("PostgreSQL 15.18 ...") by version().
func dialectOf(version string) sqlDialect {
	if strings.Contains(version, "CockroachDB") {
		return cockroachDB
	}
	return postgreSQL
}

// hlcTimestamp is CockroachDB's cluster_logical_timestamp() as text:
// nanoseconds, a dot, the logical counter.
var hlcTimestamp = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// asOfSystemTime is the statement that pins a CockroachDB transaction to
// the timestamp ts. AS OF SYSTEM TIME takes no placeholder, so ts is
// checked to be a bare HLC timestamp before it is written into the SQL.
func asOfSystemTime(ts string) (string, error) {
	if !hlcTimestamp.MatchString(ts) {
		return "", fmt.Errorf("unexpected cluster timestamp %q", ts)
	}
	return "SET TRANSACTION AS OF SYSTEM TIME " + ts, nil
}

// qListNodes lists the nodes with how many profiles name each as owner.
const qListNodes = `
SELECT n.node_id, n.address, n.started_at, n.lease_expires_at, n.released_at IS NOT NULL, now(),
       COALESCE(o.owned, 0)
  FROM hearth_nodes AS n
  LEFT JOIN (SELECT owner_node, count(*) AS owned FROM hearth_profiles
              WHERE owner_node IS NOT NULL AND NOT deleted GROUP BY owner_node) AS o
         ON o.owner_node = n.node_id
 ORDER BY n.node_id`

// ListNodes lists every node incarnation with the profiles it owns.
func (s *Store) ListNodes(ctx context.Context) ([]persistence.NodeStatus, error) {
	var out []persistence.NodeStatus
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		out = []persistence.NodeStatus{}
		rs, err := tx.Query(ctx, qListNodes)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var n persistence.NodeStatus
			var owned int64
			if err := rs.Scan(&n.ID, &n.Address, &n.StartedAt, &n.LeaseExpiresAt, &n.Released, &n.Now, &owned); err != nil {
				return err
			}
			n.Profiles = int(owned)
			n.Live = persistence.LeaseLive(n.LeaseExpiresAt, n.Now)
			out = append(out, n)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return out, nil
}

// PruneTombstones deletes ended node incarnations no profile names and
// profile tombstones erased more than olderThan ago, in one transaction.
// A node's lease_expires_at is when it ended (ReleaseNode moves it to the
// release); a tombstone's updated_at is when it was erased.
func (s *Store) PruneTombstones(ctx context.Context, olderThan time.Duration) (persistence.Pruned, error) {
	if err := persistence.ValidatePruneAge(olderThan); err != nil {
		return persistence.Pruned{}, err
	}
	var out persistence.Pruned
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
DELETE FROM hearth_nodes AS n
 WHERE n.lease_expires_at <= now() - INTERVAL '1 millisecond' * $1::BIGINT
   AND NOT EXISTS (SELECT 1 FROM hearth_profiles AS p WHERE p.owner_node = n.node_id)`, olderThan.Milliseconds())
		if err != nil {
			return err
		}
		out.Nodes = int(tag.RowsAffected())
		tag, err = tx.Exec(ctx, `
DELETE FROM hearth_profiles
 WHERE deleted AND updated_at <= now() - INTERVAL '1 millisecond' * $1::BIGINT`, olderThan.Milliseconds())
		if err != nil {
			return err
		}
		out.Profiles = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return persistence.Pruned{}, fmt.Errorf("prune tombstones older than %s: %w", olderThan, err)
	}
	return out, nil
}

// errExportPage guards Options.ExportPage.
var errExportPage = errors.New("export page must be 1..1000")
