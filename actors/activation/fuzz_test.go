package activation

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// FuzzMachine drives an activation with arbitrary interleavings of requests,
// store answers, time and passivation, and checks the promises it makes:
// every request is answered exactly once; a durable update is acknowledged
// only after a save that started after it and covers its version committed;
// acknowledged versions never repeat; every save carries the acquired
// epoch and a growing seq, one at a time; after a fence or a stop nothing
// is written.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{10, 0, 1, 2, 7, 0, 2, 8, 7, 1, 9, 7, 0})
	f.Add([]byte{10, 4, 4, 3, 3, 2, 7, 1, 12, 11, 0})
	f.Add([]byte{10, 2, 2, 7, 3, 7, 0, 8, 200, 8, 255, 11, 7, 0})
	f.Add([]byte{10, 1, 10, 2, 9, 10, 1, 11, 0, 0})
	f.Fuzz(func(t *testing.T, script []byte) {
		fz := newMachineFuzzer(t)
		for i := 0; i < len(script); i++ {
			arg := byte(0)
			if i+1 < len(script) {
				arg = script[i+1]
			}
			if fz.do(script[i]%14, arg) {
				i++
			}
		}
		fz.finish()
	})
}

type machineFuzzer struct {
	*harness
	step        int
	acquired    int64 // epoch granted, 0 before
	acquireOpen bool
	inflight    *SaveCall
	inflightAt  int
	committed   []committedSave
	lastSeq     int64
	fenced      bool
	stopped     bool
	sentAt      map[int]int // request number -> step sent
	durable     map[int]bool
	seenVersion map[int64]int // acknowledged version -> request
	token       string
	pendingRead *ReadCall
	pendingRel  bool
	pendingDel  bool
}

type committedSave struct {
	startedAt int
	version   int64
}

func newMachineFuzzer(t *testing.T) *machineFuzzer {
	fz := &machineFuzzer{harness: newHarness(t, true), sentAt: map[int]int{}, durable: map[int]bool{}, seenVersion: map[int64]int{}}
	fz.acquireOpen = true
	return fz
}

// do runs one operation; it reports whether it used arg.
func (fz *machineFuzzer) do(op, arg byte) bool {
	fz.step++
	switch op {
	case 0:
		fz.request(get("/coins"), false)
	case 1:
		fz.request(incr("1", false), false)
	case 2:
		fz.request(incr("1", true), true)
	case 3:
		u := incr("1", arg%2 == 0)
		u.IdempotencyKey = []string{"a", "b", "c"}[int(arg)%3]
		fz.request(u, u.GetDurability() == hearthv1.Durability_DURABILITY_DURABLE)
		return true
	case 4:
		mode := hearthv1.AcquireMode_ACQUIRE_MODE_FAIL
		if arg%2 == 1 {
			mode = hearthv1.AcquireMode_ACQUIRE_MODE_STEAL
		}
		fz.request(acquireSession([]string{"s1", "s2"}[int(arg/2)%2], mode), false)
		return true
	case 5:
		fz.request(&hearthv1.ReleaseRequest{Profile: ref(), SessionToken: fz.token}, false)
	case 6:
		fz.request(&hearthv1.SaveRequest{Profile: ref()}, false)
	case 7:
		fz.answerSave(arg)
		return true
	case 8:
		fz.now = fz.now.Add(time.Duration(arg) * time.Second)
		fz.step2(Tick{})
		return true
	case 9:
		fz.step2(Passivate{Reason: "drain"})
	case 10:
		fz.answerAcquire(arg)
		return true
	case 11:
		fz.answerStore(arg)
		return true
	case 12:
		fz.request(&hearthv1.DeleteRequest{Profile: ref(), Force: true}, false)
	case 13:
		fz.step2(OwnerReleased{})
	}
	return false
}

func (fz *machineFuzzer) request(msg proto.Message, durable bool) {
	fz.nextReq++
	n := fz.nextReq
	fz.sentAt[n] = fz.step
	fz.durable[n] = durable
	fz.step2(Request{ReplyTo: n, Msg: msg})
}

// step2 steps the machine and checks what it asked for.
func (fz *machineFuzzer) step2(ev Event) {
	t := fz.t
	r := fz.harness.step(ev)
	if fz.stopped && (r.Save != nil || r.Acquire != nil || r.Delete != nil) {
		t.Fatalf("step %d: a stopped activation asked for store writes: %+v", fz.step, r)
	}
	if fz.fenced && (r.Save != nil || r.Release != nil || r.Delete != nil) {
		t.Fatalf("step %d: a fenced activation asked for store writes: %+v", fz.step, r)
	}
	if r.Acquire != nil {
		if fz.acquireOpen {
			t.Fatalf("step %d: a second acquire while one is open", fz.step)
		}
		fz.acquireOpen = true
	}
	if s := r.Save; s != nil {
		if fz.inflight != nil {
			t.Fatalf("step %d: a second save while one is in flight", fz.step)
		}
		if s.Row.Epoch != fz.acquired || fz.acquired == 0 {
			t.Fatalf("step %d: save under epoch %d, acquired %d", fz.step, s.Row.Epoch, fz.acquired)
		}
		if s.Row.Seq <= fz.lastSeq {
			t.Fatalf("step %d: save seq %d after %d", fz.step, s.Row.Seq, fz.lastSeq)
		}
		fz.inflight, fz.inflightAt = s, fz.step
	}
	if len(r.Reads) > 0 {
		rd := r.Reads[len(r.Reads)-1]
		fz.pendingRead = &rd
	}
	if r.Release != nil {
		fz.pendingRel = true
	}
	if r.Delete != nil {
		fz.pendingDel = true
	}
	if r.Stop {
		fz.stopped = true
	}
	for _, rp := range r.Replies {
		fz.checkReply(rp.To.(int), rp.Msg)
	}
}

