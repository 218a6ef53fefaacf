-- ProfilesByUser: every profile of one user, across namespaces.
CREATE INDEX IF NOT EXISTS hearth_profile_users_by_user
    ON hearth_profile_users (user_id, namespace, profile_id)
