package activation

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/actors/session"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

var stateZero session.State

func TestActivationAsksOwnershipAndServesQueuedRequests(t *testing.T) {
	for _, create := range []bool{true, false} {
		h := newHarness(t, create)
		if a := h.ready.Acquire; a == nil || a.Create != create {
			t.Fatalf("first Ready asks %+v, want an acquire with create=%v", a, create)
		}
		g := h.send(get(""))
		h.unanswered(g) // nothing is served before the profile is owned and loaded
		h.owned(persistence.Acquired{Snapshot: snapshotOf(t, 3, 7, `{"coins":5}`, nil)})
		resp := h.reply(g).(*hearthv1.GetResponse)
		if resp.GetValue() != `{"coins":5}` || resp.GetVersion() != 7 {
			t.Fatalf("Get = %v", resp)
		}
	}
}

func TestReadsOfANeverWrittenProfileCreateNothing(t *testing.T) {
	t.Run("reads only: NOT_FOUND and stop", func(t *testing.T) {
		h := newHarness(t, false)
		g, s := h.send(get("/coins")), h.send(&hearthv1.SaveRequest{Profile: ref()})
		r := h.step(AcquireDone{Err: persistence.ErrNotFound})
		h.mustCode(g, hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND)
		h.mustCode(s, hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND)
		if !r.Stop || r.Acquire != nil || r.Save != nil {
			t.Fatalf("after NOT_FOUND: %+v", r)
		}
	})
	t.Run("a queued write asks again with create", func(t *testing.T) {
		h := newHarness(t, false)
		g := h.send(get(""))
		u := h.send(incr("1", false))
		r := h.step(AcquireDone{Err: persistence.ErrNotFound})
		if r.Acquire == nil || !r.Acquire.Create || r.Stop {
			t.Fatalf("a queued write must be served by creating: %+v", r)
		}
		h.owned(persistence.Acquired{Created: true})
		if v := h.reply(g).(*hearthv1.GetResponse).GetValue(); v != `{}` {
			t.Fatalf("Get of a created profile = %s", v)
		}
		h.mustCode(u, hearthv1.ErrorCode_ERROR_CODE_UNSPECIFIED)
	})
}

