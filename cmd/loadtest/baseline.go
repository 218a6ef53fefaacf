package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// baseline runs the same workload the way a stateless service would:
// every operation is one transaction straight against the database (read
// the document, apply the operations in Go, write it back, record the
// idempotency key in the same transaction). It keeps its own tables so it
// never touches Hearth's. Two kinds:
//
//   - "sql": SERIALIZABLE, retried by cockroach-go's helper on
//     serialization failures; concurrent writers of one profile conflict
//     and retry. BEGIN, key read, document read, upsert, key insert and
//     COMMIT are six round trips.
//   - "sql-lock": what a competent stateless service does. The transaction
//     locks the profile's row (SELECT ... FOR UPDATE), so concurrent
//     writers of one profile queue on the lock instead of retrying, and
//     pipelines its statements: BEGIN + lock + key read in one round trip,
//     update + key insert + COMMIT in the second. It runs at READ
//     COMMITTED: on PostgreSQL a SERIALIZABLE (or REPEATABLE READ)
//     transaction that waited for a row lock fails with a serialization
//     error once the holder commits, so locking there buys nothing but
//     retries; READ COMMITTED takes a fresh snapshot per statement, so the
//     key read after the lock sees every committed key. CockroachDB runs
//     READ COMMITTED since v23.2 (on by default from v24.1; where it is off,
//     the transaction runs as SERIALIZABLE, where CockroachDB's FOR UPDATE
//     also queues rather than fails). cockroach-go still retries a 40001.
type baseline struct {
	pool    *pgxpool.Pool
	locking bool
}

const baselineSchema = `
CREATE TABLE IF NOT EXISTS hearth_loadtest_baseline (
    namespace TEXT NOT NULL, id TEXT NOT NULL, doc BYTEA NOT NULL, version BIGINT NOT NULL,
    PRIMARY KEY (namespace, id));
CREATE TABLE IF NOT EXISTS hearth_loadtest_baseline_keys (
    namespace TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, result BYTEA NOT NULL,
    PRIMARY KEY (namespace, id, key));
TRUNCATE hearth_loadtest_baseline, hearth_loadtest_baseline_keys;`

func openBaseline(ctx context.Context, url string, conns int, locking bool) (*baseline, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(max(conns, 4))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, baselineSchema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("baseline schema: %w", err)
	}
	return &baseline{pool: pool, locking: locking}, nil
}

func (b *baseline) Close() { b.pool.Close() }

func (b *baseline) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return crdb.ExecuteCtx(crdb.WithMaxRetries(ctx, 20), func(ctx context.Context, _ ...any) error {
		return pgx.BeginTxFunc(ctx, b.pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, fn)
	})
}

func (b *baseline) read(ctx context.Context, tx pgx.Tx, ref *hearthv1.ProfileRef) ([]byte, int64, error) {
	var doc []byte
	var version int64
	err := tx.QueryRow(ctx, `SELECT doc, version FROM hearth_loadtest_baseline WHERE namespace = $1 AND id = $2`,
		ref.GetNamespace(), ref.GetId()).Scan(&doc, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return []byte("{}"), 0, nil
	}
	return doc, version, err
}

// apply is one read-modify-write with an optional idempotency key. result
// makes the answer from the new version, repeat from a recorded answer.
func (b *baseline) apply(ctx context.Context, ref *hearthv1.ProfileRef, key string, ops []*hearthv1.Operation,
	result func(version int64) proto.Message, repeat func([]byte) (proto.Message, error)) (proto.Message, error) {
	var out proto.Message
	var err error
	if b.locking {
		err = crdb.ExecuteCtx(crdb.WithMaxRetries(ctx, 20), func(ctx context.Context, _ ...any) error {
			var err error
			out, err = b.applyLocked(ctx, ref, key, ops, result, repeat)
			return err
		})
	} else {
		out, err = b.applySerializable(ctx, ref, key, ops, result, repeat)
	}
	if err != nil {
		return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "baseline: %v", err)
	}
	return out, nil
}

// transform applies the operations to a stored document. A bad operation
// is the caller's error (invalid), not a failure of the run.
func transform(raw []byte, ops []*hearthv1.Operation) (next []byte, invalid proto.Message, err error) {
	doc, err := document.Decode(raw)
	if err != nil {
		return nil, nil, err
	}
	dops := make([]document.Op, len(ops))
	for i, o := range ops {
		v, err := document.Decode([]byte(o.GetValue()))
		if err != nil && o.GetKind() != hearthv1.OperationKind_OPERATION_KIND_DELETE {
			return nil, nil, err
		}
		dops[i] = document.Op{Kind: document.OpKind(o.GetKind()), Path: o.GetPath(), Value: v}
	}
	applied, err := document.Apply(doc, dops, document.Limits{})
	if err != nil {
		return nil, &hearthv1.UpdateResponse{Error: messages.ToProto(messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "%v", err))}, nil
	}
	next, err = document.Encode(applied)
	return next, nil, err
}

