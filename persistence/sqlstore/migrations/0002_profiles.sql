-- One row per profile: who owns it (owner_node, NULL when unowned), the
-- ownership epoch that fences every write, and the newest snapshot's seq.
-- An erased profile keeps its row as a tombstone (deleted) so its epoch
-- sequence continues if it is ever re-created.
CREATE TABLE IF NOT EXISTS hearth_profiles (
    namespace      TEXT        NOT NULL,
    profile_id     TEXT        NOT NULL,
    owner_node     TEXT        NULL,
    epoch          BIGINT      NOT NULL,
    save_seq       BIGINT      NOT NULL DEFAULT 0,
    schema_version BIGINT      NOT NULL DEFAULT 0,
    deleted        BOOL        NOT NULL DEFAULT false,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, profile_id)
)
