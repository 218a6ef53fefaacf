package profile

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

func (a *activation) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), a.cfg.Timing.StoreTimeout)
}

func (a *activation) onListVersions(ctx actor.Context, _ *hearthv1.ListVersionsRequest) {
	sctx, cancel := a.storeCtx()
	vs, err := a.cfg.Store.Versions(sctx, a.key)
	cancel()
	if err != nil {
		respondError(ctx, err)
		return
	}
	resp := &hearthv1.ListVersionsResponse{}
	for _, v := range vs {
		resp.Versions = append(resp.Versions, &hearthv1.VersionInfo{
			Seq: v.Seq, Epoch: v.Epoch, SchemaVersion: v.SchemaVersion,
			SizeBytes: int64(v.Size), SavedAt: timestamppb.New(v.SavedAt),
		})
	}
	ctx.Respond(resp)
}

// readVersion reads a retained snapshot and unwraps it.
func (a *activation) readVersion(seq int64) (persistence.Snapshot, envelope, error) {
	if seq <= 0 {
		return persistence.Snapshot{}, envelope{}, errorf(codeInvalidArgument, "seq must be positive")
	}
	sctx, cancel := a.storeCtx()
	snap, err := a.cfg.Store.Version(sctx, a.key, seq)
	cancel()
	if err != nil {
		if errors.Is(err, persistence.ErrNotFound) {
			return snap, envelope{}, errorf(codeNotFound, "version %d of %s is not retained; ListVersions shows what is", seq, a.key)
		}
		return snap, envelope{}, err
	}
	env, err := decodeEnvelope(snap.Document)
	if err != nil {
		return snap, envelope{}, errorf(codeUnavailable, "version %d cannot be read: %v", seq, err)
	}
	return snap, env, nil
}

func (a *activation) onGetVersion(ctx actor.Context, m *hearthv1.GetVersionRequest) {
	snap, env, err := a.readVersion(m.GetSeq())
	if err != nil {
		respondError(ctx, err)
		return
	}
	ctx.Respond(&hearthv1.GetVersionResponse{
		Info: &hearthv1.VersionInfo{
			Seq: snap.Seq, Epoch: snap.Epoch, SchemaVersion: snap.SchemaVersion, Version: env.Version,
			SizeBytes: int64(len(snap.Document)), SavedAt: timestamppb.New(snap.SavedAt),
		},
		Document: string(env.Doc),
	})
}

// onRestore makes a retained snapshot the current document, as a new
// version (history only grows), migrated and reconciled like a load, and
// answers once it is durable.
func (a *activation) onRestore(ctx actor.Context, m *hearthv1.RestoreRequest) {
	a.lapseSession()
	if err := a.checkToken(m.GetSessionToken()); err != nil {
		respondError(ctx, err)
		return
	}
	snap, env, err := a.readVersion(m.GetSeq())
	if err != nil {
		respondError(ctx, err)
		return
	}
	doc, err := document.Decode(env.Doc)
	if err != nil {
		respondError(ctx, errorf(codeUnavailable, "version %d holds a bad document: %v", m.GetSeq(), err))
		return
	}
	migrated, schema, err := a.ns.Migrations.Migrate(doc, snap.SchemaVersion)
	if err != nil {
		respondError(ctx, err)
		return
	}
	restored, _ := document.Reconcile(migrated, a.ns.Template)
	encoded, err := document.Encode(restored)
	if err != nil {
		respondError(ctx, err)
		return
	}
	a.doc, a.docBytes, a.schema = restored, encoded, schema
	a.sizeBound = int64(len(encoded))
	a.version++
	a.publish(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_RESTORED, SessionId: a.holderFor(m.GetSessionToken())})
	req := ctx.Message()
	a.addWaiter(saveWaiter{sender: ctx.Sender(), version: a.version, answer: func(err error) any {
		if err != nil {
			return errorResponse(req, err)
		}
		return &hearthv1.RestoreResponse{Version: a.savedVersion, SavedSeq: a.savedSeq}
	}})
}

// onDelete erases the profile (fenced by this activation's epoch, so a stale
// activation cannot delete a newer owner's profile) and stops.
func (a *activation) onDelete(ctx actor.Context, m *hearthv1.DeleteRequest) {
	a.lapseSession()
	if err := a.checkToken(m.GetSessionToken()); err != nil {
		respondError(ctx, err)
		return
	}
	sctx, cancel := a.storeCtx()
	err := a.cfg.Store.Delete(sctx, a.cfg.NodeID, a.key, a.epoch)
	cancel()
	switch {
	case errors.Is(err, persistence.ErrFenced):
		respondError(ctx, err)
		a.fence("delete")
		return
	case err != nil && !errors.Is(err, persistence.ErrNotFound):
		respondError(ctx, err)
		return
	}
	ctx.Respond(&hearthv1.DeleteResponse{})
	a.publish(&hearthv1.WatchEvent{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_DELETED, SessionId: a.holderFor(m.GetSessionToken())})
	a.cfg.Metrics.Passivations.WithLabelValues("deleted").Inc()
	a.life.stopping()
	gone := errorf(codeNotFound, "profile %s was deleted", a.key)
	a.failWaiters(^uint64(0), gone)
	for _, w := range a.acquirers {
		a.send(w.sender, notServing{reason: "deleted"})
	}
	a.acquirers = nil
	a.end(nil)
}

// purchasePage is how many records ListPurchases reads per store query.
const purchasePage = 200

func (a *activation) onListPurchases(ctx actor.Context, m *hearthv1.ListPurchasesRequest) {
	limit := int(m.GetLimit())
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, persistence.MaxRecordPage)
	q, err := decodePageToken(m.GetPageToken())
	if err != nil {
		respondError(ctx, err)
		return
	}
	resp := &hearthv1.ListPurchasesResponse{}
	for len(resp.Purchases) < limit {
		q.Limit = purchasePage
		sctx, cancel := a.storeCtx()
		recs, err := a.cfg.Store.Records(sctx, a.key, q)
		cancel()
		if err != nil {
			respondError(ctx, err)
			return
		}
		for i, r := range recs {
			q.AfterSeq, q.AfterKey = r.Seq, r.Key
			if !strings.HasPrefix(r.Key, purchaseKeyPrefix) {
				continue
			}
			rec := &hearthv1.IdempotencyRecord{}
			if err := proto.Unmarshal(r.Result, rec); err != nil || rec.GetPurchase() == nil {
				a.log.Warn("unreadable purchase record", "key", r.Key, "err", err)
				continue
			}
			resp.Purchases = append(resp.Purchases, rec.GetPurchase())
			if len(resp.Purchases) == limit {
				if i < len(recs)-1 || len(recs) == purchasePage {
					resp.NextPageToken = encodePageToken(q)
				}
				ctx.Respond(resp)
				return
			}
		}
		if len(recs) < purchasePage {
			break
		}
	}
	ctx.Respond(resp)
}

// A page token is the position after the last record returned.
func encodePageToken(q persistence.RecordQuery) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(q.AfterSeq, 10) + "|" + q.AfterKey))
}

func decodePageToken(t string) (persistence.RecordQuery, error) {
	if t == "" {
		return persistence.RecordQuery{}, nil
	}
	bad := errorf(codeInvalidArgument, "page token is not one this API returned")
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
