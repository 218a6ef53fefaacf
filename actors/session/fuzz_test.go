package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

// FuzzSession drives a random sequence of events through the machine and
// checks it against a small reference model after every event, plus the
// invariants the actor relies on:
//
//   - at most one token validates at any time, and only the holder's;
//   - a token once replaced (stolen, released, lapsed, re-granted) never
//     validates again;
//   - Gen never decreases;
//   - Reused never changes the token;
//   - Check never succeeds once now reaches the expiry set by the last
//     grant, renewal or rebase;
//   - an error never changes the state.
//
// The fuzz input is a byte program: each event is an opcode byte followed by
// its argument bytes (missing bytes read as 0), see fuzzer.step.
func FuzzSession(f *testing.F) {
	f.Add([]byte{})
	f.Add(seed(
		acqOp(0, ModeFail, 30, newFresh), checkOp(tokCurrent, 30), advOp(80),
		acqOp(1, ModeSteal, 30, newFresh), checkOp(oldTok(0), 30), releaseOp(oldTok(0)),
		releaseOp(tokCurrent), checkOp(oldTok(1), 30), handoffOp(30),
	))
	f.Add(seed(
		acqOp(0, ModeWait, 10, newFresh), acqOp(1, ModeWait, 10, newFresh), advOp(80),
		acqOp(1, ModeWait, 10, newFresh), lapseOp(), advOp(200), lapseOp(),
		acqOp(0, ModeFail, 5, newCurrent), acqOp(0, ModeFail, 5, newFresh), handoffOp(0),
	))
	f.Add(seed(
		acqOp(2, ModeFail, 1, newFresh), advOp(8), checkOp(tokCurrent, 1), advOp(8),
		checkOp(tokCurrent, 1), acqOp(2, ModeSteal, 1, newFresh), handoffOp(1),
		advOp(255), advOp(255), checkOp(tokCurrent, 1), acqOp(0, 0, 0, newEmpty),
	))
	f.Fuzz(func(t *testing.T, data []byte) {
		fz := &fuzzer{t: t, now: t0, retired: map[string]bool{}}
		r := &byteReader{b: data}
		// Bounded so one input cannot run for long: the invariant check
		// probes every token issued so far.
		for i := 0; i < 256 && len(r.b) > 0; i++ {
			fz.step(r)
			fz.invariants()
		}
	})
}

// Opcodes of the fuzz program.
const (
	opAcquire = iota
	opCheck
	opRelease
	opAdvance
	opLapse
	opHandoff
	numOps
)

// Token choices for an argument byte b (see fuzzer.pickToken), by b%8: an
// empty token, a token never issued, the current token, or (3..7) the issued
// token number b/8 (mod count). oldTok(i) encodes the last.
const (
	tokEmpty = iota
	tokForged
	tokCurrent
)

func oldTok(i int) byte { return byte(3 + 8*i) }

// NewToken choices for Acquire's token byte: empty, the current token
// handed back (a caller bug the machine must refuse), or a fresh one.
const (
	newEmpty = iota
	newCurrent
	newFresh
)

var sessions = [...]string{"A", "B", "C"}

// Seed encoders, so that the seed corpus reads as events.
func seed(ops ...[]byte) []byte {
	var b []byte
	for _, op := range ops {
		b = append(b, op...)
	}
	return b
}
func acqOp(sess int, m Mode, ttlSec, tok byte) []byte {
	return []byte{opAcquire, byte(sess + 3*int(m)), ttlSec, tok}
}
func checkOp(tok, ttlSec byte) []byte { return []byte{opCheck, tok, ttlSec} }
func releaseOp(tok byte) []byte       { return []byte{opRelease, tok} }
func advOp(eighths byte) []byte       { return []byte{opAdvance, eighths} }
func lapseOp() []byte                 { return []byte{opLapse} }
func handoffOp(ttlSec byte) []byte    { return []byte{opHandoff, ttlSec} }

type byteReader struct{ b []byte }

