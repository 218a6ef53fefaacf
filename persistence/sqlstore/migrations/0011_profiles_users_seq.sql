-- The seq of the save that last set the profile's user ids: the rows of
-- hearth_profile_users with this set_seq are its current set.
ALTER TABLE hearth_profiles ADD COLUMN IF NOT EXISTS users_seq BIGINT NOT NULL DEFAULT 0
