package persistence

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestDecideAcquire(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	live, lapsed := now.Add(time.Second), now.Add(-time.Second)
	key := ProfileKey{Namespace: "game", ID: "p1"}
	cases := []struct {
		name       string
		cur        *ProfileState
		ownerLease time.Time
		wantEpoch  int64
		wantHeld   bool
	}{
		{"absent creates at epoch 1", nil, time.Time{}, 1, false},
		{"tombstone continues the epoch", &ProfileState{Epoch: 7, Deleted: true}, time.Time{}, 8, false},
		{"unowned", &ProfileState{Epoch: 3}, time.Time{}, 4, false},
		{"owned by self (re-activation)", &ProfileState{Owner: "me", Epoch: 3}, live, 4, false},
		{"owner lease lapsed", &ProfileState{Owner: "other", Epoch: 3}, lapsed, 4, false},
		{"owner lease ends exactly now", &ProfileState{Owner: "other", Epoch: 3}, now, 4, false},
		{"owner node gone (zero lease)", &ProfileState{Owner: "other", Epoch: 3}, time.Time{}, 4, false},
		{"owner lease live", &ProfileState{Owner: "other", Epoch: 3}, live, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			epoch, err := DecideAcquire(key, tc.cur, tc.ownerLease, "me", now)
			var held *HeldError
			if tc.wantHeld {
				if !errors.As(err, &held) || !errors.Is(err, ErrHeld) {
					t.Fatalf("want *HeldError, got %v", err)
				}
				if held.Holder != "other" || held.Epoch != 3 || held.Remaining() != time.Second {
					t.Fatalf("HeldError = %+v", held)
				}
				return
			}
			if err != nil || epoch != tc.wantEpoch {
				t.Fatalf("got epoch %d, err %v; want %d", epoch, err, tc.wantEpoch)
			}
		})
	}
}

func TestCheckOwnLease(t *testing.T) {
	now := time.Unix(1000, 0)
	if err := CheckOwnLease("n", true, now.Add(time.Millisecond), now); err != nil {
		t.Fatalf("live lease refused: %v", err)
	}
	for name, c := range map[string]struct {
		found bool
		exp   time.Time
	}{"unregistered": {false, time.Time{}}, "lapsed": {true, now.Add(-time.Millisecond)}, "at expiry": {true, now}} {
		if err := CheckOwnLease("n", c.found, c.exp, now); !errors.Is(err, ErrLeaseExpired) {
			t.Errorf("%s: got %v, want ErrLeaseExpired", name, err)
		}
	}
}