func (fz *machineFuzzer) checkReply(n int, msg any) {
	t := fz.t
	switch m := msg.(type) {
	case *hearthv1.AcquireResponse:
		if m.GetSessionToken() != "" {
			fz.token = m.GetSessionToken()
		}
	case *hearthv1.UpdateResponse:
		if m.GetError() != nil {
			return
		}
		if !m.GetDuplicate() {
			if prev, ok := fz.seenVersion[m.GetVersion()]; ok && prev != n {
				t.Fatalf("step %d: version %d acknowledged for requests %d and %d", fz.step, m.GetVersion(), prev, n)
			}
			fz.seenVersion[m.GetVersion()] = n
		}
		if fz.durable[n] {
			if !m.GetDurable() {
				t.Fatalf("step %d: durable request %d answered not durable", fz.step, n)
			}
			ok := false
			for _, c := range fz.committed {
				if c.startedAt >= fz.sentAt[n] && c.version >= m.GetVersion() || m.GetDuplicate() && c.version >= m.GetVersion() {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("step %d: durable request %d (version %d) acknowledged before a covering save committed; committed %+v",
					fz.step, n, m.GetVersion(), fz.committed)
			}
		}
	}
}

func (fz *machineFuzzer) answerSave(arg byte) {
	s := fz.inflight
	if s == nil {
		return
	}
	fz.inflight = nil
	outcome := []persistence.SaveOutcome{persistence.SaveSaved, persistence.SaveSaved, persistence.SaveSaved, persistence.SaveFenced, persistence.SaveSuperseded, 0}[int(arg)%6]
	if outcome == 0 {
		fz.step2(SaveDone{No: s.No, Err: errTest})
		return
	}
	if outcome == persistence.SaveSaved {
		_, v, err := DecodeStored(s.Row.Document)
		if err != nil {
			fz.t.Fatal(err)
		}
		fz.committed = append(fz.committed, committedSave{startedAt: fz.inflightAt, version: v})
		fz.lastSeq = s.Row.Seq
	}
	if outcome == persistence.SaveFenced {
		fz.fenced = true
	}
	fz.step2(SaveDone{No: s.No, Result: persistence.SaveResult{Outcome: outcome, Epoch: s.Row.Epoch, Seq: s.Row.Seq}})
}

func (fz *machineFuzzer) answerAcquire(arg byte) {
	if !fz.acquireOpen {
		return
	}
	fz.acquireOpen = false
	switch arg % 4 {
	case 0, 1:
		fz.acquired = int64(arg%3) + 1
		fz.step2(AcquireDone{Acquired: persistence.Acquired{Epoch: fz.acquired, Created: true}})
	case 2:
		fz.step2(AcquireDone{Err: &persistence.HeldError{Holder: "n2", LeaseExpiresAt: fz.now.Add(time.Second), Now: fz.now}})
	default:
		fz.step2(AcquireDone{Err: errTest})
	}
}

func (fz *machineFuzzer) answerStore(arg byte) {
	switch {
	case fz.pendingRead != nil:
		rd := fz.pendingRead
		fz.pendingRead = nil
		fz.step2(ReadDone{No: rd.No, Err: persistence.ErrNotFound})
	case fz.pendingRel:
		fz.pendingRel = false
		if arg%2 == 0 {
			fz.step2(ReleaseDone{})
		} else {
			fz.step2(ReleaseDone{Err: errTest})
		}
	case fz.pendingDel:
		fz.pendingDel = false
		fz.stopped = false // a delete answered: the machine decides
		fz.step2(DeleteDone{})
	}
}

// finish drives the activation to its end and checks every request was
// answered.
func (fz *machineFuzzer) finish() {
	t := fz.t
	for i := 0; i < 200 && !fz.m.Ended(); i++ {
		switch {
		case fz.acquireOpen:
			fz.answerAcquire(0)
		case fz.inflight != nil:
			fz.answerSave(0)
		case fz.pendingRead != nil || fz.pendingRel || fz.pendingDel:
			fz.answerStore(0)
		default:
			fz.step2(Passivate{Reason: "finish"})
			fz.now = fz.now.Add(time.Minute)
			fz.step2(Tick{})
		}
	}
	if !fz.m.Ended() {
		t.Fatal("the activation never ended")
	}
	for n := 1; n <= fz.nextReq; n++ {
		if fz.answers[n] != 1 {
			t.Fatalf("request %d answered %d times", n, fz.answers[n])
		}
	}
}
