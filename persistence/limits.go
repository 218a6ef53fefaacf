package persistence

import (
	"fmt"
	"time"
)

// Fixed limits on names. They are part of the public API (documented in
// docs/ARCHITECTURE.md) and the same for every store, so a profile that one
// store accepts every store accepts.
const (
	// MaxNamespaceLen: namespaces are 1..64 bytes of [a-z0-9_.-], starting
	// with a letter or digit.
	MaxNamespaceLen = 64
	// MaxProfileIDLen: profile ids are 1..128 bytes of [A-Za-z0-9_.:@+=-].
	// No slash (ids appear in URLs and log lines), no spaces or control bytes.
	MaxProfileIDLen = 128
	// MaxNodeIDLen: node ids follow the profile id rules.
	MaxNodeIDLen = 128
	// MaxRecordKeyLen: idempotency keys are 1..200 bytes of printable ASCII
	// (0x21..0x7e), enough for store receipt ids and UUIDs.
	MaxRecordKeyLen = 200
	// MaxRetentionKeep and MaxRetentionInterval bound a SaveRow's Retention.
	MaxRetentionKeep     = 1000
	MaxRetentionInterval = 30 * 24 * time.Hour
	// DefaultRecordPage and MaxRecordPage bound a page of records.
	DefaultRecordPage = 100
	MaxRecordPage     = 1000
)

// Limits are the configurable size limits a store enforces before it writes
// anything.
type Limits struct {
	MaxDocumentBytes int // default 4 MiB
	MaxRecordBytes   int // size of one record's result; default 64 KiB
	MaxRecordsPerRow int // idempotency records in one SaveRow; default 100
	MaxBatchRows     int // rows in one Save, requests in one AcquireBatch; default 500 (CockroachDB prefers statements under ~1000 rows)
	HistoryDepth     int // snapshots retained per profile when a save's Retention.Keep is 0; default 10
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxDocumentBytes: 4 << 20,
		MaxRecordBytes:   64 << 10,
		MaxRecordsPerRow: 100,
		MaxBatchRows:     500,
		HistoryDepth:     10,
	}
}

// WithDefaults fills zero fields from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxDocumentBytes <= 0 {
		l.MaxDocumentBytes = d.MaxDocumentBytes
	}
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = d.MaxRecordBytes
	}
	if l.MaxRecordsPerRow <= 0 {
		l.MaxRecordsPerRow = d.MaxRecordsPerRow
	}
	if l.MaxBatchRows <= 0 {
		l.MaxBatchRows = d.MaxBatchRows
	}
	if l.HistoryDepth <= 0 {
		l.HistoryDepth = d.HistoryDepth
	}
	return l
}

// ValidateNamespace checks a namespace against the naming rules.
func ValidateNamespace(ns string) error {
	if len(ns) == 0 || len(ns) > MaxNamespaceLen {
		return invalid("namespace", ns, fmt.Sprintf("length must be 1..%d bytes", MaxNamespaceLen))
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '_' || c == '.' || c == '-'))
		if !ok {
			return invalid("namespace", ns, "must be [a-z0-9][a-z0-9_.-]*")
		}
	}
	return nil
}

// ValidateProfileID checks a profile id against the naming rules.
func ValidateProfileID(id string) error {
	return validateIDChars("profile id", id, MaxProfileIDLen)
}

// ValidateNodeID checks a node id against the naming rules.
func ValidateNodeID(id string) error {
	return validateIDChars("node id", id, MaxNodeIDLen)
}

func validateIDChars(what, id string, max int) error {
	if len(id) == 0 || len(id) > max {
		return invalid(what, id, fmt.Sprintf("length must be 1..%d bytes", max))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == ':' || c == '@' || c == '+' || c == '=' || c == '-'
		if !ok {
			return invalid(what, id, "must be [A-Za-z0-9_.:@+=-]")
		}
	}
	return nil
}

// ValidateKey checks a profile key.
func ValidateKey(k ProfileKey) error {
	if err := ValidateNamespace(k.Namespace); err != nil {
		return err
	}
	return ValidateProfileID(k.ID)
}

// ValidateRecordKey checks an idempotency key.
func ValidateRecordKey(key string) error {
	if len(key) == 0 || len(key) > MaxRecordKeyLen {
		return invalid("idempotency key", key, fmt.Sprintf("length must be 1..%d bytes", MaxRecordKeyLen))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return invalid("idempotency key", key, "must be printable ASCII without spaces")
		}
	}
	return nil
}