func TestWaitingForThePreviousOwner(t *testing.T) {
	held := &persistence.HeldError{Holder: "n2", LeaseExpiresAt: t0.Add(4 * time.Second), Now: t0}
	t.Run("polls at HandoffPoll, or at once when told of the release", func(t *testing.T) {
		h := newHarness(t, true)
		g := h.send(get(""))
		r := h.step(AcquireDone{Err: held})
		if want := t0.Add(h.cfg.Timing.HandoffPoll); !r.WakeAt.Equal(want) || r.Acquire != nil {
			t.Fatalf("held: wake %v acquire %v; want a wake at %v", r.WakeAt, r.Acquire, want)
		}
		h.unanswered(g) // never read while the previous owner may write
		h.now = h.now.Add(10 * time.Millisecond)
		if r := h.step(OwnerReleased{}); r.Acquire == nil {
			t.Fatal("a release notice must ask the store at once")
		}
		h.owned(persistence.Acquired{Epoch: 2})
		h.mustCode(g, hearthv1.ErrorCode_ERROR_CODE_UNSPECIFIED)
	})
	t.Run("a notice that overtakes the acquire in flight asks again at once", func(t *testing.T) {
		h := newHarness(t, true)
		g := h.send(get(""))
		// The acquire is in flight (its read may predate the release)
		// when the notice arrives: nothing to do yet.
		if r := h.step(OwnerReleased{}); r.Acquire != nil {
			t.Fatalf("asked twice at once: %+v", r)
		}
		r := h.step(AcquireDone{Err: held})
		if r.Acquire == nil {
			t.Fatalf("held after a release notice: waits until %v instead of asking again", r.WakeAt)
		}
		// Only once: a second "held" waits for the poll.
		if r := h.step(AcquireDone{Err: held}); r.Acquire != nil || r.WakeAt.IsZero() {
			t.Fatalf("a second held answer must wait: %+v", r)
		}
		h.unanswered(g)
		h.advance(h.cfg.Timing.HandoffPoll)
		h.owned(persistence.Acquired{Epoch: 2})
		h.mustCode(g, hearthv1.ErrorCode_ERROR_CODE_UNSPECIFIED)
	})
	t.Run("gives up after ActivationWait with retry_after", func(t *testing.T) {
		h := newHarness(t, true, func(c *Config, _ *Namespace) { c.Timing.ActivationWait = 2 * time.Second })
		g := h.send(get(""))
		var r Ready
		for i := 0; i < 10 && h.answers[g] == 0; i++ {
			if r = h.step(AcquireDone{Err: held}); h.answers[g] == 0 {
				h.advance(h.cfg.Timing.HandoffPoll)
			}
		}
		if h.now.Sub(t0) > 2*time.Second {
			t.Fatalf("still waiting at +%v", h.now.Sub(t0))
		}
		h.mustCode(g, hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE)
		if e := h.reply(g).(*hearthv1.GetResponse).GetError(); e.GetRetryAfterMs() <= 0 {
			t.Fatalf("no retry_after: %v", e)
		}
		if !r.Stop && !h.ready.Stop {
			t.Fatal("a failed activation must stop")
		}
	})
	t.Run("can be passivated while waiting", func(t *testing.T) {
		h := newHarness(t, true)
		g := h.send(get(""))
		h.step(AcquireDone{Err: held})
		r := h.step(Passivate{Reason: "drain", ReplyTo: 99})
		if _, ok := h.reply(g).(NotServing); !ok {
			t.Fatalf("queued request answered %v, want NotServing (it goes to the next activation)", h.reply(g))
		}
		if !r.Stop || h.reply(99) == nil {
			t.Fatalf("passivation while waiting must stop at once: %+v", r)
		}
	})
	t.Run("passivated with an acquire in flight gives the profile back", func(t *testing.T) {
		h := newHarness(t, true)
		h.step(Passivate{Reason: "drain", ReplyTo: 99})
		h.unanswered(99)
		r := h.owned(persistence.Acquired{Epoch: 5})
		if r.Release == nil || r.Release.Epoch != 5 || r.Stop {
			t.Fatalf("ownership granted after passivation must be released: %+v", r)
		}
		r = h.step(ReleaseDone{})
		if !r.Stop || !r.HandedOff || h.reply(99) == nil {
			t.Fatalf("after the release: %+v", r)
		}
	})
}

func TestDurableAcknowledgedOnlyAfterCommit(t *testing.T) {
	h := newHarness(t, true)
	h.owned(persistence.Acquired{Created: true})
	mem := h.send(incr("1", false))
	if u := h.reply(mem).(*hearthv1.UpdateResponse); u.GetDurable() || u.GetVersion() != 1 {
		t.Fatalf("memory update = %v", u)
	}
	dur := h.send(incr("2", true))
	h.unanswered(dur)
	if len(h.saves) != 1 || h.saves[0].Row.Epoch != 1 {
		t.Fatalf("a durable update must start a save under the epoch: %+v", h.saves)
	}
	if h.saves[0].Row.Retention != DefaultHistory {
		t.Fatalf("a namespace without a history policy saves with %+v, want the default %+v", h.saves[0].Row.Retention, DefaultHistory)
	}
	// A failed save answers UNAVAILABLE (outcome unknown) and retries.
	h.step(SaveDone{No: h.saves[0].No, Err: errTest})
	h.mustCode(dur, hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE)
	dur2 := h.send(incr("3", true))
	h.unanswered(dur2)
	h.advance(h.cfg.Timing.SaveRetry)
	if len(h.saves) != 2 {
		t.Fatalf("save not retried: %d saves", len(h.saves))
	}
	h.saved(persistence.SaveSaved)
	if u := h.reply(dur2).(*hearthv1.UpdateResponse); !u.GetDurable() || u.GetVersion() != 3 {
		t.Fatalf("durable update after commit = %v", u)
	}
}

