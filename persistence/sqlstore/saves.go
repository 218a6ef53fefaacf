package sqlstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/persistence"
)

// qSave writes a whole batch in one statement. The UPDATE is the fence: a
// row changes only if this node still owns the profile at the row's epoch
// and the row's seq is newer. Only the rows it returned get their snapshot
// and idempotency records, so a fenced row writes nothing at all. It also
// writes the retained list planned for the row (retention.go) if the list
// is still the one the plan was made from; otherwise (a stale plan) it
// appends the new snapshot to the list as it is and prunes nothing this
// time, and returns pruned = false. Each CTE modifies a different table,
// which CockroachDB allows in one statement; the final SELECT names every
// CTE so both databases run them all.
const qSave = `
WITH v AS (
    SELECT * FROM unnest($2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[], $7::BYTEA[], $8::BOOL[],
                         $17::BOOL[], $18::TEXT[], $19::TEXT[], $20::TEXT[], $21::TIMESTAMPTZ[])
        AS v(namespace, profile_id, epoch, save_seq, schema_version, document, release_owner, sets_users,
             expected_seqs, kept_seqs, kept_ms, saved_at)
),
saved AS (
    UPDATE hearth_profiles AS p
       SET save_seq = v.save_seq,
           schema_version = v.schema_version,
           owner_node = CASE WHEN v.release_owner THEN NULL ELSE p.owner_node END,
           users_seq = CASE WHEN v.sets_users THEN v.save_seq ELSE p.users_seq END,
           retained_seqs = CASE WHEN COALESCE(array_to_string(p.retained_seqs, ','), '-') = v.expected_seqs
                                THEN string_to_array(v.kept_seqs, ',')::BIGINT[]
                                ELSE array_append(p.retained_seqs, v.save_seq) END,
           retained_ms = CASE WHEN COALESCE(array_to_string(p.retained_seqs, ','), '-') = v.expected_seqs
                              THEN string_to_array(v.kept_ms, ',')::BIGINT[]
                              ELSE array_append(p.retained_ms, floor(extract(epoch FROM v.saved_at) * 1000)::BIGINT) END,
           updated_at = now()
      FROM v
     WHERE p.namespace = v.namespace AND p.profile_id = v.profile_id
       AND p.owner_node = $1 AND p.epoch = v.epoch AND p.save_seq < v.save_seq
    RETURNING p.namespace, p.profile_id, p.retained_seqs = string_to_array(v.kept_seqs, ',')::BIGINT[] AS pruned
),
snaps AS (
    INSERT INTO hearth_snapshots (namespace, profile_id, save_seq, epoch, schema_version, document, size_bytes, saved_at)
    SELECT v.namespace, v.profile_id, v.save_seq, v.epoch, v.schema_version, v.document, length(v.document), v.saved_at
      FROM v JOIN saved ON saved.namespace = v.namespace AND saved.profile_id = v.profile_id
    RETURNING 1
),
recs AS (
    INSERT INTO hearth_records (namespace, profile_id, record_key, result, save_seq, created_at)
    SELECT r.namespace, r.profile_id, r.record_key, r.result, r.save_seq, now()
      FROM unnest($9::TEXT[], $10::TEXT[], $11::TEXT[], $12::BYTEA[], $13::BIGINT[])
           AS r(namespace, profile_id, record_key, result, save_seq)
      JOIN saved ON saved.namespace = r.namespace AND saved.profile_id = r.profile_id
    ON CONFLICT (namespace, profile_id, record_key) DO NOTHING
    RETURNING 1
),
users AS (
    INSERT INTO hearth_profile_users (namespace, profile_id, user_id, set_seq)
    SELECT u.namespace, u.profile_id, u.user_id, v.save_seq
      FROM unnest($14::TEXT[], $15::TEXT[], $16::TEXT[]) AS u(namespace, profile_id, user_id)
      JOIN saved ON saved.namespace = u.namespace AND saved.profile_id = u.profile_id
      JOIN v ON v.namespace = u.namespace AND v.profile_id = u.profile_id
    ON CONFLICT (namespace, profile_id, user_id) DO UPDATE SET set_seq = excluded.set_seq
    RETURNING 1
)
SELECT saved.namespace, saved.profile_id, saved.pruned,
       (SELECT count(*) FROM snaps), (SELECT count(*) FROM recs), (SELECT count(*) FROM users)
  FROM saved`

// qUsersPrune deletes the user ids of earlier sets (set_seq below the
// profile's users_seq) of the saved rows that set user ids. Readers match
// set_seq to users_seq, so the old set is gone for them already.
const qUsersPrune = `
DELETE FROM hearth_profile_users AS u
 USING unnest($1::TEXT[], $2::TEXT[]) AS v(namespace, profile_id), hearth_profiles AS p
 WHERE p.namespace = v.namespace AND p.profile_id = v.profile_id
   AND u.namespace = v.namespace AND u.profile_id = v.profile_id AND u.set_seq < p.users_seq`

