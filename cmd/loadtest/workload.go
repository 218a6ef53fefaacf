package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-profiles/hearth/cluster/client"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// workload is the simulated game: servers with online players who play,
// buy, gift, hop between servers and leave. Every effect is checkable: the
// ledger of each player records what was acknowledged, and the verifier
// compares it with the stored profile.
type workload struct {
	cfg     Config
	cl      *client.Client
	st      *stats
	players []*ledger
	inboxes []chan int // players joining each server
	killed  *atomic.Bool
	// run makes idempotency keys and receipt ids unique to this run, so
	// runs against the same database do not collide; the seed alone
	// decides what the servers do.
	runID string
}

// Config is the workload's shape; the same Seed gives the same decisions.
type Config struct {
	Players       int
	Servers       int
	Duration      time.Duration
	Seed          uint64
	Rate          float64 // total ops/s; 0: as fast as the servers go
	DurableShare  float64 // of updates
	PurchaseShare float64
	DupShare      float64 // of purchases, a repeated delivery of an earlier receipt
	GiftShare     float64
	HopShare      float64
	LeaveShare    float64
	Namespace     string
	RunID         string        // unique per run: keys, receipts and the default namespace
	DBLatency     time.Duration // one-way delay the latency proxy added (-db-latency)
}

// ledger is what one player was acknowledged. Durable effects must all be
// stored; memory effects may be lost only after a crash, and only those
// acknowledged after the profile's last save (see verify); nothing may be
// stored more often than acknowledged (unknown outcomes widen the bound).
type ledger struct {
	mu        sync.Mutex
	xp, xpUnk int64 // memory lane: every memory update adds 1
	// memAcks is the document version each acknowledged memory-lane
	// update answered; saved holds versions known to be in a committed
	// snapshot (each durable acknowledgement, each release's saved
	// version).
	memAcks      []int64
	saved        []int64
	coins, coUnk int64 // durable updates
	gifts, giUnk int64 // durable gifts from other servers
	receipts     map[string]bool
	rcUnk        int64
	inventory    int // items held, to alternate append and remove
	nextReceipt  int
	nextOp       int
	stale        int64
}

func newWorkload(cfg Config, cl *client.Client, st *stats, killed *atomic.Bool) *workload {
	w := &workload{cfg: cfg, cl: cl, st: st, killed: killed, runID: cfg.RunID}
	for range cfg.Players {
		w.players = append(w.players, &ledger{receipts: map[string]bool{}})
	}
	for range cfg.Servers {
		w.inboxes = append(w.inboxes, make(chan int, cfg.Players))
	}
	return w
}

func (w *workload) ref(p int) *hearthv1.ProfileRef {
	return &hearthv1.ProfileRef{Namespace: w.cfg.Namespace, Id: fmt.Sprintf("player-%d", p)}
}

// run drives every server until the deadline, then releases every session.
// joined reports how long the first join of every player took: each is a
// cold activation (load from the store, fence, migrate).
func (w *workload) run(ctx context.Context, joined chan<- time.Duration) {
	start := time.Now()
	deadline := start.Add(w.cfg.Duration)
	var wg, joins sync.WaitGroup
	joins.Add(w.cfg.Servers)
	go func() { joins.Wait(); joined <- time.Since(start) }()
	for k := range w.cfg.Servers {
		for p := k; p < w.cfg.Players; p += w.cfg.Servers {
			w.inboxes[k] <- p
		}
	}
	for k := range w.cfg.Servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(w.cfg.Seed, uint64(k)))
			w.server(ctx, k, rng, deadline, joins.Done)
		}()
	}
	wg.Wait()
}