func TestFencedActivationStopsAndWritesNothing(t *testing.T) {
	h := newHarness(t, true)
	h.owned(persistence.Acquired{Created: true})
	dur := h.send(incr("1", true))
	before := h.cfg.Metrics
	r := h.saved(persistence.SaveFenced)
	h.mustCode(dur, hearthv1.ErrorCode_ERROR_CODE_FENCED)
	if !r.Stop || r.Save != nil || r.Release != nil || r.Delete != nil {
		t.Fatalf("a fenced activation must stop without writing: %+v", r)
	}
	later := h.send(incr("1", false))
	h.mustCode(later, hearthv1.ErrorCode_ERROR_CODE_FENCED)
	if h.ready.Save != nil {
		t.Fatal("a fenced activation saved again")
	}
	if counterValue(t, before.Fenced) != 1 {
		t.Fatal("fenced activation not counted")
	}
}

func TestVersionsNeverRepeatAfterATakeover(t *testing.T) {
	cases := []struct {
		name string
		acq  persistence.Acquired
		want int64
	}{
		{"new profile", persistence.Acquired{Epoch: 1, Created: true}, 0},
		{"clean handoff keeps the counter", persistence.Acquired{Epoch: 9, Snapshot: snapshotOf(t, 4, 283, `{}`, nil)}, 283},
		{"takeover after a crash jumps past every earlier epoch", persistence.Acquired{Epoch: 9, PreviousOwner: "dead", Snapshot: snapshotOf(t, 4, 283, `{}`, nil)}, 8 << 32},
		{"re-created after a delete", persistence.Acquired{Epoch: 4, Created: true}, 3 << 32},
		{"takeover of a profile never saved", persistence.Acquired{Epoch: 2, PreviousOwner: "dead"}, 1 << 32},
		{"released unsaved by earlier owners", persistence.Acquired{Epoch: 3}, 2 << 32},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, true)
			h.owned(c.acq)
			g := h.send(get(""))
			if v := h.reply(g).(*hearthv1.GetResponse).GetVersion(); v != c.want {
				t.Fatalf("version %d, want %d", v, c.want)
			}
			u := h.send(incr("1", false))
			if v := h.reply(u).(*hearthv1.UpdateResponse).GetVersion(); v != c.want+1 {
				t.Fatalf("next version %d, want %d", v, c.want+1)
			}
		})
	}
}

// TestTakeoverGivenBackRecordsItsVersion: an activation told to passivate
// (a drain, a rebalance) while its acquire was in flight gives back the
// ownership it got after all. After a takeover, the previous owner may have
// acknowledged versions past its last save, so the activation saves the
// version it rebased to before it releases: a bare release would tell the
// next owner that the old snapshot holds everything acknowledged, and it
// would issue the lost versions again.
func TestTakeoverGivenBackRecordsItsVersion(t *testing.T) {
	for _, c := range []struct {
		name         string
		acq          persistence.Acquired
		wantSave     bool
		wantVersion  int64
		wantReleased bool
	}{
		{"takeover: save the rebased version, then release", persistence.Acquired{Epoch: 5, PreviousOwner: "dead", Snapshot: snapshotOf(t, 3, 100, `{"coins":1}`, nil)}, true, 4 << 32, true},
		{"takeover of a never-saved profile", persistence.Acquired{Epoch: 2, PreviousOwner: "dead"}, true, 1 << 32, true},
		{"clean handoff: nothing to record", persistence.Acquired{Epoch: 5, Snapshot: snapshotOf(t, 3, 100, `{"coins":1}`, nil)}, false, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, true)
			h.step(Passivate{Reason: "rebalance"})
			r := h.step(AcquireDone{Acquired: c.acq})
			if !c.wantSave {
				if len(h.saves) != 0 || r.Release == nil {
					t.Fatalf("saves %d, release %v: want a bare release", len(h.saves), r.Release)
				}
				return
			}
			if len(h.saves) != 1 || r.Release != nil {
				t.Fatalf("saves %d, release %v: want one save that releases", len(h.saves), r.Release)
			}
			row := h.saves[0].Row
			env, err := decodeEnvelope(row.Document)
			if err != nil {
				t.Fatal(err)
			}
			if !row.Release || row.Epoch != c.acq.Epoch || env.Version != c.wantVersion {
				t.Fatalf("save {release %v epoch %d version %d}, want {true %d %d}", row.Release, row.Epoch, env.Version, c.acq.Epoch, c.wantVersion)
			}
			if h.m.phase == phaseEnded {
				t.Fatal("ended before its final save committed")
			}
			h.saved(persistence.SaveSaved)
			if h.m.phase != phaseEnded {
				t.Fatal("not ended after its final save")
			}
		})
	}
}

