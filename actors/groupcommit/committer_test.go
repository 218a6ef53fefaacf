package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// recordingStore answers every row Saved, records batch sizes, and can hold
// a batch at a gate.
type recordingStore struct {
	mu        sync.Mutex
	batches   [][]persistence.SaveRow
	entered   chan int
	gate      chan struct{}
	firstGate chan struct{}
	fail      error
}

func (s *recordingStore) Save(ctx context.Context, node string, rows []persistence.SaveRow) ([]persistence.SaveResult, error) {
	s.mu.Lock()
	s.batches = append(s.batches, rows)
	gate, fail := s.gate, s.fail
	s.mu.Unlock()
	s.entered <- len(rows)
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return nil, fail
	}
	out := make([]persistence.SaveResult, len(rows))
	for i, r := range rows {
		out[i] = persistence.SaveResult{Key: r.Key, Outcome: persistence.SaveSaved, Epoch: r.Epoch, Seq: r.Seq}
	}
	return out, nil
}

func (s *recordingStore) Versions(context.Context, persistence.ProfileKey) ([]persistence.VersionInfo, error) {
	return nil, nil
}

func (s *recordingStore) Version(context.Context, persistence.ProfileKey, int64) (persistence.Snapshot, error) {
	return persistence.Snapshot{}, nil
}

func row(i int) persistence.SaveRow {
	return persistence.SaveRow{Key: persistence.ProfileKey{Namespace: "g", ID: fmt.Sprint(i)}, Epoch: 1, Seq: 1}
}

func TestRowsQueuedDuringABatchGoTogether(t *testing.T) {
	s := &recordingStore{entered: make(chan int, 100), gate: make(chan struct{})}
	s.firstGate = s.gate
	c := New(s, persistence.Limits{}, "n1", Options{})
	defer c.Close()
	var wg sync.WaitGroup
	results := make(chan persistence.SaveResult, 100)
	submit := func(i int) {
		wg.Add(1)
		c.Submit(row(i), func(r persistence.SaveResult, err error) {
			if err != nil {
				t.Error(err)
			}
			results <- r
			wg.Done()
		})
	}
	submit(0)
	if n := <-s.entered; n != 1 {
		t.Fatalf("first batch %d rows", n)
	}
	for i := 1; i <= 50; i++ {
		submit(i)
	}
	s.mu.Lock()
	s.gate = nil
	s.mu.Unlock()
	// Release the first batch; the 50 queued rows go as one batch.
	close(gateOf(s))
	if n := <-s.entered; n != 50 {
		t.Fatalf("second batch %d rows, want 50", n)
	}
	wg.Wait()
	if len(results) != 51 {
		t.Fatalf("%d results", len(results))
	}
}

// gateOf returns the gate the first batch waits on.
func gateOf(s *recordingStore) chan struct{} { return s.firstGate }

func TestOneProfilePerBatch(t *testing.T) {
	s := &recordingStore{entered: make(chan int, 100)}
	s.gate = make(chan struct{})
	s.firstGate = s.gate
	c := New(s, persistence.Limits{}, "n1", Options{})
	var wg sync.WaitGroup
	wg.Add(4)
	done := func(persistence.SaveResult, error) { wg.Done() }
	c.Submit(row(0), done)
	<-s.entered
	c.Submit(row(1), done)
	c.Submit(row(1), done) // the same profile twice: must not share a batch
	c.Submit(row(2), done)
	s.mu.Lock()
	s.gate = nil
	s.mu.Unlock()
	close(s.firstGate)
	wg.Wait()
	c.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.batches {
		seen := map[persistence.ProfileKey]bool{}
		for _, r := range b {
			if seen[r.Key] {
				t.Fatalf("profile %v twice in one batch", r.Key)
			}
			seen[r.Key] = true
		}
	}
}

func TestBatchCapAndFailure(t *testing.T) {
	s := &recordingStore{entered: make(chan int, 100), fail: errors.New("down")}
	c := New(s, persistence.Limits{MaxBatchRows: 3}, "n1", Options{MaxBatch: 10})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed int
	for i := range 7 {
		wg.Add(1)
		c.Submit(row(i), func(_ persistence.SaveResult, err error) {
			mu.Lock()
			if err != nil {
				failed++
			}
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	c.Close()
	if failed != 7 {
		t.Fatalf("%d rows reported failure, want 7", failed)
	}
	for _, b := range s.batches {
		if len(b) > 3 {
			t.Fatalf("batch of %d over the store's cap", len(b))
		}
	}
}

func TestSubmitAfterClose(t *testing.T) {
	s := &recordingStore{entered: make(chan int, 10)}
	c := New(s, persistence.Limits{}, "n1", Options{})
	c.Close()
	got := make(chan error, 1)
	c.Submit(row(1), func(_ persistence.SaveResult, err error) { got <- err })
	select {
	case err := <-got:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
}
