package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/persistence"
)

// Lease arithmetic happens in SQL with the database's now(), so no node's
// clock takes part in deciding whether a lease is live.

const qRegisterNode = `
INSERT INTO hearth_nodes (node_id, address, started_at, lease_expires_at)
VALUES ($1, $2, now(), now() + INTERVAL '1 millisecond' * $3::BIGINT)
ON CONFLICT (node_id) DO NOTHING
RETURNING lease_expires_at, now()`

// RegisterNode creates a node incarnation with a lease of ttl.
func (s *Store) RegisterNode(ctx context.Context, node persistence.NodeInfo, ttl time.Duration) (persistence.Lease, error) {
	if err := persistence.ValidateNodeID(node.ID); err != nil {
		return persistence.Lease{}, err
	}
	if err := persistence.ValidateTTL(ttl); err != nil {
		return persistence.Lease{}, err
	}
	lease := persistence.Lease{NodeID: node.ID}
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, qRegisterNode, node.ID, node.Address, ttl.Milliseconds()).
			Scan(&lease.ExpiresAt, &lease.Now)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return persistence.Lease{}, fmt.Errorf("register node %q: id already used (node ids are single-use): %w",
			node.ID, persistence.ErrInvalid)
	}
	if err != nil {
		return persistence.Lease{}, fmt.Errorf("register node %q: %w", node.ID, err)
	}
	return lease, nil
}

const qRenewNode = `
UPDATE hearth_nodes
   SET lease_expires_at = now() + INTERVAL '1 millisecond' * $2::BIGINT
 WHERE node_id = $1 AND lease_expires_at > now()
RETURNING lease_expires_at, now()`

// RenewNode extends a live lease; a lapsed or released one is gone for good.
func (s *Store) RenewNode(ctx context.Context, nodeID string, ttl time.Duration) (persistence.Lease, error) {
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return persistence.Lease{}, err
	}
	if err := persistence.ValidateTTL(ttl); err != nil {
		return persistence.Lease{}, err
	}
	lease := persistence.Lease{NodeID: nodeID}
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, qRenewNode, nodeID, ttl.Milliseconds()).Scan(&lease.ExpiresAt, &lease.Now)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return persistence.Lease{}, fmt.Errorf("renew node %q: lease lapsed or node released: %w",
			nodeID, persistence.ErrLeaseExpired)
	}
	if err != nil {
		return persistence.Lease{}, fmt.Errorf("renew node %q: %w", nodeID, err)
	}
	return lease, nil
}

// ReleaseNode ends the incarnation by moving its lease expiry to now(), so
// its profiles may be taken at once. The row stays as a tombstone: the id
// is single-use, and RenewNode refuses it from now on.
func (s *Store) ReleaseNode(ctx context.Context, nodeID string) error {
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return err
	}
	err := s.runTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`UPDATE hearth_nodes SET lease_expires_at = now(), released_at = now() WHERE node_id = $1 AND lease_expires_at > now()`, nodeID)
		return err
	})
	if err != nil {
		return fmt.Errorf("release node %q: %w", nodeID, err)
	}
	return nil
}