func TestExpiredRequestsAreNotApplied(t *testing.T) {
	h := newHarness(t, true)
	h.nextReq++
	late := h.nextReq
	h.step(Request{ReplyTo: late, Msg: incr("5", false), Deadline: t0.Add(time.Second)})
	h.now = h.now.Add(2 * time.Second)
	h.owned(persistence.Acquired{Created: true})
	h.mustCode(late, hearthv1.ErrorCode_ERROR_CODE_UNAVAILABLE)
	g := h.send(get("/coins"))
	h.mustCode(g, hearthv1.ErrorCode_ERROR_CODE_NOT_FOUND) // never applied
}

func TestDeleteAndRestoreRespectTheSession(t *testing.T) {
	setup := func(t *testing.T) *harness {
		h := newHarness(t, true)
		h.owned(persistence.Acquired{Created: true})
		h.send(acquireSession("server-a", hearthv1.AcquireMode_ACQUIRE_MODE_FAIL))
		return h
	}
	t.Run("delete without the token conflicts", func(t *testing.T) {
		h := setup(t)
		d := h.send(&hearthv1.DeleteRequest{Profile: ref()})
		h.mustCode(d, hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT)
		if h.ready.Delete != nil {
			t.Fatal("delete went to the store")
		}
		if e := h.reply(d).(*hearthv1.DeleteResponse).GetError(); e.GetHolderSession() != "server-a" {
			t.Fatalf("holder not named: %v", e)
		}
	})
	t.Run("delete with force tells the holder and stops", func(t *testing.T) {
		h := setup(t)
		d := h.send(&hearthv1.DeleteRequest{Profile: ref(), Force: true})
		if h.ready.Delete == nil || h.ready.Delete.Epoch != 1 {
			t.Fatalf("forced delete not sent: %+v", h.ready)
		}
		behind := h.send(get("")) // waits behind the delete
		h.unanswered(behind)
		r := h.step(DeleteDone{})
		h.mustCode(d, hearthv1.ErrorCode_ERROR_CODE_UNSPECIFIED)
		if _, ok := h.reply(behind).(NotServing); !ok {
			t.Fatalf("request behind a delete answered %v, want NotServing", h.reply(behind))
		}
		if !r.Stop || !hasEvent(r.Events, hearthv1.WatchEventKind_WATCH_EVENT_KIND_DELETED) {
			t.Fatalf("after delete: %+v", r)
		}
	})
	t.Run("restore needs the token or force", func(t *testing.T) {
		h := setup(t)
		rs := h.send(&hearthv1.RestoreRequest{Profile: ref(), Seq: 1})
		h.mustCode(rs, hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT)
		rs = h.send(&hearthv1.RestoreRequest{Profile: ref(), Seq: 1, Force: true})
		if len(h.ready.Reads) != 1 || h.ready.Reads[0].Kind != ReadVersion {
			t.Fatalf("restore must read the version: %+v", h.ready.Reads)
		}
		h.step(ReadDone{No: h.ready.Reads[0].No, Snapshot: *snapshotOf(t, 1, 1, `{"coins":1}`, nil)})
		if !hasEvent(h.events, hearthv1.WatchEventKind_WATCH_EVENT_KIND_RESTORED) {
			t.Fatal("no RESTORED event for the holder")
		}
		h.saved(persistence.SaveSaved)
		h.mustCode(rs, hearthv1.ErrorCode_ERROR_CODE_UNSPECIFIED)
	})
}

