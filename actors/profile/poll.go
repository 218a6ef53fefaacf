package profile

import (
	"context"
	"time"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// MaxPollCursors caps the profiles one PollEvents follows.
const MaxPollCursors = 1000

// PollEvents answers a long poll from this node's event logs: the events
// of each profile after its cursor, waiting up to the request's wait (capped
// by MaxPollWait) when no profile has any. It never activates a profile.
func (h *Host) PollEvents(ctx context.Context, req *hearthv1.PollEventsRequest) (*hearthv1.PollEventsResponse, error) {
	keys, err := PollKeys(req)
	if err != nil {
		return nil, err
	}
	wait := h.PollWait(req.GetWaitMs())
	if d, ok := ctx.Deadline(); ok {
		// Answer a little before the caller's deadline, not after it.
		wait = min(wait, time.Until(d)-50*time.Millisecond)
	}
	out := h.events.poll(ctx, keys, req.GetCursors(), max(wait, 0))
	if _, err := h.gate(nil, nil); err != nil {
		return nil, err
	}
	return &hearthv1.PollEventsResponse{Profiles: out}, nil
}

// PollsWaiting is how many long polls are waiting for an event now.
func (h *Host) PollsWaiting() int { return int(h.events.waiting.Load()) }

// PollWait is how long a poll asking for waitMs may wait.
func (h *Host) PollWait(waitMs uint32) time.Duration {
	wait := time.Duration(waitMs) * time.Millisecond
	if wait <= 0 || wait > h.cfg.MaxPollWait {
		wait = h.cfg.MaxPollWait
	}
	return wait
}

// PollKeys validates a poll's cursors and returns their profiles.
func PollKeys(req *hearthv1.PollEventsRequest) ([]persistence.ProfileKey, error) {
	cs := req.GetCursors()
	if len(cs) > MaxPollCursors {
		return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE, "a poll follows at most %d profiles; this one names %d", MaxPollCursors, len(cs))
	}
	keys := make([]persistence.ProfileKey, len(cs))
	seen := make(map[persistence.ProfileKey]bool, len(cs))
	for i, c := range cs {
		key, err := keyOfRef(c.GetProfile())
		if err != nil {
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "cursors[%d]: %s", i, err.(*messages.CodeError).Message)
		}
		if seen[key] {
			return nil, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "cursors[%d]: profile %s is named twice", i, key)
		}
		seen[key] = true
		keys[i] = key
	}
	return keys, nil
}