// ValidateSaveBatch checks every row of a batch against the limits before
// anything is written: a batch with one bad row is refused whole.
func (l Limits) ValidateSaveBatch(rows []SaveRow) error {
	if len(rows) > l.MaxBatchRows {
		return tooLarge("save batch", len(rows), l.MaxBatchRows)
	}
	seen := make(map[ProfileKey]struct{}, len(rows))
	for i := range rows {
		r := &rows[i]
		if err := ValidateKey(r.Key); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
		if _, dup := seen[r.Key]; dup {
			return fmt.Errorf("row %d: %w", i, invalid("profile", r.Key.String(), "appears twice in one batch"))
		}
		seen[r.Key] = struct{}{}
		if r.Epoch <= 0 {
			return fmt.Errorf("row %d: %w", i, invalid("epoch", fmt.Sprint(r.Epoch), "must be positive (from Acquire)"))
		}
		if r.Seq <= 0 {
			return fmt.Errorf("row %d: %w", i, invalid("seq", fmt.Sprint(r.Seq), "must be positive"))
		}
		if r.SchemaVersion < 0 {
			return fmt.Errorf("row %d: %w", i, invalid("schema version", fmt.Sprint(r.SchemaVersion), "must not be negative"))
		}
		if err := ValidateRetention(r.Retention); err != nil {
			return fmt.Errorf("row %d (%s): %w", i, r.Key, err)
		}
		if err := ValidateUserIDs(r.UserIDs); err != nil {
			return fmt.Errorf("row %d (%s): %w", i, r.Key, err)
		}
		if len(r.Document) > l.MaxDocumentBytes {
			return fmt.Errorf("row %d (%s): %w", i, r.Key, tooLarge("document", len(r.Document), l.MaxDocumentBytes))
		}
		if len(r.Records) > l.MaxRecordsPerRow {
			return fmt.Errorf("row %d (%s): %w", i, r.Key, tooLarge("records", len(r.Records), l.MaxRecordsPerRow))
		}
		keys := make(map[string]struct{}, len(r.Records))
		for j, rec := range r.Records {
			if err := ValidateRecordKey(rec.Key); err != nil {
				return fmt.Errorf("row %d record %d: %w", i, j, err)
			}
			if _, dup := keys[rec.Key]; dup {
				return fmt.Errorf("row %d record %d: %w", i, j, invalid("idempotency key", rec.Key, "appears twice in one row"))
			}
			keys[rec.Key] = struct{}{}
			if len(rec.Result) > l.MaxRecordBytes {
				return fmt.Errorf("row %d record %d: %w", i, j, tooLarge("record result", len(rec.Result), l.MaxRecordBytes))
			}
		}
	}
	return nil
}

// ValidateAcquireBatch checks an AcquireBatch before anything is read: the
// batch size, every key, and that no key appears twice.
func (l Limits) ValidateAcquireBatch(reqs []AcquireRequest) error {
	if len(reqs) > l.MaxBatchRows {
		return tooLarge("acquire batch", len(reqs), l.MaxBatchRows)
	}
	seen := make(map[ProfileKey]struct{}, len(reqs))
	for i, r := range reqs {
		if err := ValidateKey(r.Key); err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		if _, dup := seen[r.Key]; dup {
			return fmt.Errorf("request %d: %w", i, invalid("profile", r.Key.String(), "appears twice in one batch"))
		}
		seen[r.Key] = struct{}{}
	}
	return nil
}

// ValidateRetention checks a retention policy: Keep 0..MaxRetentionKeep,
// Interval 0..MaxRetentionInterval in whole milliseconds (buckets are
// computed in milliseconds by every store).
func ValidateRetention(r Retention) error {
	if r.Keep < 0 || r.Keep > MaxRetentionKeep {
		return invalid("retention keep", fmt.Sprint(r.Keep), fmt.Sprintf("must be 0..%d", MaxRetentionKeep))
	}
	if r.Interval < 0 || r.Interval > MaxRetentionInterval {
		return invalid("retention interval", r.Interval.String(), fmt.Sprintf("must be 0..%s", MaxRetentionInterval))
	}
	if r.Interval%time.Millisecond != 0 {
		return invalid("retention interval", r.Interval.String(), "must be whole milliseconds")
	}
	return nil
}

// ValidateRecordQuery checks and normalises a page request.
func ValidateRecordQuery(q RecordQuery) (RecordQuery, error) {
	if q.Limit < 0 {
		return q, invalid("limit", fmt.Sprint(q.Limit), "must not be negative")
	}
	if q.Limit == 0 {
		q.Limit = DefaultRecordPage
	}
	if q.Limit > MaxRecordPage {
		return q, tooLarge("record page", q.Limit, MaxRecordPage)
	}
	if q.AfterSeq < 0 {
		return q, invalid("after seq", fmt.Sprint(q.AfterSeq), "must not be negative")
	}
	return q, nil
}

// ValidateTTL checks a lease length. Leases are whole milliseconds.
func ValidateTTL(ttl time.Duration) error {
	if ttl < time.Millisecond || ttl > 24*time.Hour {
		return invalid("lease ttl", ttl.String(), "must be between 1ms and 24h")
	}
	return nil
}
