package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hearth-profiles/hearth/actors/profile"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// Batch and PollEvents name many profiles. The router groups them by owning
// node and sends each owner one message (one forward per owner, not per
// profile), all owners at once, and puts the answers back in the order of
// the request.

// ownerGroup is the part of a request one node serves.
type ownerGroup struct {
	owner Member
	local bool
	idx   []int // positions in the request
}

// groupByOwner assigns each position's profile to its owner; positions
// whose key is invalid or which no member serves are left to unrouted.
func (r *Router) groupByOwner(keys []persistence.ProfileKey, ok []bool) (groups []*ownerGroup, unrouted []int) {
	byAddr := map[string]*ownerGroup{}
	for i, k := range keys {
		if !ok[i] {
			continue
		}
		owner, local := r.owner(k)
		addr := owner.Address
		if local {
			addr = ""
		} else if addr == "" {
			unrouted = append(unrouted, i)
			continue
		}
		g := byAddr[addr]
		if g == nil {
			g = &ownerGroup{owner: owner, local: local}
			byAddr[addr] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
	}
	return groups, unrouted
}

func noMember(what string) error {
	return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "no cluster member is known to serve %s", what)
}

// Batch runs a batch's items on their owners: the items of each owner go
// in one message; items are independent, each with its own result.
func (r *Router) Batch(ctx context.Context, req *hearthv1.BatchRequest) (*hearthv1.BatchResponse, error) {
	if err := profile.CheckBatch(req); err != nil {
		return nil, err
	}
	items := req.GetItems()
	resp := &hearthv1.BatchResponse{Results: make([]*hearthv1.BatchResult, len(items))}
	keys := make([]persistence.ProfileKey, len(items))
	ok := make([]bool, len(items))
	for i, it := range items {
		msg := profile.BatchItemRequest(it)
		if msg == nil {
			resp.Results[i] = profile.BatchResultOf(nil, nil, nil)
			continue
		}
		k, err := profile.KeyOf(msg)
		if err != nil {
			resp.Results[i] = profile.BatchResultOf(msg, nil, err)
			continue
		}
		keys[i], ok[i] = k, true
	}
	r.runBatch(ctx, items, keys, ok, resp.Results)
	if err := r.leaseGate(); err != nil { // answers relayed from other nodes too
		return nil, err
	}
	return resp, nil
}

// runBatch fills results for the routable positions, retrying groups whose
// owner could not be reached at all (never delivered, so safe to resend,
// after a new look at the members).
func (r *Router) runBatch(ctx context.Context, items []*hearthv1.BatchItem, keys []persistence.ProfileKey, ok []bool, results []*hearthv1.BatchResult) {
	backoff := 20 * time.Millisecond
	for {
		groups, unrouted := r.groupByOwner(keys, ok)
		for _, i := range unrouted {
			results[i] = profile.BatchResultOf(profile.BatchItemRequest(items[i]), nil, noMember(keys[i].String()))
		}
		retry := make([]bool, len(items))
		var again bool
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, g := range groups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sub := &hearthv1.BatchRequest{Items: make([]*hearthv1.BatchItem, len(g.idx))}
				for j, i := range g.idx {
					sub.Items[j] = items[i]
				}
				out, err := r.batchOn(ctx, g, sub)
				if errors.Is(err, actor.ErrDeadLetter) && ctx.Err() == nil {
					mu.Lock()
					for _, i := range g.idx {
						retry[i] = true
					}
					again = true
					mu.Unlock()
					return
				}
				for j, i := range g.idx {
					switch {
					case err != nil:
						results[i] = profile.BatchResultOf(profile.BatchItemRequest(items[i]), nil, err)
					case j < len(out.GetResults()):
						results[i] = out.GetResults()[j]
					default:
						results[i] = profile.BatchResultOf(profile.BatchItemRequest(items[i]), nil,
							messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node %s answered a batch short", g.owner.NodeID))
					}
				}
			}()
		}
		wg.Wait()
		if !again {
			return
		}
		if err := sleepCtx(ctx, r.cfg.Clock, jitter(backoff)); err != nil {
			for i, again := range retry {
				if again {
					results[i] = profile.BatchResultOf(profile.BatchItemRequest(items[i]), nil,
						messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "no node could serve %s: %v", keys[i], err))
				}
			}
			return
		}
		backoff = min(2*backoff, time.Second)
		ok = retry
	}
}

// batchOn runs a group's items on its owner.
func (r *Router) batchOn(ctx context.Context, g *ownerGroup, sub *hearthv1.BatchRequest) (*hearthv1.BatchResponse, error) {
	if g.local {
		return r.host.Batch(ctx, sub)
	}
	res, err := r.forward(ctx, g.owner, sub)
	if err != nil {
		return nil, forwardError(err, g.owner, "a batch")
	}
	out, ok := res.(*hearthv1.BatchResponse)
	if !ok {
		return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node %s answered a batch with %T", g.owner.NodeID, res)
	}
	return out, messages.Err(out.GetError())
}

