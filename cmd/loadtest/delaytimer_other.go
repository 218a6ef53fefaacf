//go:build !linux

package main

import "time"

// delayTimer elsewhere than Linux sleeps with the runtime's timers, which
// wait at least about a millisecond: -db-latency below that is not
// accurate there.
type delayTimer struct{}

func newDelayTimer() (*delayTimer, error) { return &delayTimer{}, nil }

func (t *delayTimer) SleepUntil(due time.Time) (slept bool, err error) {
	if d := time.Until(due); d > dueSlop {
		time.Sleep(d)
		return true, nil
	}
	return false, nil
}

func (t *delayTimer) Close() error { return nil }
