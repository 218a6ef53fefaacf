package profile

import (
	"context"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// MaxBatchItems caps the items of one Batch.
const MaxBatchItems = 1000

// BatchItemRequest is the request a BatchItem carries, or nil if it carries
// none.
func BatchItemRequest(it *hearthv1.BatchItem) proto.Message {
	switch r := it.GetRequest().(type) {
	case *hearthv1.BatchItem_Acquire:
		return r.Acquire
	case *hearthv1.BatchItem_Update:
		return r.Update
	case *hearthv1.BatchItem_Get:
		return r.Get
	case *hearthv1.BatchItem_Release:
		return r.Release
	case *hearthv1.BatchItem_Purchase:
		return r.Purchase
	case *hearthv1.BatchItem_Save:
		return r.Save
	case *hearthv1.BatchItem_Heartbeat:
		return r.Heartbeat
	default:
		return nil
	}
}

// BatchResultOf wraps an item's response (or its failure) as a BatchResult.
func BatchResultOf(req, res proto.Message, err error) *hearthv1.BatchResult {
	if err != nil || res == nil {
		if err == nil {
			err = messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "batch item carries no request")
		}
		if req == nil {
			return &hearthv1.BatchResult{Response: &hearthv1.BatchResult_Get{Get: &hearthv1.GetResponse{Error: messages.ToProto(err)}}}
		}
		res = ErrorResponse(req, err)
	}
	switch r := res.(type) {
	case *hearthv1.AcquireResponse:
		return &hearthv1.BatchResult{Response: &hearthv1.BatchResult_Acquire{Acquire: r}}
	case *hearthv1.UpdateResponse:
		return &hearthv1.BatchResult{Response: &hearthv1.BatchResult_Update{Update: r}}
	case *hearthv1.GetResponse:
		return &hearthv1.BatchResult{Response: &hearthv1.BatchResult_Get{Get: r}}
	case *hearthv1.ReleaseResponse:
		return &hearthv1.BatchResult{Response: &hearthv1.BatchResult_Release{Release: r}}
	case *hearthv1.PurchaseResponse:
		return &hearthv1.BatchResult{Response: &hearthv1.BatchResult_Purchase{Purchase: r}}
	case *hearthv1.SaveResponse:
		return &hearthv1.BatchResult{Response: &hearthv1.BatchResult_Save{Save: r}}
	case *hearthv1.HeartbeatResponse:
		return &hearthv1.BatchResult{Response: &hearthv1.BatchResult_Heartbeat{Heartbeat: r}}
	default:
		e := messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "batch item answered %T", res)
		return BatchResultOf(req, nil, e)
	}
}

// Batch runs a Batch's items on this node: items on one profile in the
// order given, profiles concurrently. Each item gets its own result; a
// failing item does not affect the others.
func (h *Host) Batch(ctx context.Context, req *hearthv1.BatchRequest) (*hearthv1.BatchResponse, error) {
	return RunBatch(ctx, req, h.Request)
}

// RunBatch runs items through request, grouped by profile: one goroutine per
// profile runs that profile's items in order. It is shared by the Host (the
// items a node owns) and routers (which group per owning node first).
func RunBatch(ctx context.Context, req *hearthv1.BatchRequest, request func(context.Context, proto.Message) (proto.Message, error)) (*hearthv1.BatchResponse, error) {
	items := req.GetItems()
	if err := CheckBatch(req); err != nil {
		return nil, err
	}
	resp := &hearthv1.BatchResponse{Results: make([]*hearthv1.BatchResult, len(items))}
	groups := make(map[persistence.ProfileKey][]int)
	var order []persistence.ProfileKey
	for i, it := range items {
		r := BatchItemRequest(it)
		if r == nil {
			resp.Results[i] = BatchResultOf(nil, nil, nil)
			continue
		}
		key, err := KeyOf(r)
		if err != nil {
			resp.Results[i] = BatchResultOf(r, nil, err)
			continue
		}
		if _, seen := groups[key]; !seen {
			order = append(order, key)
		}
		groups[key] = append(groups[key], i)
	}
	var wg sync.WaitGroup
	for _, key := range order {
		idx := groups[key]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range idx {
				r := BatchItemRequest(items[i])
				res, err := request(ctx, r)
				resp.Results[i] = BatchResultOf(r, res, err)
			}
		}()
	}
	wg.Wait()
	return resp, nil
}

// CheckBatch refuses a batch as a whole: too many items. Everything else
// about an item is that item's own result.
func CheckBatch(req *hearthv1.BatchRequest) error {
	if n := len(req.GetItems()); n > MaxBatchItems {
		return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE, "a batch carries at most %d items; this one has %d", MaxBatchItems, n)
	}
	return nil
}