// server is one simulated game server.
func (w *workload) server(ctx context.Context, k int, rng *rand.Rand, deadline time.Time, joinedAll func()) {
	sid := fmt.Sprintf("server-%d", k)
	online := map[int]string{} // player -> session token
	var order []int
	var interval time.Duration
	if w.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(w.cfg.Servers) / w.cfg.Rate)
	}
	next := time.Now()
	join := func(p int) {
		if tok, ok := w.acquire(ctx, sid, p); ok {
			online[p] = tok
			order = append(order, p)
		} else {
			w.inboxes[rng.IntN(w.cfg.Servers)] <- p // try elsewhere later
		}
	}
	drop := func(p int) {
		delete(online, p)
		for i, q := range order {
			if q == p {
				order = append(order[:i], order[i+1:]...)
				break
			}
		}
	}
	for initial := true; initial; {
		select {
		case p := <-w.inboxes[k]:
			join(p)
		default:
			initial = false
		}
	}
	joinedAll()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for joined := false; !joined; {
			select {
			case p := <-w.inboxes[k]:
				join(p)
			default:
				joined = true
			}
		}
		if len(order) == 0 {
			select {
			case p := <-w.inboxes[k]:
				join(p)
			case <-time.After(time.Until(deadline)):
			}
			continue
		}
		if interval > 0 {
			time.Sleep(time.Until(next))
			next = next.Add(interval)
		}
		p := order[rng.IntN(len(order))]
		tok := online[p]
		switch r := rng.Float64(); {
		case r < w.cfg.HopShare:
			w.release(ctx, p, tok)
			drop(p)
			w.inboxes[(k+1+rng.IntN(max(w.cfg.Servers-1, 1)))%w.cfg.Servers] <- p
		case r < w.cfg.HopShare+w.cfg.LeaveShare:
			w.release(ctx, p, tok)
			drop(p)
			w.inboxes[rng.IntN(w.cfg.Servers)] <- p // comes back later, anywhere
		case r < w.cfg.HopShare+w.cfg.LeaveShare+w.cfg.GiftShare:
			w.gift(ctx, sid, rng.IntN(w.cfg.Players))
		case r < w.cfg.HopShare+w.cfg.LeaveShare+w.cfg.GiftShare+w.cfg.PurchaseShare:
			if newTok, ok := w.purchase(ctx, sid, p, tok, rng); ok {
				online[p] = newTok
			}
		default:
			durable := rng.Float64() < w.cfg.DurableShare
			if newTok, ok := w.update(ctx, sid, p, tok, durable, rng); ok {
				online[p] = newTok
			}
		}
	}
	for p, tok := range online {
		w.release(ctx, p, tok)
	}
}

// acquire starts a session, checking that the document holds every effect
// acknowledged before (a stale read otherwise).
func (w *workload) acquire(ctx context.Context, sid string, p int) (string, bool) {
	l := w.players[p]
	l.mu.Lock()
	coins, xp, gifts := l.coins, l.xp, l.gifts
	xpSaved := l.memCovered(l.segmentMax(nil)) // held by a save already: survives any crash
	l.mu.Unlock()
	start := time.Now()
	res, err := w.cl.Acquire(ctx, &hearthv1.AcquireRequest{Profile: w.ref(p), SessionId: sid,
		Mode: hearthv1.AcquireMode_ACQUIRE_MODE_STEAL})
	w.st.record("acquire", time.Since(start), err)
	if err != nil {
		return "", false
	}
	var doc struct{ Coins, XP, Gifts int64 }
	if err := json.Unmarshal([]byte(res.GetDocument()), &doc); err != nil {
		w.st.record("acquire_document", 0, fmt.Errorf("acquire returned an unreadable document: %w", err))
	}
	if doc.Coins < coins || doc.Gifts < gifts || doc.XP < xpSaved || (!w.killed.Load() && doc.XP < xp) {
		l.mu.Lock()
		l.stale++
		l.mu.Unlock()
	}
	return res.GetSessionToken(), true
}

func (w *workload) release(ctx context.Context, p int, tok string) {
	start := time.Now()
	res, err := w.cl.Release(ctx, &hearthv1.ReleaseRequest{Profile: w.ref(p), SessionToken: tok})
	switch {
	case errors.Is(err, messages.ErrStaleSession):
		err = nil // the session was lost in a crash or stolen by a hop: nothing to end
	case err == nil && res.GetVersion() > 0:
		w.players[p].noteSaved(res.GetVersion()) // answered once the save committed
	}
	w.st.record("release", time.Since(start), err)
}

// ack is what an acknowledgement says: the document version it produced
// and whether the snapshot holding it committed.
type ack struct {
	version int64
	saved   bool
}

func (l *ledger) noteSaved(version int64) {
	l.mu.Lock()
	l.saved = append(l.saved, version)
	l.mu.Unlock()
}

// write sends one session write, re-acquiring once if the session was lost
// (a crash loses unsaved sessions), and reports the outcome: acked, or
// unknown (it may or may not have applied).
func (w *workload) write(ctx context.Context, op, sid string, p int, tok string,
	send func(tok string) (ack, error)) (newTok string, a ack, acked bool) {
	start := time.Now()
	a, err := send(tok)
	if errors.Is(err, messages.ErrStaleSession) {
		if t, ok := w.acquire(ctx, sid, p); ok {
			tok = t
			start = time.Now()
			a, err = send(tok)
		}
	}
	w.st.record(op, time.Since(start), err)
	return tok, a, err == nil
}