func TestClassifySave(t *testing.T) {
	row := SaveRow{Epoch: 5, Seq: 10}
	cases := []struct {
		name string
		cur  *ProfileState
		want SaveOutcome
	}{
		{"absent", nil, SaveGone},
		{"deleted", &ProfileState{Epoch: 5, Seq: 9, Deleted: true}, SaveGone},
		{"other owner", &ProfileState{Owner: "x", Epoch: 5, Seq: 9}, SaveFenced},
		{"released", &ProfileState{Epoch: 5, Seq: 9}, SaveFenced},
		{"newer epoch", &ProfileState{Owner: "me", Epoch: 6, Seq: 9}, SaveFenced},
		{"same seq stored", &ProfileState{Owner: "me", Epoch: 5, Seq: 10}, SaveSuperseded},
		{"newer seq stored", &ProfileState{Owner: "me", Epoch: 5, Seq: 11}, SaveSuperseded},
		{"saves", &ProfileState{Owner: "me", Epoch: 5, Seq: 9}, SaveSaved},
		{"saves after gap", &ProfileState{Owner: "me", Epoch: 5, Seq: 2}, SaveSaved},
	}
	for _, tc := range cases {
		if got := ClassifySave(tc.cur, "me", row); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestCheckOwnedAt(t *testing.T) {
	key := ProfileKey{Namespace: "g", ID: "p"}
	if err := CheckOwnedAt(key, &ProfileState{Owner: "me", Epoch: 2}, "me", 2); err != nil {
		t.Fatal(err)
	}
	if err := CheckOwnedAt(key, nil, "me", 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent: %v", err)
	}
	if err := CheckOwnedAt(key, &ProfileState{Epoch: 2, Deleted: true}, "me", 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	for _, cur := range []*ProfileState{{Owner: "me", Epoch: 3}, {Owner: "x", Epoch: 2}, {Epoch: 2}} {
		if err := CheckOwnedAt(key, cur, "me", 2); !errors.Is(err, ErrFenced) {
			t.Fatalf("%+v: %v", cur, err)
		}
	}
}

func TestRetentionPrune(t *testing.T) {
	t0 := time.Unix(100*30*24*3600, 0) // a bucket boundary for every interval below
	at := func(seq int64, d time.Duration) SnapshotAge { return SnapshotAge{Seq: seq, SavedAt: t0.Add(d)} }
	cases := []struct {
		name  string
		r     Retention
		snaps []SnapshotAge
		want  []int64
	}{
		{"depth by default", Retention{}, []SnapshotAge{at(1, 0), at(2, 0), at(3, 0), at(4, 0)}, []int64{1}},
		{"keep overrides depth", Retention{Keep: 2}, []SnapshotAge{at(4, 0), at(1, 0), at(3, 0), at(2, 0)}, []int64{1, 2}},
		{"gaps keep the newest n", Retention{Keep: 3}, []SnapshotAge{at(1, 0), at(2, 0), at(10, 0), at(11, 0)}, []int64{1}},
		{"one per bucket, newest wins", Retention{Keep: 10, Interval: time.Minute},
			[]SnapshotAge{at(1, 0), at(2, 30*time.Second), at(3, 61*time.Second), at(4, 119*time.Second), at(5, 120*time.Second)},
			[]int64{1, 3}},
		{"the saved one's bucket drops its elders", Retention{Keep: 10, Interval: time.Minute},
			[]SnapshotAge{at(7, 0), at(8, time.Second), at(9, 2*time.Second)}, []int64{7, 8}},
		{"keep caps buckets", Retention{Keep: 2, Interval: time.Second},
			[]SnapshotAge{at(1, 0), at(2, time.Second), at(3, 2*time.Second), at(4, 3*time.Second)}, []int64{1, 2}},
		{"only one", Retention{Keep: 1}, []SnapshotAge{at(5, 0)}, nil},
	}
	for _, tc := range cases {
		if got := tc.r.Prune(tc.snaps, 3); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Prune = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDecideAcquireRequest(t *testing.T) {
	now := time.Unix(1000, 0)
	live, lapsed := now.Add(time.Second), now.Add(-time.Second)
	key := ProfileKey{Namespace: "g", ID: "p"}
	saved := func(owner string) *ProfileState { return &ProfileState{Owner: owner, Epoch: 3, Seq: 2} }
	cases := []struct {
		name       string
		create     bool
		cur        *ProfileState
		ownerLease time.Time
		want       Acquired // Key is filled in
		wantErr    error
	}{
		{"absent, create", true, nil, time.Time{}, Acquired{Epoch: 1, Created: true}, nil},
		{"absent, load", false, nil, time.Time{}, Acquired{}, ErrNotFound},
		{"tombstone, create", true, &ProfileState{Epoch: 5, Deleted: true}, time.Time{}, Acquired{Epoch: 6, Created: true}, nil},
		{"tombstone, load", false, &ProfileState{Epoch: 5, Deleted: true}, time.Time{}, Acquired{}, ErrNotFound},
		{"no snapshot, create", true, &ProfileState{Epoch: 2}, time.Time{}, Acquired{Epoch: 3}, nil},
		{"no snapshot, load", false, &ProfileState{Epoch: 2}, time.Time{}, Acquired{}, ErrNotFound},
		{"no snapshot held, load", false, &ProfileState{Owner: "other", Epoch: 2}, live, Acquired{}, ErrNotFound},
		{"no snapshot lapsed owner, create", true, &ProfileState{Owner: "other", Epoch: 2}, lapsed, Acquired{Epoch: 3, PreviousOwner: "other"}, nil},
		{"released", false, saved(""), time.Time{}, Acquired{Epoch: 4}, nil},
		{"own", false, saved("me"), live, Acquired{Epoch: 4, PreviousOwner: "me"}, nil},
		{"lapsed owner", false, saved("other"), lapsed, Acquired{Epoch: 4, PreviousOwner: "other"}, nil},
		{"held", true, saved("other"), live, Acquired{}, ErrHeld},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecideAcquireRequest(AcquireRequest{Key: key, Create: tc.create}, tc.cur, tc.ownerLease, "me", now)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || got != (Acquired{}) {
					t.Fatalf("got %+v, %v; want %v", got, err, tc.wantErr)
				}
				return
			}
			tc.want.Key = key
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