func (r *byteReader) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// fuzzer holds the machine under test and a reference model of it. The
// model is written from the rules, not from the code: holder, token and
// expiry are predicted from the events alone.
type fuzzer struct {
	t   *testing.T
	s   State     // the machine under test
	now time.Time // the clock; it only moves forward, like a monotonic one

	// The model.
	holder, token string
	gen           uint64
	exp           time.Time // expiry set by the last grant, renewal or rebase
	released      bool

	prevGen uint64
	issued  []string        // every token ever granted, in order
	retired map[string]bool // tokens that were current once and were replaced
	// prevTok is the last token that stopped being current, and prevEnd
	// how its session ended: the only retired token with an exact reason.
	prevTok, prevEnd string
	fresh            int
}

func (fz *fuzzer) step(r *byteReader) {
	switch r.next() % numOps {
	case opAcquire:
		b := r.next()
		req := AcquireRequest{
			Session: sessions[b%3],
			Mode:    Mode(b / 3 % 4), // 0 is invalid on purpose
			Now:     fz.now,
			TTL:     ttlArg(r.next()), // 0 is invalid on purpose
		}
		switch r.next() % 8 {
		case newEmpty:
		case newCurrent:
			req.NewToken = fz.s.Token // handed back by mistake: must never be granted again
		default:
			fz.fresh++
			req.NewToken = fmt.Sprintf("tok-%d", fz.fresh)
		}
		fz.acquire(req)
	case opCheck:
		tok := fz.pickToken(r.next())
		d := ttlArg(r.next())
		fz.check(tok, d)
	case opRelease:
		fz.release(fz.pickToken(r.next()))
	case opAdvance:
		b := r.next()
		if b >= 240 {
			fz.now = fz.now.Add(time.Nanosecond) // creep up on an expiry
		} else {
			fz.now = fz.now.Add(time.Duration(b) * time.Second / 8) // hits expiries exactly
		}
	case opLapse:
		fz.lapse()
	case opHandoff:
		fz.handoff(ttlArg(r.next()))
	}
}

// ttlArg maps a byte to 0..15 s; 0 is invalid where a TTL is validated.
func ttlArg(b byte) time.Duration { return time.Duration(b%16) * time.Second }

func (fz *fuzzer) pickToken(b byte) string {
	switch {
	case b%8 == tokEmpty:
		return ""
	case b%8 == tokForged:
		return "forged"
	case b%8 == tokCurrent || len(fz.issued) == 0:
		if fz.s.Token == "" {
			return "tok-none"
		}
		return fz.s.Token
	default:
		return fz.issued[int(b/8)%len(fz.issued)]
	}
}

func (fz *fuzzer) live() bool { return fz.holder != "" && fz.now.Before(fz.exp) }

// liveHolder is what a StaleError must name.
func (fz *fuzzer) liveHolder() string {
	if fz.live() {
		return fz.holder
	}
	return ""
}

// replace makes tok the model's token, retiring the old one, whose session
// ended as end.
func (fz *fuzzer) replace(holder, tok string, exp time.Time, end string) {
	if fz.token != "" && fz.token != tok {
		fz.retired[fz.token] = true
		fz.prevTok, fz.prevEnd = fz.token, end
	}
	fz.holder, fz.token, fz.exp = holder, tok, exp
}

