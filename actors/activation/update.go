package activation

import (
	"errors"
	"fmt"
	"slices"
	"time"

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
	addUsers        []string
	removeUsers     []string
	recordKey       string // "" when not idempotent
	durable         bool
	expectedVersion int64
	token           string
	// result builds the answer of a first application at version, and its
	// idempotency record when record is true.
	result func(version int64, record bool) (resp proto.Message, rec *hearthv1.IdempotencyRecord)
	// repeat builds the answer to a repeated key from the first's record.
	repeat func(rec *hearthv1.IdempotencyRecord, durable bool) proto.Message
}

func (m *Machine) onUpdate(now time.Time, r Request, msg *hearthv1.UpdateRequest) {
	c := change{
		ops:             msg.GetOperations(),
		addUsers:        msg.GetAddUserIds(),
		removeUsers:     msg.GetRemoveUserIds(),
		durable:         msg.GetDurability() == hearthv1.Durability_DURABILITY_DURABLE,
		expectedVersion: msg.GetExpectedVersion(),
		token:           msg.GetSessionToken(),
		result: func(version int64, record bool) (proto.Message, *hearthv1.IdempotencyRecord) {
			resp := &hearthv1.UpdateResponse{Version: version}
			if !record {
				return resp, nil
			}
			return resp, &hearthv1.IdempotencyRecord{Result: &hearthv1.IdempotencyRecord_Update{Update: &hearthv1.UpdateResponse{Version: version}}}
		},
		repeat: func(rec *hearthv1.IdempotencyRecord, durable bool) proto.Message {
			resp := proto.Clone(rec.GetUpdate()).(*hearthv1.UpdateResponse)
			resp.Duplicate, resp.Durable = true, durable
			return resp
		},
	}
	switch msg.GetDurability() {
	case hearthv1.Durability_DURABILITY_UNSPECIFIED, hearthv1.Durability_DURABILITY_MEMORY, hearthv1.Durability_DURABILITY_DURABLE:
	default:
		m.refuse(r, errorf(codeInvalidArgument, "durability %d is not one of DURABILITY_MEMORY, DURABILITY_DURABLE", msg.GetDurability()))
		return
	}
	if k := msg.GetIdempotencyKey(); k != "" {
		if err := validateUserKey("idempotency_key", k); err != nil {
			m.refuse(r, err)
			return
		}
		c.recordKey = updateKeyPrefix + k
	}
	m.apply(now, r, c)
}

func (m *Machine) onPurchase(now time.Time, r Request, msg *hearthv1.PurchaseRequest) {
	switch {
	case msg.GetReceiptId() == "":
		m.refuse(r, errorf(codeInvalidArgument, "a purchase needs the store's receipt_id"))
		return
	case msg.GetProductId() == "":
		m.refuse(r, errorf(codeInvalidArgument, "a purchase needs a product_id"))
		return
	case len(msg.GetMetadata()) > maxPurchaseMetadata:
		m.refuse(r, errorf(codeTooLarge, "purchase metadata is %d bytes; at most %d", len(msg.GetMetadata()), maxPurchaseMetadata))
		return
	}
	if err := validateUserKey("receipt_id", msg.GetReceiptId()); err != nil {
		m.refuse(r, err)
		return
	}
	m.apply(now, r, change{
		ops:       msg.GetGrant(),
		recordKey: purchaseKeyPrefix + msg.GetReceiptId(),
		durable:   true, // a purchase is granted only once its grant is committed
		token:     msg.GetSessionToken(),
		result: func(version int64, _ bool) (proto.Message, *hearthv1.IdempotencyRecord) {
			p := &hearthv1.Purchase{
				ReceiptId: msg.GetReceiptId(), ProductId: msg.GetProductId(), Version: version,
				GrantedAt: timestamppb.New(now), Metadata: msg.GetMetadata(),
			}
			return &hearthv1.PurchaseResponse{Purchase: p},
				&hearthv1.IdempotencyRecord{Result: &hearthv1.IdempotencyRecord_Purchase{Purchase: proto.Clone(p).(*hearthv1.Purchase)}}
		},
		repeat: func(rec *hearthv1.IdempotencyRecord, _ bool) proto.Message {
			return &hearthv1.PurchaseResponse{Purchase: rec.GetPurchase(), Duplicate: true}
		},
	})
}

