-- Node incarnations and their leases. Releasing a node moves its lease expiry
-- to now(); the row stays, so the id can never be registered or renewed again.
CREATE TABLE IF NOT EXISTS hearth_nodes (
    node_id          TEXT        NOT NULL PRIMARY KEY,
    address          TEXT        NOT NULL DEFAULT '',
    started_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_expires_at TIMESTAMPTZ NOT NULL
)
