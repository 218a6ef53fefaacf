-- When ReleaseNode ended the incarnation (NULL: not released, or released
-- before this column existed), so ListNodes tells a release from a lapse.
ALTER TABLE hearth_nodes ADD COLUMN IF NOT EXISTS released_at TIMESTAMPTZ NULL