func TestAKeyTheFilterMayHoldIsCheckedInOrder(t *testing.T) {
	h := newHarness(t, true)
	var keys keyFilter
	keys.add(updateKeyPrefix + "k1")
	h.owned(persistence.Acquired{Snapshot: snapshotOf(t, 1, 1, `{}`, keys)})
	first := h.send(&hearthv1.UpdateRequest{Profile: ref(), IdempotencyKey: "k1", Operations: incr("1", false).Operations})
	reads := h.ready.Reads
	if len(reads) != 1 || reads[0].RecordKey != updateKeyPrefix+"k1" {
		t.Fatalf("a possibly seen key must be read from the store: %+v", reads)
	}
	second := h.send(incr("10", false)) // must not overtake the first
	h.unanswered(second)
	h.step(ReadDone{No: reads[0].No, Err: persistence.ErrNotFound})
	if v := h.reply(first).(*hearthv1.UpdateResponse).GetVersion(); v != 2 {
		t.Fatalf("first applied at version %d", v)
	}
	if v := h.reply(second).(*hearthv1.UpdateResponse).GetVersion(); v != 3 {
		t.Fatalf("second applied at version %d, want 3 (after the first)", v)
	}
}

func TestTimersAutosaveIdleAndCompaction(t *testing.T) {
	h := newHarness(t, true)
	h.owned(persistence.Acquired{Created: true})
	if !h.ready.WakeAt.Equal(t0.Add(h.cfg.Timing.CompactAfter)) {
		t.Fatalf("a clean, free profile wakes only to compact and for its idle check: %v", h.ready.WakeAt)
	}
	h.send(incr("1", false))
	wake := h.ready.WakeAt
	lo, hi := t0.Add(27*time.Second), t0.Add(33*time.Second)
	if wake.Before(lo) || wake.After(hi) {
		t.Fatalf("autosave at %v, want 30 s ± 10%% after the change", wake.Sub(t0))
	}
	h.advance(wake.Sub(h.now))
	if len(h.saves) != 1 {
		t.Fatal("autosave did not save")
	}
	h.saved(persistence.SaveSaved)
	// Saved and idle: after CompactAfter only the JSON is kept, and reads
	// and writes still work.
	h.advance(h.cfg.Timing.CompactAfter)
	if h.m.doc != nil {
		t.Fatal("an idle, saved profile keeps its decoded document")
	}
	g := h.send(get("/coins"))
	if v := h.reply(g).(*hearthv1.GetResponse).GetValue(); v != "1" {
		t.Fatalf("Get after compaction = %s", v)
	}
	// Idle passivation: final save releases ownership.
	h.advance(h.cfg.Timing.IdleTimeout)
	r := h.ready
	if r.Save != nil || r.Release == nil {
		t.Fatalf("a clean idle profile releases without saving: %+v", r)
	}
	if r := h.step(ReleaseDone{}); !r.Stop || !r.HandedOff {
		t.Fatalf("idle passivation did not end: %+v", r)
	}
}

func TestAStealIsSavedSoItSurvivesAHandoff(t *testing.T) {
	h := newHarness(t, true)
	h.owned(persistence.Acquired{Created: true})
	a := h.send(acquireSession("server-a", hearthv1.AcquireMode_ACQUIRE_MODE_FAIL))
	oldToken := h.reply(a).(*hearthv1.AcquireResponse).GetSessionToken()
	h.send(&hearthv1.SaveRequest{Profile: ref()})
	h.saved(persistence.SaveSaved)
	h.send(acquireSession("server-b", hearthv1.AcquireMode_ACQUIRE_MODE_STEAL))
	// The steal alone must make the profile dirty: a drain saves it.
	h.step(Passivate{Reason: "drain"})
	if h.ready.Save == nil {
		t.Fatal("a steal was not saved by the drain")
	}
	row := h.ready.Save.Row
	h.saved(persistence.SaveSaved)
	// The next owner loads that snapshot: the robbed token stays dead.
	n := newHarness(t, true)
	n.owned(persistence.Acquired{Epoch: 2, Snapshot: &persistence.Snapshot{Seq: row.Seq, Document: row.Document}})
	u := n.send(&hearthv1.UpdateRequest{Profile: ref(), SessionToken: oldToken, Operations: incr("1", false).Operations})
	n.mustCode(u, hearthv1.ErrorCode_ERROR_CODE_STALE_SESSION)
	var env struct {
		Session session.State `json:"session"`
	}
	if err := json.Unmarshal(row.Document, &env); err != nil || env.Session.Holder != "server-b" {
		t.Fatalf("saved session: %+v %v", env.Session, err)
	}
}

