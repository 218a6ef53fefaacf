-- Which profiles a node owns (drain progress, operations queries).
CREATE INDEX IF NOT EXISTS hearth_profiles_by_owner
    ON hearth_profiles (owner_node)
