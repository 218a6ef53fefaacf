-- The seqs of a profile's retained snapshots, ascending, kept beside the
-- profile row so a save applies its retention policy without reading every
-- retained snapshot (see retention.go). NULL: not tracked (a row from before
-- this column); the next save reads the snapshots once instead. New and
-- re-created profiles start with an empty list.
ALTER TABLE hearth_profiles ADD COLUMN IF NOT EXISTS retained_seqs BIGINT[] NULL
