-- Idempotency records (purchase receipts, request ids), written in the same
-- transaction as the snapshot that applied them.
CREATE TABLE IF NOT EXISTS hearth_records (
    namespace  TEXT        NOT NULL,
    profile_id TEXT        NOT NULL,
    record_key TEXT        NOT NULL,
    result     BYTEA       NOT NULL,
    save_seq   BIGINT      NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, profile_id, record_key)
)
