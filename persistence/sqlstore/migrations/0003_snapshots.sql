-- Retained snapshots of each profile, newest = hearth_profiles.save_seq. The
-- document lives only here, so a save writes it once.
CREATE TABLE IF NOT EXISTS hearth_snapshots (
    namespace      TEXT        NOT NULL,
    profile_id     TEXT        NOT NULL,
    save_seq       BIGINT      NOT NULL,
    epoch          BIGINT      NOT NULL,
    schema_version BIGINT      NOT NULL,
    document       BYTEA       NOT NULL,
    size_bytes     BIGINT      NOT NULL,
    saved_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, profile_id, save_seq)
)
