package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The report's CPU figures come from the kernel's accounting: a process's
// user and system time, read from /proc/<pid>/stat for other processes and
// from getrusage for this one. They are sampled at the start and at the end
// of the workload, so start-up and the final drain are not counted.

// userHZ is the unit of the times in /proc/<pid>/stat (USER_HZ, fixed at
// 100 by the kernel's ABI on every architecture Go runs Linux on).
const userHZ = 100

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procTimes are the CPU fields of /proc/<pid>/stat.
type procTimes struct {
	ppid int
	// self is the process's own user + system time; children is that of
	// its children it has waited for (cutime + cstime).
	self, children time.Duration
}

// readProcTimes reads /proc/<pid>/stat.
func readProcTimes(pid int) (procTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procTimes{}, err
	}
	return parseProcStat(b)
}

// parseProcStat parses the fields after the command name (which may hold
// spaces and parentheses, so the last ')' ends it): state(3) ppid(4) ...
// utime(14) stime(15) cutime(16) cstime(17).
func parseProcStat(b []byte) (procTimes, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procTimes{}, fmt.Errorf("proc stat: no command name in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procTimes{}, fmt.Errorf("proc stat: %d fields after the name", len(f))
	}
	var n [5]int64
	for k, idx := range []int{1, 11, 12, 13, 14} { // ppid, utime, stime, cutime, cstime (field number - 3)
		v, err := strconv.ParseInt(f[idx], 10, 64)
		if err != nil {
			return procTimes{}, fmt.Errorf("proc stat field %d: %w", idx+3, err)
		}
		n[k] = v
	}
	tick := time.Second / userHZ
	return procTimes{ppid: int(n[0]), self: time.Duration(n[1]+n[2]) * tick, children: time.Duration(n[3]+n[4]) * tick}, nil
}

// treeCPU is the CPU time of a process and all its children, living or
// reaped: the postmaster's own, its waited-for children's, and each living
// child's (PostgreSQL runs one process per connection, which exits when the
// connection closes).
func treeCPU(pid int) (time.Duration, error) {
	root, err := readProcTimes(pid)
	if err != nil {
		return 0, err
	}
	total := root.self + root.children
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		t, err := readProcTimes(child)
		if err != nil || t.ppid != pid {
			continue // gone meanwhile, or not a child
		}
		total += t.self
	}
	return total, nil
}

// cpuPerOp is CPU time per operation in µs (0 without operations).
func cpuPerOp(cpu time.Duration, ops int64) float64 {
	if ops <= 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(ops)
}
