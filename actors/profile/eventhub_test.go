package profile

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

// TestAPublishedEndUnloadsTheProfile: an activation publishes ENDED before
// its actor stops (and the shell ends the log). A poll in between, or one
// the ENDED woke, must already say the profile is not loaded here: a
// poller that saw ENDED with loaded=true, then the profile unloaded and
// loaded again, could not tell the next activation from this one.
func TestAPublishedEndUnloadsTheProfile(t *testing.T) {
	clock := clockwork.NewFakeClock()
	h := newEventHub(clock, 16, time.Minute)
	key := persistence.ProfileKey{Namespace: "ns", ID: "p"}
	ref := &hearthv1.ProfileRef{Namespace: "ns", Id: "p"}
	l := h.open(key, 7, 0, 1)
	h.follow(l)

	woke := make(chan []*hearthv1.ProfileEvents, 1)
	go func() {
		woke <- h.poll(context.Background(), []persistence.ProfileKey{key},
			[]*hearthv1.EventCursor{{Profile: ref, Cursor: activation.Cursor(7, 0)}}, time.Hour)
	}()
	for h.waiting.Load() == 0 {
		time.Sleep(time.Millisecond) // until the poll waits (not timing: the clock is fake)
	}
	h.publish(l, []*hearthv1.WatchEvent{{Kind: hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED, Seq: 1, Version: 1}})

	check := func(what string, got []*hearthv1.ProfileEvents) {
		t.Helper()
		p := got[0]
		if k := kinds(p.GetEvents()); len(k) != 1 || k[0] != hearthv1.WatchEventKind_WATCH_EVENT_KIND_ENDED || p.GetLoaded() || p.GetResync() || p.GetCursor() != "" {
			t.Fatalf("%s: %v", what, p)
		}
	}
	check("the poll ENDED woke", <-woke)
	out, _ := h.collect([]persistence.ProfileKey{key}, []*hearthv1.EventCursor{{Profile: ref, Cursor: activation.Cursor(7, 0)}}, make(chan struct{}, 1))
	check("a poll before the actor stopped", out)
	h.end(l) // the actor stops: nothing changes
	out, _ = h.collect([]persistence.ProfileKey{key}, []*hearthv1.EventCursor{{Profile: ref, Cursor: activation.Cursor(7, 0)}}, make(chan struct{}, 1))
	check("a poll after the actor stopped", out)
}