// qSaveClassify reads the rows that did not save, to say why.
const qSaveClassify = `
SELECT p.namespace, p.profile_id, p.owner_node, p.epoch, p.save_seq, p.schema_version, p.deleted
  FROM hearth_profiles AS p
  JOIN unnest($1::TEXT[], $2::TEXT[]) AS v(namespace, profile_id)
    ON p.namespace = v.namespace AND p.profile_id = v.profile_id`

// saveArgs is the batch as column arrays, the shape unnest wants.
type saveArgs struct {
	ns, id               []string
	epoch, seq, schema   []int64
	doc                  [][]byte
	release              []bool
	recNS, recID, recKey []string
	recResult            [][]byte
	recSeq               []int64
	// The user id sets of the rows that set one: every (profile, user id)
	// pair, and the rows whose sets they are (setNS, setID).
	userNS, userID, userUser []string
	setNS, setID             []string
	setsUsers                []bool // per row: UserIDs is non-nil
	retentionPlan
}

func columns(rows []persistence.SaveRow) saveArgs {
	a := saveArgs{
		ns: make([]string, len(rows)), id: make([]string, len(rows)),
		epoch: make([]int64, len(rows)), seq: make([]int64, len(rows)), schema: make([]int64, len(rows)),
		doc: make([][]byte, len(rows)), release: make([]bool, len(rows)),
	}
	for i, r := range rows {
		a.ns[i], a.id[i] = r.Key.Namespace, r.Key.ID
		a.epoch[i], a.seq[i], a.schema[i] = r.Epoch, r.Seq, r.SchemaVersion
		a.doc[i], a.release[i] = r.Document, r.Release
		if a.doc[i] == nil {
			a.doc[i] = []byte{} // NOT NULL column; an empty document is still a document
		}
		for _, rec := range r.Records {
			a.recNS = append(a.recNS, r.Key.Namespace)
			a.recID = append(a.recID, r.Key.ID)
			a.recKey = append(a.recKey, rec.Key)
			res := rec.Result
			if res == nil {
				res = []byte{}
			}
			a.recResult = append(a.recResult, res)
			a.recSeq = append(a.recSeq, r.Seq)
		}
	}
	a.setsUsers = make([]bool, len(rows))
	for i, r := range rows {
		if r.UserIDs == nil {
			continue
		}
		a.setsUsers[i] = true
		a.setNS, a.setID = append(a.setNS, r.Key.Namespace), append(a.setID, r.Key.ID)
		for _, u := range r.UserIDs {
			a.userNS, a.userID, a.userUser = append(a.userNS, r.Key.Namespace), append(a.userID, r.Key.ID), append(a.userUser, u)
		}
	}
	if a.userNS == nil {
		a.userNS, a.userID, a.userUser = []string{}, []string{}, []string{}
	}
	// pgx encodes a nil slice as NULL, and unnest(NULL) would fail to type.
	if a.recNS == nil {
		a.recNS, a.recID, a.recKey, a.recResult, a.recSeq = []string{}, []string{}, []string{}, [][]byte{}, []int64{}
	}
	return a
}

// Save writes a batch of fenced snapshots in one transaction, sent as one
// pipelined round trip (BEGIN, the save, the retention delete, COMMIT);
// with the retained lists of the batch's profiles cached from their
// previous saves, that is the whole cost of a batch. Rows that did not
// save are classified by a read after the commit.
func (s *Store) Save(ctx context.Context, nodeID string, rows []persistence.SaveRow) ([]persistence.SaveResult, error) {
	if err := persistence.ValidateNodeID(nodeID); err != nil {
		return nil, err
	}
	if err := s.limits.ValidateSaveBatch(rows); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return []persistence.SaveResult{}, nil
	}
	a := columns(rows)
	var err error
	if a.retentionPlan, err = s.planRetention(ctx, rows); err != nil {
		return nil, fmt.Errorf("save %d rows for node %q: retention: %w", len(rows), nodeID, err)
	}
	var saved []savedRow
	err = s.runPipelined(ctx,
		func(b *pgx.Batch) { queueSave(b, nodeID, a) },
		func(br pgx.BatchResults) (err error) { saved, err = readSave(br, a); return err })
	if err != nil {
		return nil, fmt.Errorf("save %d rows for node %q: %w", len(rows), nodeID, err)
	}
	index := make(map[persistence.ProfileKey]int, len(rows))
	for i, r := range rows {
		index[r.Key] = i
	}
	results := make([]persistence.SaveResult, len(rows))
	for i, r := range rows {
		results[i] = persistence.SaveResult{Key: r.Key}
	}
	for _, sv := range saved {
		i := index[sv.key]
		r := rows[i]
		results[i].Outcome, results[i].Epoch, results[i].Seq = persistence.SaveSaved, r.Epoch, r.Seq
		if sv.pruned {
			s.lists.put(r.Key, newListEntry(r.Epoch, a.keptSeqInts[i], a.keptMSInts[i]))
		} else {
			s.lists.forget(r.Key) // saved from a stale plan: read the list next time
		}
	}
	if len(saved) < len(rows) {
		if err := s.classify(ctx, nodeID, rows, results); err != nil {
			// The saved rows are committed; the others wrote nothing. A
			// row that cannot be classified is reported fenced: its
			// activation stops and the next one reloads from the store.
			for i := range results {
				if results[i].Outcome == 0 {
					results[i].Outcome = persistence.SaveFenced
				}
			}
		}
	}
	return results, nil
}