func (fz *fuzzer) acquire(req AcquireRequest) {
	t := fz.t
	before := fz.s
	next, res, err := before.Acquire(req)

	// Predict.
	var wantErr error
	var want AcquireResult
	grant := func(o Outcome) {
		if fz.token != "" && req.NewToken == fz.token {
			wantErr = ErrInvalidToken
			return
		}
		want = AcquireResult{Outcome: o, Token: req.NewToken, Previous: fz.holder}
	}
	switch {
	case !req.Mode.valid():
		wantErr = ErrInvalidMode
	case req.TTL <= 0:
		wantErr = ErrInvalidTTL
	case req.NewToken == "":
		wantErr = ErrInvalidToken
	case !fz.live():
		grant(Granted)
	case fz.holder == req.Session:
		want = AcquireResult{Outcome: Reused, Token: fz.token}
	case req.Mode == ModeFail:
		want = AcquireResult{Outcome: Conflict, Holder: fz.holder, Remaining: fz.exp.Sub(req.Now)}
	case req.Mode == ModeWait:
		want = AcquireResult{Outcome: Wait, Holder: fz.holder, Remaining: fz.exp.Sub(req.Now)}
	default:
		grant(Stolen)
	}

	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			t.Fatalf("Acquire(%+v) on %s: err %v, want %v", req, dump(before), err, wantErr)
		}
		mustEqualState(t, "after a refused acquire", next, before)
		return
	}
	if err != nil {
		t.Fatalf("Acquire(%+v) on %s: %v", req, dump(before), err)
	}
	if res != want {
		t.Fatalf("Acquire(%+v) on %s = %+v, want %+v", req, dump(before), res, want)
	}
	fz.s = next
	switch res.Outcome {
	case Reused:
		if res.Token != before.Token || next.Token != before.Token {
			t.Fatalf("Reused changed the token")
		}
		fz.exp = req.Now.Add(req.TTL)
	case Granted, Stolen:
		end := ReasonLapsed
		if res.Outcome == Stolen {
			end = ReasonStolen
		}
		fz.replace(req.Session, req.NewToken, req.Now.Add(req.TTL), end)
		fz.gen++
		fz.released = false
		fz.issued = append(fz.issued, req.NewToken)
		if res.Outcome == Stolen {
			// The robbed holder hears why, at once.
			_, err := next.Check(before.Token, fz.now, ttl)
			mustStale(t, "robbed token", err, ReasonStolen, req.Session)
		}
	case Conflict, Wait:
		mustEqualState(t, "after "+res.Outcome.String(), next, before)
	}
}

func (fz *fuzzer) check(tok string, d time.Duration) {
	t := fz.t
	before := fz.s
	next, err := before.Check(tok, fz.now, d)
	valid := tok != "" && tok == fz.token && fz.live()
	switch {
	case tok == "":
		if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Check(\"\"): %v", err)
		}
	case d <= 0:
		if !errors.Is(err, ErrInvalidTTL) {
			t.Fatalf("Check with ttl %v: %v", d, err)
		}
	case valid:
		if err != nil {
			t.Fatalf("Check(%q) at %v on %s: %v", tok, fz.now, dump(before), err)
		}
		fz.s = next
		fz.exp = fz.now.Add(d)
		return
	default:
		if err == nil {
			t.Fatalf("Check(%q) at %v succeeded on %s; model: holder %q token %q exp %v",
				tok, fz.now, dump(before), fz.holder, fz.token, fz.exp)
		}
		fz.mustExplain(err, tok)
	}
	mustEqualState(t, "after a refused check", next, before)
}

func (fz *fuzzer) release(tok string) {
	t := fz.t
	before := fz.s
	next, err := before.Release(tok, fz.now)
	switch {
	case tok == "":
		if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Release(\"\"): %v", err)
		}
	case tok == fz.token && fz.live():
		if err != nil {
			t.Fatalf("Release(%q) on %s: %v", tok, dump(before), err)
		}
		fz.s = next
		fz.replace("", "", time.Time{}, ReasonReleased)
		fz.gen++
		fz.released = true
		_, err := next.Check(tok, fz.now, ttl)
		mustStale(t, "released token", err, ReasonReleased, "")
		return
	default:
		if err == nil {
			t.Fatalf("Release(%q) succeeded on %s", tok, dump(before))
		}
		fz.mustExplain(err, tok)
	}
	mustEqualState(t, "after a refused release", next, before)
}

func (fz *fuzzer) lapse() {
	t := fz.t
	before := fz.s
	next, got := before.Lapse(fz.now)
	want := ""
	if fz.holder != "" && !fz.live() {
		want = fz.holder
	}
	if got != want {
		t.Fatalf("Lapse at %v on %s = %q, want %q", fz.now, dump(before), got, want)
	}
	fz.s = next
	if want != "" {
		fz.replace("", "", time.Time{}, ReasonLapsed)
		fz.released = false
		_, err := next.Check(before.Token, fz.now, ttl)
		mustStale(t, "lapsed token", err, ReasonLapsed, "")
	}
}

