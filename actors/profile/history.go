package profile

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// Saved history (retained versions, purchases) and the status of a profile
// nobody has loaded are answered from the store, without an activation:
// reading them needs no ownership, and asking about a profile must neither
// load nor create it.

// purchaseKeyPrefix marks purchase records among a profile's idempotency
// records (activation.PurchaseKeyPrefix).
const purchaseKeyPrefix = activation.PurchaseKeyPrefix

// purchasePage is how many records ListPurchases reads per store query.
const purchasePage = 200

func notFound(key persistence.ProfileKey) *messages.CodeError {
	return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND, "profile %s does not exist", key)
}

// statusUnloaded answers Status for a profile with no activation here from
// the store. answered is false when an activation exists (it answers with
// its live state).
func (h *Host) statusUnloaded(ctx context.Context, key persistence.ProfileKey) (proto.Message, bool) {
	h.mu.Lock()
	_, loaded := h.entries[key]
	h.mu.Unlock()
	if loaded {
		return nil, false
	}
	holder, err := h.holder(ctx, key)
	if err != nil {
		return &hearthv1.StatusResponse{Error: messages.ToProto(err)}, true
	}
	return &hearthv1.StatusResponse{Loaded: false, Node: holder.Node, Epoch: holder.Epoch, SavedSeq: holder.Seq}, true
}

// holder reads who owns key; a profile never written is NOT_FOUND.
func (h *Host) holder(ctx context.Context, key persistence.ProfileKey) (persistence.Holder, error) {
	sctx, cancel := context.WithTimeout(ctx, h.cfg.StoreTimeout)
	defer cancel()
	holder, err := h.cfg.Store.Holder(sctx, key)
	switch {
	case errors.Is(err, persistence.ErrNotFound) || err == nil && holder.Seq == 0:
		return holder, notFound(key)
	case err != nil:
		return holder, activation.Classify(err)
	}
	return holder, nil
}

// history answers ListVersions, GetVersion and ListPurchases from the store.
func (h *Host) history(ctx context.Context, key persistence.ProfileKey, msg proto.Message) (proto.Message, error) {
	sctx, cancel := context.WithTimeout(ctx, h.cfg.StoreTimeout)
	defer cancel()
	fail := func(err error) (proto.Message, error) { return activation.ErrorResponse(msg, err), nil }
	switch m := msg.(type) {
	case *hearthv1.ListVersionsRequest:
		vs, err := h.cfg.Store.Versions(sctx, key)
		switch {
		case errors.Is(err, persistence.ErrNotFound) || err == nil && len(vs) == 0:
			return fail(notFound(key))
		case err != nil:
			return fail(err)
		}
		resp := &hearthv1.ListVersionsResponse{}
		for _, v := range vs {
			resp.Versions = append(resp.Versions, &hearthv1.VersionInfo{
				Seq: v.Seq, Epoch: v.Epoch, SchemaVersion: v.SchemaVersion,
				SizeBytes: int64(v.Size), SavedAt: timestamppb.New(v.SavedAt),
			})
		}
		return resp, nil
	case *hearthv1.GetVersionRequest:
		if m.GetSeq() <= 0 {
			return fail(messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "seq must be positive (ListVersions lists the retained ones)"))
		}
		snap, err := h.cfg.Store.Version(sctx, key, m.GetSeq())
		if errors.Is(err, persistence.ErrNotFound) {
			return fail(messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND, "version %d of %s is not retained; ListVersions shows what is", m.GetSeq(), key))
		} else if err != nil {
			return fail(err)
		}
		doc, version, err := activation.DecodeStored(snap.Document)
		if err != nil {
			return fail(messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "version %d cannot be read: %v", m.GetSeq(), err))
		}
		return &hearthv1.GetVersionResponse{
			Info: &hearthv1.VersionInfo{
				Seq: snap.Seq, Epoch: snap.Epoch, SchemaVersion: snap.SchemaVersion, Version: version,
				SizeBytes: int64(len(snap.Document)), SavedAt: timestamppb.New(snap.SavedAt),
			},
			Document: string(doc),
		}, nil
	case *hearthv1.ListPurchasesRequest:
		if _, err := h.holder(ctx, key); err != nil {
			return fail(err)
		}
		resp, err := h.listPurchases(sctx, key, m)
		if err != nil {
			return fail(err)
		}
		return resp, nil
	}
	return fail(messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "%T is not a history read", msg))
}

func (h *Host) listPurchases(ctx context.Context, key persistence.ProfileKey, m *hearthv1.ListPurchasesRequest) (*hearthv1.ListPurchasesResponse, error) {
	limit := int(m.GetLimit())
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, persistence.MaxRecordPage)
	q, err := decodePageToken(m.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &hearthv1.ListPurchasesResponse{}
	for len(resp.Purchases) < limit {
		q.Limit = purchasePage
		recs, err := h.cfg.Store.Records(ctx, key, q)
		if err != nil {
			return nil, err
		}
		for i, r := range recs {
			q.AfterSeq, q.AfterKey = r.Seq, r.Key
			if !strings.HasPrefix(r.Key, purchaseKeyPrefix) {
				continue
			}
			rec := &hearthv1.IdempotencyRecord{}
			if err := proto.Unmarshal(r.Result, rec); err != nil || rec.GetPurchase() == nil {
				h.cfg.Logger.Warn("unreadable purchase record", "profile", key.String(), "key", r.Key, "err", err)
				continue
			}
			resp.Purchases = append(resp.Purchases, rec.GetPurchase())
			if len(resp.Purchases) == limit {
				if i < len(recs)-1 || len(recs) == purchasePage {
					resp.NextPageToken = encodePageToken(q)
				}
				return resp, nil
			}
		}
		if len(recs) < purchasePage {
			break
		}
	}
	return resp, nil
}

// A page token is the position after the last record returned.
func encodePageToken(q persistence.RecordQuery) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(q.AfterSeq, 10) + "|" + q.AfterKey))
}

func decodePageToken(t string) (persistence.RecordQuery, error) {
	if t == "" {
		return persistence.RecordQuery{}, nil
	}
	bad := messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "page_token is not one this API returned")
	raw, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return persistence.RecordQuery{}, bad
	}
	seq, key, ok := strings.Cut(string(raw), "|")
	if !ok {
		return persistence.RecordQuery{}, bad
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || n < 0 {
		return persistence.RecordQuery{}, bad
	}
	return persistence.RecordQuery{AfterSeq: n, AfterKey: key}, nil
}
