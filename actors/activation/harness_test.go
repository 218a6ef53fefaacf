package activation

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// t0 is the harness's start time.
var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// harness drives one Machine with events and records what it asks for.
// ReplyTo handles are ints, so tests name requests by number.
type harness struct {
	t       *testing.T
	m       *Machine
	now     time.Time
	cfg     *Config
	replies map[int]any // answers by request number
	answers map[int]int // how often each request was answered
	ready   Ready       // the last Ready
	saves   []SaveCall  // every save asked for
	events  []*hearthv1.WatchEvent
	nextReq int
	tokens  int
}

func newHarness(t *testing.T, create bool, mutate ...func(*Config, *Namespace)) *harness {
	t.Helper()
	h := &harness{t: t, now: t0, replies: map[int]any{}, answers: map[int]int{}}
	cfg := Config{NodeID: "n1", NewToken: func() string { h.tokens++; return fmt.Sprintf("tok-%d", h.tokens) }}
	ns := &Namespace{}
	for _, f := range mutate {
		f(&cfg, ns)
	}
	c, err := cfg.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = &c
	h.m = New(h.cfg, persistence.ProfileKey{Namespace: "game", ID: "p1"}, ns, h.now, create)
	h.collect()
	return h
}

func (h *harness) collect() Ready {
	r := h.m.Ready()
	for _, rp := range r.Replies {
		n, ok := rp.To.(int)
		if !ok {
			h.t.Fatalf("reply to %T", rp.To)
		}
		h.answers[n]++
		if h.answers[n] > 1 {
			h.t.Fatalf("request %d answered twice: %v", n, rp.Msg)
		}
		h.replies[n] = rp.Msg
	}
	if r.Save != nil {
		h.saves = append(h.saves, *r.Save)
	}
	h.events = append(h.events, r.Events...)
	// Tests keep the last Ready: detach it from the pooled buffers.
	r.Replies = append([]Reply(nil), r.Replies...)
	r.Events = append([]*hearthv1.WatchEvent(nil), r.Events...)
	r.Reads = append([]ReadCall(nil), r.Reads...)
	h.ready = r
	return r
}

func (h *harness) step(ev Event) Ready {
	h.m.Step(h.now, ev)
	return h.collect()
}

// send queues a request and returns its number.
func (h *harness) send(msg proto.Message) int {
	h.nextReq++
	h.step(Request{ReplyTo: h.nextReq, Msg: msg})
	return h.nextReq
}

// owned answers the pending acquire with ownership at epoch.
func (h *harness) owned(acq persistence.Acquired) Ready {
	h.t.Helper()
	if acq.Epoch == 0 {
		acq.Epoch = 1
	}
	return h.step(AcquireDone{Acquired: acq})
}

// advance moves time and ticks if the machine asked to be woken by then.
func (h *harness) advance(d time.Duration) Ready {
	h.now = h.now.Add(d)
	if w := h.ready.WakeAt; !w.IsZero() && !h.now.Before(w) {
		return h.step(Tick{})
	}
	return h.ready
}

// saved answers the pending save.
func (h *harness) saved(outcome persistence.SaveOutcome) Ready {
	h.t.Helper()
	if len(h.saves) == 0 {
		h.t.Fatal("no save to answer")
	}
	s := h.saves[len(h.saves)-1]
	return h.step(SaveDone{No: s.No, Result: persistence.SaveResult{Key: s.Row.Key, Outcome: outcome, Epoch: s.Row.Epoch, Seq: s.Row.Seq}})
}

// reply is request n's answer, which must exist.
func (h *harness) reply(n int) any {
	h.t.Helper()
	r, ok := h.replies[n]
	if !ok {
		h.t.Fatalf("request %d not answered", n)
	}
	return r
}

func (h *harness) unanswered(n int) {
	h.t.Helper()
	if r, ok := h.replies[n]; ok {
		h.t.Fatalf("request %d answered early: %v", n, r)
	}
}

// code is the error code of request n's answer (UNSPECIFIED for success).
func (h *harness) code(n int) hearthv1.ErrorCode {
	h.t.Helper()
	r, ok := h.reply(n).(interface{ GetError() *hearthv1.Error })
	if !ok {
		h.t.Fatalf("request %d answered %T", n, h.reply(n))
	}
	return r.GetError().GetCode()
}

func (h *harness) mustCode(n int, want hearthv1.ErrorCode) {
	h.t.Helper()
	if got := h.code(n); got != want {
		h.t.Fatalf("request %d: code %v, want %v (%v)", n, got, want, h.reply(n))
	}
}

func ref() *hearthv1.ProfileRef { return &hearthv1.ProfileRef{Namespace: "game", Id: "p1"} }

func incr(by string, durable bool) *hearthv1.UpdateRequest {
	d := hearthv1.Durability_DURABILITY_MEMORY
	if durable {
		d = hearthv1.Durability_DURABILITY_DURABLE
	}
	return &hearthv1.UpdateRequest{Profile: ref(), Durability: d, Operations: []*hearthv1.Operation{
		{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: "/coins", Value: by},
	}}
}

func get(path string) *hearthv1.GetRequest { return &hearthv1.GetRequest{Profile: ref(), Path: path} }

func acquireSession(session string, mode hearthv1.AcquireMode) *hearthv1.AcquireRequest {
	return &hearthv1.AcquireRequest{Profile: ref(), SessionId: session, Mode: mode}
}

// snapshotOf builds a stored snapshot holding doc at version, with sess.
func snapshotOf(t *testing.T, seq, version int64, doc string, keys keyFilter) *persistence.Snapshot {
	t.Helper()
	env, err := encodeEnvelope(version, stateZero, keys, nil, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return &persistence.Snapshot{Seq: seq, Epoch: 1, Document: env, SavedAt: t0}
}

var errTest = errors.New("store is down (test)")

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

func hasEvent(evs []*hearthv1.WatchEvent, kind hearthv1.WatchEventKind) bool {
	for _, e := range evs {
		if e.GetKind() == kind {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
