-- The user ids each profile carries (SaveRow.UserIDs). A save that sets
-- them writes every id with its seq (set_seq) and moves the profile's
-- users_seq to it; rows with an older set_seq are the previous set, never
-- read and deleted by the same save. Erased with the profile.
CREATE TABLE IF NOT EXISTS hearth_profile_users (
    namespace  TEXT   NOT NULL,
    profile_id TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    set_seq    BIGINT NOT NULL,
    PRIMARY KEY (namespace, profile_id, user_id)
)
