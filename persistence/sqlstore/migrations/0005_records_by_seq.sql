-- Purchase history pages in the order records were applied.
CREATE INDEX IF NOT EXISTS hearth_records_by_seq
    ON hearth_records (namespace, profile_id, save_seq, record_key)
