package storetest

import (
	"strings"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// leaseTests cover NodeLeases: registering, renewing and releasing node
// incarnations, judged by the store's clock.
func leaseTests() []contractTest {
	return []contractTest{
		{name: "RegisterGrantsTTL", run: testRegisterGrantsTTL},
		{name: "RegisterTwiceInvalid", run: testRegisterTwiceInvalid},
		{name: "RegisterReleasedIDInvalid", run: testRegisterReleasedInvalid},
		{name: "RenewExtends", run: testRenewExtends},
		{name: "RenewAfterLapseExpired", run: testRenewAfterLapse},
		{name: "LeaseLapsesAtExpiry", run: testLeaseLapsesAtExpiry},
		{name: "RenewUnknownOrReleasedExpired", run: testRenewUnknownOrReleased},
		{name: "ReleaseNodeIdempotent", run: testReleaseNodeIdempotent},
		{name: "RegisterInvalid", run: testRegisterInvalid},
		{name: "RenewInvalidTTL", run: testRenewInvalidTTL},
	}
}

// The granted lease lasts exactly the ttl asked for, by the store's clock,
// at both ends of the allowed range.
func testRegisterGrantsTTL(f *fixture) {
	for i, ttl := range []time.Duration{time.Millisecond, 10 * time.Second, longTTL, 24 * time.Hour} {
		f.mustRegister("node-"+string(rune('a'+i)), ttl) // checks NodeID and ExpiresAt-Now
	}
}

// Node ids are single-use: registering one that exists is refused whether
// its lease is live or lapsed, so a restarted process can never resurrect the
// ownerships of an earlier incarnation.
func testRegisterTwiceInvalid(f *fixture) {
	f.mustRegister("live", longTTL)
	f.mustRegister("lapsed", 10*time.Second)
	f.advance(time.Minute) // "lapsed" lapses; "live" does not

	for _, id := range []string{"live", "lapsed"} {
		_, err := f.s.RegisterNode(f.ctx, persistence.NodeInfo{ID: id}, longTTL)
		wantErr(f.t, err, persistence.ErrInvalid, "RegisterNode("+id+") again")
	}
	// The refused re-registration of the lapsed id must not have revived it.
	_, err := f.s.RenewNode(f.ctx, "lapsed", longTTL)
	wantErr(f.t, err, persistence.ErrLeaseExpired, "RenewNode(lapsed) after refused re-register")
}

// A released id is single-use too (store.go: "ids are single-use"): were it
// accepted again, profiles the released node still owned would count as
// owned by a live node again, blocking their takeover. A store therefore
// has to remember released ids (a tombstone), not just delete them.
func testRegisterReleasedInvalid(f *fixture) {
	f.mustRegister("a", longTTL)
	f.mustRegister("b", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)
	if err := f.s.ReleaseNode(f.ctx, "a"); err != nil {
		f.t.Fatalf("ReleaseNode: %v", err)
	}
	_, err := f.s.RegisterNode(f.ctx, persistence.NodeInfo{ID: "a"}, longTTL)
	wantErr(f.t, err, persistence.ErrInvalid, "RegisterNode(released id)")
	// Whatever the store said, A's old ownership must not have come back.
	b := f.mustAcquire("b", p)
	if b.Epoch != a.Epoch+1 || b.PreviousOwner != "a" {
		f.t.Errorf("acquire after released id re-registered = {Epoch %d PreviousOwner %q}, want {%d \"a\"}", b.Epoch, b.PreviousOwner, a.Epoch+1)
	}
}

// Renewing moves the expiry to now+ttl: a lease renewed part-way is still
// live after its original expiry, and can be shortened or lengthened.
func testRenewExtends(f *fixture) {
	first := f.mustRegister("a", 10*time.Second)
	f.mustRegister("b", longTTL)
	p := key("p")
	a := f.mustAcquire("a", p)

	f.advance(6 * time.Second)
	l, err := f.s.RenewNode(f.ctx, "a", 10*time.Second)
	if err != nil {
		f.t.Fatalf("RenewNode: %v", err)
	}
	checkLease(f.t, l, "a", 10*time.Second)
	if !l.ExpiresAt.After(first.ExpiresAt) {
		f.t.Errorf("renewed ExpiresAt %s is not after the first %s", l.ExpiresAt, first.ExpiresAt)
	}

	// 12s after registering, past the first expiry: without the renewal A
	// would have lapsed and B could take p.
	f.advance(6 * time.Second)
	he := f.mustHeld("b", p, "a", a.Epoch)
	wantRemaining(f.t, he, 4*time.Second)
	f.mustAcquire("a", key("q")) // A's own lease is live

	// A renewal may also change the length.
	l, err = f.s.RenewNode(f.ctx, "a", 30*time.Second)
	if err != nil {
		f.t.Fatalf("RenewNode(30s): %v", err)
	}
	checkLease(f.t, l, "a", 30*time.Second)
	f.advance(20 * time.Second)
	f.mustHeld("b", p, "a", a.Epoch)
}

// A lapsed lease cannot be renewed: other nodes may already have taken its
// profiles, so the node must drain and re-register under a new id.
func testRenewAfterLapse(f *fixture) {
	f.mustRegister("a", 10*time.Second)
	f.advance(11 * time.Second)
	_, err := f.s.RenewNode(f.ctx, "a", 10*time.Second)
	wantErr(f.t, err, persistence.ErrLeaseExpired, "RenewNode after lapse")
	// And the failed renewal did not revive it.
	_, err = f.s.Acquire(f.ctx, "a", key("p"))
	wantErr(f.t, err, persistence.ErrLeaseExpired, "Acquire after failed renewal")
}

// A lease is live strictly before ExpiresAt (persistence.LeaseLive): after
// exactly ttl it has lapsed.
func testLeaseLapsesAtExpiry(f *fixture) {
	f.mustRegister("a", 10*time.Second)
	f.advance(10 * time.Second)
	_, err := f.s.RenewNode(f.ctx, "a", 10*time.Second)
	wantErr(f.t, err, persistence.ErrLeaseExpired, "RenewNode after exactly ttl")
}

func testRenewUnknownOrReleased(f *fixture) {
	_, err := f.s.RenewNode(f.ctx, "never-registered", longTTL)
	wantErr(f.t, err, persistence.ErrLeaseExpired, "RenewNode(unknown)")

	f.mustRegister("a", longTTL)
	if err := f.s.ReleaseNode(f.ctx, "a"); err != nil {
		f.t.Fatalf("ReleaseNode: %v", err)
	}
	_, err = f.s.RenewNode(f.ctx, "a", longTTL)
	wantErr(f.t, err, persistence.ErrLeaseExpired, "RenewNode(released)")
}

// Releasing is idempotent: a node drains, releases, and may retry the
// release after an ambiguous failure.
func testReleaseNodeIdempotent(f *fixture) {
	if err := f.s.ReleaseNode(f.ctx, "never-registered"); err != nil {
		f.t.Errorf("ReleaseNode(unknown) = %v, want nil", err)
	}
	f.mustRegister("a", longTTL)
	for i := 0; i < 2; i++ {
		if err := f.s.ReleaseNode(f.ctx, "a"); err != nil {
			f.t.Errorf("ReleaseNode(a) #%d = %v, want nil", i+1, err)
		}
	}
	// A released node may not take ownership.
	_, err := f.s.Acquire(f.ctx, "a", key("p"))
	wantErr(f.t, err, persistence.ErrLeaseExpired, "Acquire by released node")
}

func testRegisterInvalid(f *fixture) {
	// Node ids follow the profile id rules.
	f.mustRegister(strings.Repeat("n", persistence.MaxNodeIDLen), longTTL)
	f.mustRegister("a_b.c:d@e+f=g-H9", longTTL)
	for _, id := range []string{"", strings.Repeat("n", persistence.MaxNodeIDLen+1), "a/b", "a b", "é", "a\x00"} {
		_, err := f.s.RegisterNode(f.ctx, persistence.NodeInfo{ID: id}, longTTL)
		wantLimitErr(f.t, err, persistence.ErrInvalid, "RegisterNode(id "+quote(id)+")")
	}
	for _, ttl := range []time.Duration{0, -time.Second, time.Millisecond - 1, 24*time.Hour + time.Millisecond} {
		_, err := f.s.RegisterNode(f.ctx, persistence.NodeInfo{ID: "ttl-node"}, ttl)
		wantLimitErr(f.t, err, persistence.ErrInvalid, "RegisterNode(ttl "+ttl.String()+")")
	}
	// None of the refused registrations created the node.
	f.mustRegister("ttl-node", longTTL)
}

func testRenewInvalidTTL(f *fixture) {
	f.mustRegister("a", longTTL)
	for _, ttl := range []time.Duration{0, -time.Second, 24*time.Hour + time.Millisecond} {
		_, err := f.s.RenewNode(f.ctx, "a", ttl)
		wantLimitErr(f.t, err, persistence.ErrInvalid, "RenewNode(ttl "+ttl.String()+")")
	}
	// The refused renewals left the lease alone: it is still live.
	f.mustAcquire("a", key("p"))
}