// validateUserKey checks a caller's idempotency key or receipt id, naming
// the field as the caller knows it (the record keys the store sees carry a
// prefix the caller never wrote).
func validateUserKey(field, key string) error {
	if err := persistence.ValidateRecordKey(updateKeyPrefix + key); err != nil {
		return errorf(codeInvalidArgument, "%s must be 1..%d printable ASCII characters without spaces",
			field, persistence.MaxRecordKeyLen-len(updateKeyPrefix))
	}
	return nil
}

// apply is the write path shared by Update and Purchase: check the session
// and idempotency key, apply the operations all-or-nothing, then answer at
// once (memory) or after the commit (durable).
func (m *Machine) apply(now time.Time, r Request, c change) {
	m.lapseSession(now)
	if err := m.checkToken(now, c.token); err != nil {
		m.refuse(r, err)
		return
	}
	if c.recordKey == "" {
		m.applyNew(now, r, c)
		return
	}
	result, pending, found := m.records.lookup(c.recordKey)
	switch {
	case found:
		m.answerRepeat(now, r, c, result, pending)
	case m.keys.mayContain(c.recordKey):
		// The filter cannot rule the key out: ask the store.
		m.park(r, &ReadCall{Kind: ReadRecord, RecordKey: c.recordKey}, func(now time.Time, d ReadDone) {
			switch {
			case errors.Is(d.Err, persistence.ErrNotFound):
				m.applyNew(now, r, c)
			case d.Err != nil:
				// Without the record the key cannot be guaranteed to apply once.
				m.refuse(r, errorf(codeUnavailable, "cannot check the idempotency key: %v", d.Err))
			default:
				m.records.remember(c.recordKey, d.Record.Result)
				m.answerRepeat(now, r, c, d.Record.Result, nil)
			}
		})
	default:
		m.applyNew(now, r, c) // never recorded: no store read needed
	}
}

// answerRepeat answers a request whose idempotency key was applied before,
// with the first application's result.
func (m *Machine) answerRepeat(now time.Time, r Request, c change, result []byte, pending *pendingRecord) {
	rec := &hearthv1.IdempotencyRecord{}
	if err := proto.Unmarshal(result, rec); err != nil {
		m.refuse(r, errorf(codeUnavailable, "the record of idempotency key %q is unreadable: %v", userKey(c.recordKey), err))
		return
	}
	if (rec.GetUpdate() == nil) != (rec.GetPurchase() != nil) || rec.GetResult() == nil {
		m.refuse(r, errorf(codeUnavailable, "the record of idempotency key %q is empty", userKey(c.recordKey)))
		return
	}
	m.cfg.Metrics.Duplicates.Inc()
	if pending == nil {
		m.reply(r.ReplyTo, c.repeat(rec, true))
		return
	}
	// The first application is still only in memory. A durable repeat waits
	// for the same commit the first one waits for.
	if !c.durable {
		m.reply(r.ReplyTo, c.repeat(rec, false))
		return
	}
	m.addWaiter(now, saveWaiter{to: r.ReplyTo, version: pending.version, durable: true, answer: func(err error) any {
		if err != nil {
			return errorResponse(r.Msg, err)
		}
		return c.repeat(rec, true)
	}})
}