// savedRow is one row qSave wrote, and whether its planned retention held.
type savedRow struct {
	key    persistence.ProfileKey
	pruned bool
}

// queueSave queues the save, the retention delete and (when some row sets
// user ids) the user id prune.
func queueSave(b *pgx.Batch, nodeID string, a saveArgs) {
	b.Queue(qSave, nodeID, a.ns, a.id, a.epoch, a.seq, a.schema, a.doc, a.release,
		a.recNS, a.recID, a.recKey, a.recResult, a.recSeq, a.userNS, a.userID, a.userUser, a.setsUsers,
		a.expectedSeqs, a.keptSeqs, a.keptMS, a.savedAt)
	b.Queue(qRetainDelete, a.dropNS, a.dropID, a.dropSeq, a.dropKept)
	if len(a.setNS) > 0 {
		b.Queue(qUsersPrune, a.setNS, a.setID)
	}
}

// readSave reads the results queueSave's statements gave.
func readSave(br pgx.BatchResults, a saveArgs) ([]savedRow, error) {
	rs, err := br.Query()
	if err != nil {
		return nil, err
	}
	var saved []savedRow
	for rs.Next() {
		var sv savedRow
		var snaps, recs, users int64
		if err := rs.Scan(&sv.key.Namespace, &sv.key.ID, &sv.pruned, &snaps, &recs, &users); err != nil {
			rs.Close()
			return nil, err
		}
		saved = append(saved, sv)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, err
	}
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	if len(a.setNS) > 0 {
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("user ids: %w", err)
		}
	}
	return saved, nil
}

// classify fills in the outcome of every row the fenced UPDATE skipped,
// using the same rule the local stores use, from the rows as they are
// after the save committed (only this node writes its profiles, so what
// skipped them is still there to see).
func (s *Store) classify(ctx context.Context, nodeID string, rows []persistence.SaveRow, results []persistence.SaveResult) error {
	var ns, id []string
	for i, r := range rows {
		if results[i].Outcome == 0 {
			ns, id = append(ns, r.Key.Namespace), append(id, r.Key.ID)
		}
	}
	rs, err := s.pool.Query(ctx, qSaveClassify, ns, id)
	if err != nil {
		return fmt.Errorf("classify: %w", err)
	}
	defer rs.Close()
	states := make(map[persistence.ProfileKey]persistence.ProfileState, len(ns))
	for rs.Next() {
		var k persistence.ProfileKey
		var owner *string
		var st persistence.ProfileState
		if err := rs.Scan(&k.Namespace, &k.ID, &owner, &st.Epoch, &st.Seq, &st.SchemaVersion, &st.Deleted); err != nil {
			return fmt.Errorf("classify: %w", err)
		}
		st.Owner = deref(owner)
		states[k] = st
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("classify: %w", err)
	}
	for i, r := range rows {
		if results[i].Outcome != 0 {
			continue
		}
		s.lists.forget(r.Key)
		st, ok := states[r.Key]
		if !ok || st.Deleted {
			results[i].Outcome = persistence.SaveGone
			continue
		}
		results[i].Outcome = persistence.ClassifySave(&st, nodeID, r)
		if results[i].Outcome == persistence.SaveSaved {
			// The fenced UPDATE skipped a row the rule would save: the two
			// disagree, which must never be papered over as saved.
			return fmt.Errorf("classify %s: store and rules disagree (state %+v, row epoch %d seq %d)",
				r.Key, st, r.Epoch, r.Seq)
		}
		results[i].Epoch, results[i].Seq = st.Epoch, st.Seq
	}
	return nil
}
