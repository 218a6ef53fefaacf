package profile

import (
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// maxPurchaseMetadata caps a purchase's metadata, which is kept in the
// purchase history for the profile's lifetime.
const maxPurchaseMetadata = 16 << 10

// change is one write request, Update or Purchase, in the form the shared
// apply path needs.
type change struct {
	ops             []*hearthv1.Operation
	recordKey       string // "" when not idempotent
	durable         bool
	expectedVersion int64
	token           string
	// result builds the answer and the idempotency record of a first
	// application at version.
	result func(version int64) (resp proto.Message, record *hearthv1.IdempotencyRecord)
	// repeat builds the answer to a repeated key from the first's record.
	repeat func(rec *hearthv1.IdempotencyRecord, durable bool) proto.Message
}

func (a *activation) onUpdate(ctx actor.Context, m *hearthv1.UpdateRequest) {
	c := change{
		ops:             m.GetOperations(),
		durable:         m.GetDurability() == hearthv1.Durability_DURABILITY_DURABLE,
		expectedVersion: m.GetExpectedVersion(),
		token:           m.GetSessionToken(),
		result: func(version int64) (proto.Message, *hearthv1.IdempotencyRecord) {
			r := &hearthv1.UpdateResponse{Version: version}
			return r, &hearthv1.IdempotencyRecord{Result: &hearthv1.IdempotencyRecord_Update{Update: proto.Clone(r).(*hearthv1.UpdateResponse)}}
		},
		repeat: func(rec *hearthv1.IdempotencyRecord, durable bool) proto.Message {
			r := proto.Clone(rec.GetUpdate()).(*hearthv1.UpdateResponse)
			r.Duplicate, r.Durable = true, durable
			return r
		},
	}
	if d := m.GetDurability(); d != hearthv1.Durability_DURABILITY_UNSPECIFIED &&
		d != hearthv1.Durability_DURABILITY_MEMORY && d != hearthv1.Durability_DURABILITY_DURABLE {
		a.refuse(ctx, errorf(codeInvalidArgument, "unknown durability %d", d))
		return
	}
	if k := m.GetIdempotencyKey(); k != "" {
		c.recordKey = updateKeyPrefix + k
	}
	a.apply(ctx, c)
}

func (a *activation) onPurchase(ctx actor.Context, m *hearthv1.PurchaseRequest) {
	switch {
	case m.GetReceiptId() == "":
		a.refuse(ctx, errorf(codeInvalidArgument, "a purchase needs the store's receipt id"))
		return
	case m.GetProductId() == "":
		a.refuse(ctx, errorf(codeInvalidArgument, "a purchase needs a product id"))
		return
	case len(m.GetMetadata()) > maxPurchaseMetadata:
		a.refuse(ctx, errorf(codeTooLarge, "purchase metadata is %d bytes; at most %d", len(m.GetMetadata()), maxPurchaseMetadata))
		return
	}
	now := a.cfg.Clock.Now()
	a.apply(ctx, change{
		ops:       m.GetGrant(),
		recordKey: purchaseKeyPrefix + m.GetReceiptId(),
		durable:   true, // a purchase is granted only once its grant is committed
		token:     m.GetSessionToken(),
		result: func(version int64) (proto.Message, *hearthv1.IdempotencyRecord) {
			p := &hearthv1.Purchase{
				ReceiptId: m.GetReceiptId(), ProductId: m.GetProductId(), Version: version,
				GrantedAt: timestamppb.New(now), Metadata: m.GetMetadata(),
			}
			return &hearthv1.PurchaseResponse{Purchase: p},
				&hearthv1.IdempotencyRecord{Result: &hearthv1.IdempotencyRecord_Purchase{Purchase: proto.Clone(p).(*hearthv1.Purchase)}}
		},
		repeat: func(rec *hearthv1.IdempotencyRecord, _ bool) proto.Message {
			return &hearthv1.PurchaseResponse{Purchase: rec.GetPurchase(), Duplicate: true}
		},
	})
}

// apply is the write path shared by Update and Purchase: check the session
// and idempotency key, apply the operations all-or-nothing, then answer at
// once (memory) or after the commit (durable).
func (a *activation) apply(ctx actor.Context, c change) {
	a.lapseSession()
	if err := a.checkToken(c.token); err != nil {
		a.refuse(ctx, err)
		return
	}
	if c.recordKey != "" {
		if err := persistence.ValidateRecordKey(c.recordKey); err != nil {
			a.refuse(ctx, errorf(codeInvalidArgument, "idempotency key: %v", err))
			return
		}
		done, err := a.repeatOf(ctx, c)
		if err != nil {
			a.refuse(ctx, err)
			return
		}
		if done {
			return
		}
	}
	if c.expectedVersion != 0 && c.expectedVersion != a.version {
		a.refuse(ctx, errorf(codeVersionConflict, "expected version %d, the document is at version %d", c.expectedVersion, a.version))
		return
	}
	ops, err := decodeOps(c.ops)
	if err != nil {
		a.refuse(ctx, err)
		return
	}
	doc, err := document.Apply(a.doc, ops, a.cfg.Limits.document())
	if err != nil {
		a.refuse(ctx, err)
		return
	}
	// The size check encodes the document only when a cheap upper bound on
	// its size could exceed the limit; the encoding is otherwise left to
	// the next save or whole-document read.
	var encoded []byte
	bound := a.sizeBound + growthBound(c.ops)
	if bound > int64(a.cfg.Limits.MaxDocumentBytes) {
		if encoded, err = document.Encode(doc); err != nil {
			a.refuse(ctx, err)
			return
		}
		if len(encoded) > a.cfg.Limits.MaxDocumentBytes {
			a.refuse(ctx, errorf(codeTooLarge, "the update would make the document %d bytes; the limit is %d", len(encoded), a.cfg.Limits.MaxDocumentBytes))
			return
		}
		bound = int64(len(encoded))
	}
	resp, rec := c.result(a.version + 1)
	var recBytes []byte
	if c.recordKey != "" {
		if recBytes, err = proto.Marshal(rec); err != nil {
			a.refuse(ctx, fmt.Errorf("encode idempotency record: %w", err))
			return
		}
	}

	// Every check passed: the change is applied.
	a.doc, a.docBytes, a.sizeBound = doc, encoded, bound
	a.version++
	if c.recordKey != "" {
		a.records.add(&pendingRecord{key: c.recordKey, result: recBytes, version: a.version})
		a.keys.add(c.recordKey)
	}
	lane := "memory"
	if c.durable {
		lane = "durable"
	}
	a.cfg.Metrics.Updates.WithLabelValues(lane).Inc()
	a.publish(&hearthv1.WatchEvent{
		Kind:           hearthv1.WatchEventKind_WATCH_EVENT_KIND_UPDATED,
		Version:        a.version,
		Operations:     c.ops,
		SessionId:      a.holderFor(c.token),
		IdempotencyKey: userKey(c.recordKey),
	})
	if !c.durable {
		ctx.Respond(resp)
		return
	}
	req := ctx.Message()
	a.addWaiter(saveWaiter{
		sender:  ctx.Sender(),
		version: a.version,
		durable: true,
		answer: func(err error) any {
			if err != nil {
				return errorResponse(req, err)
			}
			if u, ok := resp.(*hearthv1.UpdateResponse); ok {
				u.Durable = true
			}
			return resp
		},
	})
}

// repeatOf answers a request whose idempotency key was seen before, from
// memory or from the store. done is false for a new key.
func (a *activation) repeatOf(ctx actor.Context, c change) (done bool, err error) {
	result, pending, found := a.records.lookup(c.recordKey)
	if !found && !a.keys.mayContain(c.recordKey) {
		return false, nil // never recorded: no store read needed
	}
	if !found {
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timing.StoreTimeout)
		stored, err := a.cfg.Store.Record(sctx, a.key, c.recordKey)
		cancel()
		switch {
		case errors.Is(err, persistence.ErrNotFound):
			return false, nil
		case err != nil:
			// Without the record the key cannot be guaranteed to apply once.
			return false, errorf(codeUnavailable, "cannot check idempotency key: %v", err)
		}
		result = stored.Result
		a.records.remember(c.recordKey, result)
	}
	rec := &hearthv1.IdempotencyRecord{}
	if err := proto.Unmarshal(result, rec); err != nil {
		return false, errorf(codeUnavailable, "idempotency record %q is unreadable: %v", c.recordKey, err)
	}
	if (rec.GetUpdate() == nil) != (rec.GetPurchase() != nil) || rec.GetResult() == nil {
		return false, errorf(codeUnavailable, "idempotency record %q is empty", c.recordKey)
	}
	a.cfg.Metrics.Duplicates.Inc()
	if pending == nil {
		ctx.Respond(c.repeat(rec, true))
		return true, nil
	}
	// The first application is still only in memory. A durable repeat waits
	// for the same commit the first one waits for.
	if !c.durable {
		ctx.Respond(c.repeat(rec, false))
		return true, nil
	}
	req := ctx.Message()
	a.addWaiter(saveWaiter{
		sender:  ctx.Sender(),
		version: pending.version,
		durable: true,
		answer: func(err error) any {
			if err != nil {
				return errorResponse(req, err)
			}
			return c.repeat(rec, true)
		},
	})
	return true, nil
}