// applySerializable is the "sql" baseline's transaction.
func (b *baseline) applySerializable(ctx context.Context, ref *hearthv1.ProfileRef, key string, ops []*hearthv1.Operation,
	result func(version int64) proto.Message, repeat func([]byte) (proto.Message, error)) (proto.Message, error) {
	var out proto.Message
	err := b.tx(ctx, func(tx pgx.Tx) error {
		if key != "" {
			var prev []byte
			err := tx.QueryRow(ctx, `SELECT result FROM hearth_loadtest_baseline_keys WHERE namespace = $1 AND id = $2 AND key = $3`,
				ref.GetNamespace(), ref.GetId(), key).Scan(&prev)
			if err == nil {
				out, err = repeat(prev)
				return err
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		raw, version, err := b.read(ctx, tx, ref)
		if err != nil {
			return err
		}
		enc, invalid, err := transform(raw, ops)
		if err != nil || invalid != nil {
			out = invalid
			return err
		}
		version++
		if _, err := tx.Exec(ctx, `INSERT INTO hearth_loadtest_baseline (namespace, id, doc, version) VALUES ($1, $2, $3, $4)
ON CONFLICT (namespace, id) DO UPDATE SET doc = excluded.doc, version = excluded.version`,
			ref.GetNamespace(), ref.GetId(), enc, version); err != nil {
			return err
		}
		out = result(version)
		if key != "" {
			rec, err := proto.Marshal(out)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO hearth_loadtest_baseline_keys (namespace, id, key, result) VALUES ($1, $2, $3, $4)`,
				ref.GetNamespace(), ref.GetId(), key, rec); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Request implements client.Transport.
func (b *baseline) Request(ctx context.Context, m proto.Message) (proto.Message, error) {
	switch r := m.(type) {
	case *hearthv1.AcquireRequest:
		// A stateless service has no sessions: it just reads.
		var out *hearthv1.AcquireResponse
		var err error
		if b.locking {
			var doc []byte
			var v int64
			doc, v, err = b.readUnlocked(ctx, r.GetProfile())
			out = &hearthv1.AcquireResponse{Document: string(doc), Version: v, SessionToken: "baseline"}
		} else {
			err = b.tx(ctx, func(tx pgx.Tx) error {
				doc, v, err := b.read(ctx, tx, r.GetProfile())
				out = &hearthv1.AcquireResponse{Document: string(doc), Version: v, SessionToken: "baseline"}
				return err
			})
		}
		if err != nil {
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "baseline: %v", err)
		}
		return out, nil
	case *hearthv1.ReleaseRequest:
		return &hearthv1.ReleaseResponse{}, nil
	case *hearthv1.UpdateRequest:
		return b.apply(ctx, r.GetProfile(), "u:"+r.GetIdempotencyKey(), r.GetOperations(),
			func(v int64) proto.Message { return &hearthv1.UpdateResponse{Version: v, Durable: true} },
			func(prev []byte) (proto.Message, error) {
				u := &hearthv1.UpdateResponse{}
				err := proto.Unmarshal(prev, u)
				u.Duplicate = true
				return u, err
			})
	case *hearthv1.PurchaseRequest:
		return b.apply(ctx, r.GetProfile(), "p:"+r.GetReceiptId(), r.GetGrant(),
			func(v int64) proto.Message {
				return &hearthv1.PurchaseResponse{Purchase: &hearthv1.Purchase{ReceiptId: r.GetReceiptId(), ProductId: r.GetProductId(), Version: v}}
			},
			func(prev []byte) (proto.Message, error) {
				p := &hearthv1.PurchaseResponse{}
				err := proto.Unmarshal(prev, p)
				p.Duplicate = true
				return p, err
			})
	default:
		return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "baseline does not serve %T", m)
	}
}

// Watch implements client.Transport; a stateless service has no events.
func (b *baseline) Watch(context.Context, *hearthv1.ProfileRef, func(*hearthv1.WatchEvent) error) error {
	return errors.New("baseline: no watch")
}

// reader reads the baseline's stored counters; its one stored state is the
// row, at the row's version.
func (b *baseline) reader(namespace string) reader {
	return func(ctx context.Context, id string) (stored, error) {
		var raw []byte
		var version int64
		err := b.pool.QueryRow(ctx, `SELECT doc, version FROM hearth_loadtest_baseline WHERE namespace = $1 AND id = $2`, namespace, id).Scan(&raw, &version)
		if errors.Is(err, pgx.ErrNoRows) {
			return stored{}, nil
		}
		if err != nil {
			return stored{}, err
		}
		s := stored{versions: []int64{version}}
		return s, json.Unmarshal(raw, &s.counters)
	}
}
