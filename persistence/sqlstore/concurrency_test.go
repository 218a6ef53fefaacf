package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// TestConcurrentAcquireAndSave: two nodes race to create the same new
// profiles, and the winner saves at once. Every acquisition reported as
// won must be real: its save lands. (With cockroach-go's savepoint helper on
// PostgreSQL, a transaction that failed at COMMIT was reported as done, and
// both racers were told they had created a profile that did not exist.)
func TestConcurrentAcquireAndSave(t *testing.T) {
	s := openTestStore(t, persistence.Limits{})
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if _, err := s.RegisterNode(ctx, persistence.NodeInfo{ID: n}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for round := 0; round < 20; round++ {
		for _, n := range []string{"a", "b"} {
			for p := 0; p < 10; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := persistence.ProfileKey{Namespace: "g", ID: fmt.Sprintf("r%d-p%d", round, p)}
					acq, err := s.Acquire(ctx, n, key)
					if errors.Is(err, persistence.ErrHeld) {
						return
					}
					if err != nil {
						errs <- err
						return
					}
					res, err := s.Save(ctx, n, []persistence.SaveRow{{Key: key, Epoch: acq.Epoch, Seq: 1, Document: []byte("{}")}})
					if err != nil {
						errs <- err
						return
					}
					if res[0].Outcome != persistence.SaveSaved {
						errs <- fmt.Errorf("%s by %s epoch %d created %v: %v", key, n, acq.Epoch, acq.Created, res[0].Outcome)
					}
				}()
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
