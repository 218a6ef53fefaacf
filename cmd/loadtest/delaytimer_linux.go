package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// delayTimer sleeps a goroutine until a deadline with microsecond
// precision: a timerfd (a kernel high-resolution timer, no timer slack)
// registered with Go's netpoller, so the goroutine parks instead of holding
// a thread, and wakes when the kernel timer fires rather than at the next
// whole millisecond as runtime timers below 1 ms do.
type delayTimer struct {
	fd  int
	f   *os.File
	buf [8]byte
}

func newDelayTimer() (*delayTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	return &delayTimer{fd: fd, f: os.NewFile(uintptr(fd), "timerfd")}, nil
}

// SleepUntil returns at due, or at once if due is less than dueSlop away
// (slept is false then).
func (t *delayTimer) SleepUntil(due time.Time) (slept bool, err error) {
	d := time.Until(due)
	if d <= dueSlop {
		return false, nil
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	if err := unix.TimerfdSettime(t.fd, 0, &spec, nil); err != nil {
		return false, fmt.Errorf("timerfd: %w", err)
	}
	if _, err := t.f.Read(t.buf[:]); err != nil { // the expiry count; blocks until it fires
		return false, fmt.Errorf("timerfd: %w", err)
	}
	return true, nil
}

func (t *delayTimer) Close() error { return t.f.Close() }