func (w *workload) key(l *ledger, p int, kind string) string {
	l.nextOp++
	return fmt.Sprintf("%s-%s-%d-%d", kind, w.runID, p, l.nextOp)
}

func inc(path string, by int) *hearthv1.Operation {
	return &hearthv1.Operation{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: path, Value: fmt.Sprint(by)}
}

func (w *workload) update(ctx context.Context, sid string, p int, tok string, durable bool, rng *rand.Rand) (string, bool) {
	l := w.players[p]
	l.mu.Lock()
	key := w.key(l, p, "op")
	inventory := l.inventory
	l.mu.Unlock()
	op, d := "update_memory", hearthv1.Durability_DURABILITY_MEMORY
	ops := []*hearthv1.Operation{inc("/xp", 1)}
	invDelta := 0
	if durable {
		op, d = "update_durable", hearthv1.Durability_DURABILITY_DURABLE
		ops = []*hearthv1.Operation{inc("/coins", 1)}
	} else {
		switch rng.IntN(3) {
		case 0:
			if inventory < 20 {
				ops = append(ops, &hearthv1.Operation{Kind: hearthv1.OperationKind_OPERATION_KIND_APPEND, Path: "/inventory", Value: `"item"`})
				invDelta = 1
			} else {
				ops = append(ops, &hearthv1.Operation{Kind: hearthv1.OperationKind_OPERATION_KIND_REMOVE, Path: "/inventory", Value: `"item"`})
				invDelta = -1
			}
		case 1:
			ops = append(ops, &hearthv1.Operation{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/stats/last_server", Value: fmt.Sprintf("%q", sid)})
		}
	}
	tok, a, acked := w.write(ctx, op, sid, p, tok, func(tok string) (ack, error) {
		res, err := w.cl.Update(ctx, &hearthv1.UpdateRequest{Profile: w.ref(p), SessionToken: tok, IdempotencyKey: key, Durability: d, Operations: ops})
		return ack{version: res.GetVersion(), saved: res.GetDurable()}, err
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if acked && a.saved {
		l.saved = append(l.saved, a.version)
	}
	switch {
	case acked && durable:
		l.coins++
	case acked:
		l.xp++
		l.memAcks = append(l.memAcks, a.version)
		l.inventory += invDelta
	case durable:
		l.coUnk++
	default:
		l.xpUnk++
		if w.killed.Load() { // a lost append leaves the count unknown; re-read it from the next acquire
			l.inventory = 0
		}
	}
	return tok, acked
}

func (w *workload) purchase(ctx context.Context, sid string, p int, tok string, rng *rand.Rand) (string, bool) {
	l := w.players[p]
	l.mu.Lock()
	var receipt string
	if len(l.receipts) > 0 && rng.Float64() < w.cfg.DupShare {
		// A duplicate delivery of a receipt already granted.
		n := rng.IntN(l.nextReceipt)
		receipt = fmt.Sprintf("receipt-%s-%d-%d", w.runID, p, n)
	} else {
		receipt = fmt.Sprintf("receipt-%s-%d-%d", w.runID, p, l.nextReceipt)
		l.nextReceipt++
	}
	l.mu.Unlock()
	tok, a, acked := w.write(ctx, "purchase", sid, p, tok, func(tok string) (ack, error) {
		res, err := w.cl.Purchase(ctx, &hearthv1.PurchaseRequest{Profile: w.ref(p), SessionToken: tok, ReceiptId: receipt,
			ProductId: "gems_100", Grant: []*hearthv1.Operation{inc("/gems", 100)}})
		return ack{version: res.GetPurchase().GetVersion(), saved: true}, err // a purchase is answered once committed
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case acked:
		l.receipts[receipt] = true
		l.saved = append(l.saved, a.version)
	case !l.receipts[receipt]:
		l.rcUnk++
	}
	return tok, acked
}

// gift is a durable change from another server, with no session: the
// holder (if any) learns of it through Watch.
func (w *workload) gift(ctx context.Context, sid string, q int) {
	l := w.players[q]
	l.mu.Lock()
	key := w.key(l, q, "gift-"+sid)
	l.mu.Unlock()
	start := time.Now()
	res, err := w.cl.Update(ctx, &hearthv1.UpdateRequest{Profile: w.ref(q), IdempotencyKey: key,
		Durability: hearthv1.Durability_DURABILITY_DURABLE, Operations: []*hearthv1.Operation{inc("/gifts", 1)}})
	w.st.record("gift", time.Since(start), err)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.gifts++
		if res.GetDurable() {
			l.saved = append(l.saved, res.GetVersion())
		}
	} else {
		l.giUnk++
	}
}