// applyNew applies a change whose key (if any) is new.
func (m *Machine) applyNew(now time.Time, r Request, c change) {
	if c.expectedVersion != 0 && c.expectedVersion != m.version {
		m.refuse(r, errorf(codeVersionConflict, "expected version %d, the document is at version %d", c.expectedVersion, m.version))
		return
	}
	users, usersChanged, err := m.changedUsers(c.addUsers, c.removeUsers)
	if err != nil {
		m.refuse(r, err)
		return
	}
	var doc any
	if len(c.ops) == 0 && (len(c.addUsers) > 0 || len(c.removeUsers) > 0) {
		if doc, err = m.decoded(); err != nil { // only user ids change
			m.refuse(r, err)
			return
		}
	} else {
		ops, err := decodeOps(c.ops)
		if err != nil {
			m.refuse(r, err)
			return
		}
		cur, err := m.decoded()
		if err != nil {
			m.refuse(r, err)
			return
		}
		if doc, err = document.Apply(cur, ops, m.cfg.Limits.document()); err != nil {
			m.refuse(r, err)
			return
		}
	}
	// The size check encodes the document only when a cheap upper bound on
	// its size could exceed the limit; the encoding is otherwise left to
	// the next save or whole-document read.
	var encoded []byte
	bound := m.sizeBound + growthBound(c.ops)
	if bound > int64(m.cfg.Limits.MaxDocumentBytes) {
		if encoded, err = document.Encode(doc); err != nil {
			m.refuse(r, err)
			return
		}
		if len(encoded) > m.cfg.Limits.MaxDocumentBytes {
			m.refuse(r, errorf(codeTooLarge, "the update would make the document %d bytes; the limit is %d", len(encoded), m.cfg.Limits.MaxDocumentBytes))
			return
		}
		bound = int64(len(encoded))
	}
	resp, rec := c.result(m.version+1, c.recordKey != "")
	var recBytes []byte
	if c.recordKey != "" {
		if recBytes, err = proto.Marshal(rec); err != nil {
			m.refuse(r, fmt.Errorf("encode idempotency record: %w", err))
			return
		}
	}

	// Every check passed: the change is applied.
	if len(c.ops) > 0 {
		m.doc, m.docBytes, m.sizeBound = doc, encoded, bound
	}
	if usersChanged {
		m.users = users
		m.usersGen++
	}
	m.version++
	m.changed(now)
	if c.recordKey != "" {
		m.records.add(&pendingRecord{key: c.recordKey, result: recBytes, version: m.version})
		m.keys.add(c.recordKey)
	}
	lane := "memory"
	if c.durable {
		lane = "durable"
	}
	m.cfg.Metrics.Updates.WithLabelValues(lane).Inc()
	m.publish(&hearthv1.WatchEvent{
		Kind:           hearthv1.WatchEventKind_WATCH_EVENT_KIND_UPDATED,
		Version:        m.version,
		Operations:     c.ops,
		SessionId:      m.holderFor(c.token),
		IdempotencyKey: userKey(c.recordKey),
	})
	if !c.durable {
		m.reply(r.ReplyTo, resp)
		return
	}
	m.addWaiter(now, saveWaiter{to: r.ReplyTo, version: m.version, durable: true, answer: func(err error) any {
		if err != nil {
			return errorResponse(r.Msg, err)
		}
		if u, ok := resp.(*hearthv1.UpdateResponse); ok {
			u.Durable = true
		}
		return resp
	}})
}

// changedUsers is the profile's user id set after adding and removing; ok
// is false when it is the same set.
func (m *Machine) changedUsers(add, remove []string) (users []string, changed bool, err error) {
	if len(add) == 0 && len(remove) == 0 {
		return m.users, false, nil
	}
	if err := persistence.ValidateUserIDs(add); err != nil {
		return nil, false, errorf(codeInvalidArgument, "add_user_ids: %s", Classify(err).Message)
	}
	if err := persistence.ValidateUserIDs(remove); err != nil {
		return nil, false, errorf(codeInvalidArgument, "remove_user_ids: %s", Classify(err).Message)
	}
	users = make([]string, 0, len(m.users)+len(add))
	for _, u := range m.users {
		if !slices.Contains(remove, u) {
			users = append(users, u)
		}
	}
	for _, u := range add {
		if !slices.Contains(users, u) {
			users = append(users, u)
		}
	}
	if len(users) > persistence.MaxUserIDs {
		return nil, false, errorf(codeTooLarge, "a profile holds at most %d user ids; this update would make %d", persistence.MaxUserIDs, len(users))
	}
	if slices.Equal(users, m.users) {
		return m.users, false, nil
	}
	if len(users) == 0 {
		users = nil
	}
	return users, true, nil
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
func (m *Machine) refuse(r Request, err error) {
	ce := classify(err)
	m.cfg.Metrics.UpdateErrors.WithLabelValues(ce.Code.String()).Inc()
	m.replyError(r, ce)
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
			e := errorf(codeInvalidArgument, "operation %d: kind %d is not one of OPERATION_KIND_SET, _DELETE, _INCREMENT, _APPEND, _REMOVE, _MERGE, _SET_IF_ABSENT", i, o.GetKind())
			e.OperationIndex, e.Path = i, o.GetPath()
			return nil, e
		}
		op := document.Op{Kind: kind, Path: o.GetPath()}
		if kind != document.OpDelete {
			v, err := document.Decode([]byte(o.GetValue()))
			if err != nil {
				e := errorf(codeInvalidArgument, "operation %d (%s %s): value is not valid JSON: %v", i, kind, document.DisplayPath(o.GetPath()), err)
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