func TestWaitModeAcquireAnsweredWhenTheHolderReleases(t *testing.T) {
	h := newHarness(t, true)
	h.owned(persistence.Acquired{Created: true})
	a := h.send(acquireSession("server-a", hearthv1.AcquireMode_ACQUIRE_MODE_FAIL))
	tok := h.reply(a).(*hearthv1.AcquireResponse).GetSessionToken()
	w := h.send(&hearthv1.AcquireRequest{Profile: ref(), SessionId: "server-b", Mode: hearthv1.AcquireMode_ACQUIRE_MODE_WAIT, WaitMs: 5000})
	h.unanswered(w)
	rel := h.send(&hearthv1.ReleaseRequest{Profile: ref(), SessionToken: tok})
	if r := h.reply(w).(*hearthv1.AcquireResponse); r.GetSessionToken() == "" {
		t.Fatalf("waiting acquire not granted on release: %v", r)
	}
	h.saved(persistence.SaveSaved)
	h.mustCode(rel, hearthv1.ErrorCode_ERROR_CODE_UNSPECIFIED)

	// A wait that runs out says so, not "acquire with WAIT".
	w2 := h.send(&hearthv1.AcquireRequest{Profile: ref(), SessionId: "server-c", Mode: hearthv1.AcquireMode_ACQUIRE_MODE_WAIT, WaitMs: 1000})
	h.advance(time.Second)
	h.mustCode(w2, hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT)
	if msg := h.reply(w2).(*hearthv1.AcquireResponse).GetError().GetMessage(); !contains(msg, "wait ran out") {
		t.Fatalf("message %q", msg)
	}
}

func TestBadRequestsGetTypedErrors(t *testing.T) {
	h := newHarness(t, true)
	h.owned(persistence.Acquired{Created: true})
	for _, c := range []struct {
		name string
		req  func() int
		want hearthv1.ErrorCode
	}{
		{"unknown acquire mode", func() int { return h.send(acquireSession("s", 9)) }, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"unknown durability", func() int {
			u := incr("1", false)
			u.Durability = 7
			return h.send(u)
		}, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"no operations", func() int { return h.send(&hearthv1.UpdateRequest{Profile: ref()}) }, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"bad receipt id", func() int {
			return h.send(&hearthv1.PurchaseRequest{Profile: ref(), ReceiptId: "has space", ProductId: "x", Grant: incr("1", false).Operations})
		}, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"stale token", func() int {
			return h.send(&hearthv1.UpdateRequest{Profile: ref(), SessionToken: "made-up", Operations: incr("1", false).Operations})
		}, hearthv1.ErrorCode_ERROR_CODE_STALE_SESSION},
		{"increment of a string", func() int {
			h.send(&hearthv1.UpdateRequest{Profile: ref(), Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/name", Value: `"x"`}}})
			return h.send(&hearthv1.UpdateRequest{Profile: ref(), Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: "/name", Value: "1"}}})
		}, hearthv1.ErrorCode_ERROR_CODE_TYPE_MISMATCH},
		{"expected version", func() int {
			u := incr("1", false)
			u.ExpectedVersion = 999
			return h.send(u)
		}, hearthv1.ErrorCode_ERROR_CODE_VERSION_CONFLICT},
		{"too many user ids", func() int {
			ids := make([]string, persistence.MaxUserIDs+1)
			for i := range ids {
				ids[i] = fmt.Sprint("roblox:", i)
			}
			return h.send(&hearthv1.UpdateRequest{Profile: ref(), AddUserIds: ids})
		}, hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := c.req()
			h.mustCode(n, c.want)
			// The code is its own field: a message never repeats a
			// prefix ("invalid argument: invalid argument: ...").
			msg := h.reply(n).(interface{ GetError() *hearthv1.Error }).GetError().GetMessage()
			parts := strings.Split(msg, ": ")
			for i := 1; i < len(parts); i++ {
				if parts[i] == parts[i-1] {
					t.Fatalf("message repeats %q: %q", parts[i], msg)
				}
			}
			if strings.HasPrefix(strings.ToLower(msg), strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(c.want.String(), "ERROR_CODE_"), "_", " "))+":") {
				t.Fatalf("message starts with its code: %q", msg)
			}
		})
	}
	// Messages name what the caller wrote, not internal prefixes.
	n := h.send(&hearthv1.PurchaseRequest{Profile: ref(), ReceiptId: "has space", ProductId: "x", Grant: incr("1", false).Operations})
	if msg := h.reply(n).(*hearthv1.PurchaseResponse).GetError().GetMessage(); !contains(msg, "receipt_id") || contains(msg, "p:") {
		t.Fatalf("receipt error message %q", msg)
	}
	n = h.send(&hearthv1.UpdateRequest{Profile: ref(), SessionToken: "made-up", Operations: incr("1", false).Operations})
	if msg := h.reply(n).(*hearthv1.UpdateResponse).GetError().GetMessage(); contains(msg, "stolen") {
		t.Fatalf("a made-up token reported as %q", msg)
	}
}