// forwardError turns a failed forward into the caller's typed error;
// ErrDeadLetter (never delivered) passes through so callers may resend.
func forwardError(err error, owner Member, what string) error {
	switch {
	case errors.Is(err, actor.ErrDeadLetter):
		return err
	case errors.Is(err, errMemberLeft):
		return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE,
			"node %s left the cluster while serving %s; the outcome is unknown: retry (with the same idempotency keys)", owner.NodeID, what)
	default:
		var ce *messages.CodeError
		if errors.As(err, &ce) {
			return ce
		}
		return messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node %s did not answer %s in time: %v", owner.NodeID, what, err)
	}
}

// PollEvents long-polls on every owner at once. The first owner with news
// ends the poll: the others are asked again without waiting, so the answer
// is complete and current.
func (r *Router) PollEvents(ctx context.Context, req *hearthv1.PollEventsRequest) (*hearthv1.PollEventsResponse, error) {
	keys, err := profile.PollKeys(req)
	if err != nil {
		return nil, err
	}
	cursors := req.GetCursors()
	resp := &hearthv1.PollEventsResponse{Profiles: make([]*hearthv1.ProfileEvents, len(cursors))}
	ok := make([]bool, len(keys))
	for i := range ok {
		ok[i] = true
	}
	groups, unrouted := r.groupByOwner(keys, ok)
	for _, i := range unrouted {
		resp.Profiles[i] = &hearthv1.ProfileEvents{Profile: cursors[i].GetProfile(), Cursor: cursors[i].GetCursor(),
			Error: messages.ToProto(noMember(keys[i].String()))}
	}
	waitCtx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	type answer struct {
		g   *ownerGroup
		out *hearthv1.PollEventsResponse
		err error
	}
	answers := make(chan answer, len(groups))
	poll := func(ctx context.Context, g *ownerGroup, waitMs uint32) {
		sub := &hearthv1.PollEventsRequest{WaitMs: waitMs, Cursors: make([]*hearthv1.EventCursor, len(g.idx))}
		for j, i := range g.idx {
			sub.Cursors[j] = cursors[i]
		}
		out, err := r.pollOn(ctx, g, sub)
		answers <- answer{g, out, err}
	}
	for _, g := range groups {
		go poll(waitCtx, g, req.GetWaitMs())
	}
	for left, stopped := len(groups), false; left > 0; left-- {
		a := <-answers
		if a.err != nil && stopped && waitCtx.Err() != nil && ctx.Err() == nil {
			// We stopped its wait: ask again without waiting.
			left++
			go poll(ctx, a.g, 1)
			continue
		}
		for j, i := range a.g.idx {
			pe := &hearthv1.ProfileEvents{Profile: cursors[i].GetProfile(), Cursor: cursors[i].GetCursor()}
			switch {
			case a.err != nil:
				pe.Error = messages.ToProto(forwardError(a.err, a.g.owner, "a poll"))
			case j < len(a.out.GetProfiles()):
				pe = a.out.GetProfiles()[j]
			}
			resp.Profiles[i] = pe
		}
		if !stopped && hasNews(a.out, a.err) {
			stopped = true
			stopWaiting()
		}
	}
	if err := r.leaseGate(); err != nil {
		return nil, err
	}
	return resp, nil
}

// pollOn polls a group's profiles on their owner.
func (r *Router) pollOn(ctx context.Context, g *ownerGroup, sub *hearthv1.PollEventsRequest) (*hearthv1.PollEventsResponse, error) {
	if g.local {
		return r.host.PollEvents(ctx, sub)
	}
	res, err := r.forward(ctx, g.owner, sub)
	if err != nil {
		return nil, err
	}
	out, ok := res.(*hearthv1.PollEventsResponse)
	if !ok {
		return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE, "node %s answered a poll with %T", g.owner.NodeID, res)
	}
	return out, messages.Err(out.GetError())
}

// hasNews reports whether a poll answer should end the whole poll.
func hasNews(out *hearthv1.PollEventsResponse, err error) bool {
	if err != nil {
		return true
	}
	for _, p := range out.GetProfiles() {
		if len(p.GetEvents()) > 0 || p.GetResync() || p.GetError() != nil {
			return true
		}
	}
	return false
}

// NotifyReleased tells the node that owns key by this node's view that the
// profile was just released, so an activation waiting there takes it now.
// Best effort: if the notice is lost, the waiting activation's poll finds
// the release a little later.
func (r *Router) NotifyReleased(key persistence.ProfileKey) {
	owner, local := r.owner(key)
	switch {
	case local:
		r.host.NotifyReleased(key)
	case owner.Address != "":
		r.cfg.System.Root.Send(actor.NewPID(owner.Address, routerName),
			&hearthv1.ProfileReleased{Profile: &hearthv1.ProfileRef{Namespace: key.Namespace, Id: key.ID}})
	}
}