// handoff does what the actor does around a move: Lapse, snapshot, decode
// on the next node, Rebase with a fresh TTL (d may be 0: then the holder is
// lapsed on arrival).
func (fz *fuzzer) handoff(d time.Duration) {
	t := fz.t
	fz.lapse()
	b, err := json.Marshal(fz.s)
	if err != nil {
		t.Fatal(err)
	}
	var loaded State
	if err := json.Unmarshal(b, &loaded); err != nil {
		t.Fatal(err)
	}
	fz.s = loaded.Rebase(fz.now, d)
	if fz.holder != "" {
		fz.exp = fz.now.Add(d)
	}
}

// mustExplain checks a refusal of tok: a *StaleError naming the live holder
// (or none) with a known reason, and a token that was really issued is never
// called unknown.
func (fz *fuzzer) mustExplain(err error, tok string) {
	t := fz.t
	var se *StaleError
	if !errors.Is(err, ErrStaleSession) || !errors.As(err, &se) {
		t.Fatalf("refusal of %q is not a *StaleError: %v", tok, err)
	}
	if se.Holder != fz.liveHolder() {
		t.Fatalf("StaleError.Holder = %q, want %q", se.Holder, fz.liveHolder())
	}
	// The reason is exact for the holder's own expired token and for the
	// last token that stopped being current; any other token (older, or
	// never issued) is unknown, never blamed on a steal.
	want := ReasonUnknownToken
	switch {
	case tok == fz.token && !fz.live():
		want = ReasonLapsed
	case tok == fz.prevTok:
		want = fz.prevEnd
	}
	if se.Reason != want {
		t.Fatalf("token %q refused as %q, want %q (model: token %q, last ended %q as %q) on %s",
			tok, se.Reason, want, fz.token, fz.prevTok, fz.prevEnd, dump(fz.s))
	}
}

func (fz *fuzzer) invariants() {
	t := fz.t
	s := fz.s

	// The machine matches the model.
	want := State{Holder: fz.holder, Token: fz.token, Gen: fz.gen, ExpiresAt: fz.exp, Released: fz.released}
	mustEqualState(t, "model", s, want)

	if s.Gen < fz.prevGen {
		t.Fatalf("Gen went from %d to %d", fz.prevGen, s.Gen)
	}
	fz.prevGen = s.Gen

	if (s.Holder == "") != (s.Token == "") || (s.Holder == "" && !s.ExpiresAt.IsZero()) || (s.Released && s.Holder != "") {
		t.Fatalf("malformed state %s", dump(s))
	}
	if s.Held(fz.now) != (s.Remaining(fz.now) > 0) {
		t.Fatalf("Held and Remaining disagree on %s at %v", dump(s), fz.now)
	}
	if fz.retired[s.Token] {
		t.Fatalf("retired token %q is current again", s.Token)
	}

	// At most one holder: probe every token ever issued.
	valid := 0
	for _, tok := range fz.issued {
		_, err := s.Check(tok, fz.now, time.Second)
		if err != nil {
			fz.mustExplain(err, tok)
			continue
		}
		valid++
		switch {
		case fz.retired[tok]:
			t.Fatalf("retired token %q validates on %s", tok, dump(s))
		case tok != s.Token || !s.Held(fz.now):
			t.Fatalf("token %q validates but is not the holder's on %s", tok, dump(s))
		case !fz.now.Before(fz.exp):
			t.Fatalf("token %q validates at %v after its expiry %v", tok, fz.now, fz.exp)
		}
	}
	if valid > 1 {
		t.Fatalf("%d tokens validate on %s", valid, dump(s))
	}
	if s.Held(fz.now) && valid != 1 {
		t.Fatalf("held by %q but its token does not validate", s.Holder)
	}
}