func TestUserIDsTravelWithTheSaveAndTheSnapshot(t *testing.T) {
	h := newHarness(t, true)
	h.owned(persistence.Acquired{Created: true})
	add := func(add, remove []string) int {
		return h.send(&hearthv1.UpdateRequest{Profile: ref(), AddUserIds: add, RemoveUserIds: remove, Durability: hearthv1.Durability_DURABILITY_DURABLE})
	}
	n := add([]string{"roblox:42", "roblox:43"}, nil)
	if row := h.ready.Save.Row; !slices.Equal(row.UserIDs, []string{"roblox:42", "roblox:43"}) {
		t.Fatalf("the save carries user ids %v", row.UserIDs)
	}
	h.saved(persistence.SaveSaved)
	h.mustCode(n, hearthv1.ErrorCode_ERROR_CODE_UNSPECIFIED)
	// An unrelated save carries no user ids (nil: unchanged).
	h.send(incr("1", true))
	if ids := h.ready.Save.Row.UserIDs; ids != nil {
		t.Fatalf("an unchanged set was sent again: %v", ids)
	}
	row := h.ready.Save.Row
	h.saved(persistence.SaveSaved)
	// Removing the last ones sends the empty set.
	add(nil, []string{"roblox:42", "roblox:43"})
	if ids := h.ready.Save.Row.UserIDs; ids == nil || len(ids) != 0 {
		t.Fatalf("clearing sends %#v, want an empty non-nil set", ids)
	}
	// The next owner knows them from the snapshot.
	n2 := newHarness(t, true)
	n2.owned(persistence.Acquired{Epoch: 2, Snapshot: &persistence.Snapshot{Seq: row.Seq, Document: row.Document}})
	st := n2.send(&hearthv1.StatusRequest{Profile: ref()})
	if ids := n2.reply(st).(*hearthv1.StatusResponse).GetUserIds(); !slices.Equal(ids, []string{"roblox:42", "roblox:43"}) {
		t.Fatalf("loaded user ids %v", ids)
	}
	// Limits.
	var ten, more []string
	for i := range 10 {
		ten, more = append(ten, fmt.Sprint("u", i)), append(more, fmt.Sprint("v", i))
	}
	h.send(&hearthv1.UpdateRequest{Profile: ref(), AddUserIds: ten})
	h.mustCode(add(more, nil), hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE)
	h.mustCode(add(append(ten, more...), nil), hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
	h.mustCode(add([]string{"has space\n"}, nil), hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
}
