-- When each snapshot in retained_seqs was saved (its saved_at in Unix
-- milliseconds), in the same order, for retention intervals.
ALTER TABLE hearth_profiles ADD COLUMN IF NOT EXISTS retained_ms BIGINT[] NULL