// userKey is an idempotency key as the caller gave it (the update key or the
// receipt id), without the prefix that keeps the two kinds apart.
func userKey(recordKey string) string {
	if len(recordKey) < len(updateKeyPrefix) {
		return recordKey
	}
	return recordKey[len(updateKeyPrefix):]
}

// growthBound is an upper bound on how many bytes ops can add to the
// encoded document: each op adds at most its value re-encoded (escaping can
// turn one byte into six), its path's keys as new parent objects, and a
// little punctuation; an increment adds at most a number's digits.
func growthBound(ops []*hearthv1.Operation) int64 {
	var n int64
	for _, o := range ops {
		n += 6*int64(len(o.GetValue())) + 2*int64(len(o.GetPath())) + 64
	}
	return n
}

// refuse answers a write with an error and counts it.
func (a *activation) refuse(ctx actor.Context, err error) {
	ce := classify(err)
	a.cfg.Metrics.UpdateErrors.WithLabelValues(ce.Code.String()).Inc()
	respondError(ctx, ce)
}

// decodeOps turns wire operations into document operations.
func decodeOps(in []*hearthv1.Operation) ([]document.Op, error) {
	if len(in) == 0 {
		return nil, errorf(codeInvalidArgument, "an update needs at least one operation")
	}
	ops := make([]document.Op, len(in))
	for i, o := range in {
		kind, ok := opKind(o.GetKind())
		if !ok {
			e := errorf(codeInvalidArgument, "operation %d: unknown kind %d", i, o.GetKind())
			e.OperationIndex, e.Path = i, o.GetPath()
			return nil, e
		}
		op := document.Op{Kind: kind, Path: o.GetPath()}
		if kind != document.OpDelete {
			v, err := document.Decode([]byte(o.GetValue()))
			if err != nil {
				e := errorf(codeInvalidArgument, "operation %d (%s %s): value is not valid JSON: %v", i, kind, o.GetPath(), err)
				if errors.Is(err, document.ErrLimit) {
					e.Code = codeTooLarge
				}
				e.OperationIndex, e.Path = i, o.GetPath()
				return nil, e
			}
			op.Value = v
		}
		ops[i] = op
	}
	return ops, nil
}

func opKind(k hearthv1.OperationKind) (document.OpKind, bool) {
	switch k {
	case hearthv1.OperationKind_OPERATION_KIND_SET:
		return document.OpSet, true
	case hearthv1.OperationKind_OPERATION_KIND_DELETE:
		return document.OpDelete, true
	case hearthv1.OperationKind_OPERATION_KIND_INCREMENT:
		return document.OpIncrement, true
	case hearthv1.OperationKind_OPERATION_KIND_APPEND:
		return document.OpAppend, true
	case hearthv1.OperationKind_OPERATION_KIND_REMOVE:
		return document.OpRemove, true
	case hearthv1.OperationKind_OPERATION_KIND_MERGE:
		return document.OpMerge, true
	case hearthv1.OperationKind_OPERATION_KIND_SET_IF_ABSENT:
		return document.OpSetIfAbsent, true
	default:
		return 0, false
	}
}
