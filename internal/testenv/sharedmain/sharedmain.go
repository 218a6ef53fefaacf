// Package sharedmain holds what the test-server harnesses (pgtest,
// consultest) have in common: running a test binary around one shared
// server, and quoting the end of a server's log in errors.
package sharedmain

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Server is a harness-owned server that can be stopped.
type Server interface{ Stop() error }

// Tests is what Run runs around a server: a *testing.M, or another
// harness's run around one (so a binary can share a database and an agent:
// pgtest.Main(consultest.Around(m, &agent), &srv)).
type Tests interface{ Run() int }

// Run starts one server for the whole test binary, stores it in *out, runs
// the tests and stops it. If the server cannot start it reports why and
// returns 1, so a missing server fails the run instead of silently skipping
// the integration tests. name prefixes the messages ("pgtest"), what names
// the server ("PostgreSQL"), addr says where it listens.
func Run[S Server](m Tests, name, what string, timeout time.Duration,
	start func(context.Context) (S, error), addr func(S) string, out *S) int {
	// So that -test.v, -test.timeout and friends are known; start ignores flags.
	if !flag.Parsed() {
		flag.Parse()
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	s, err := start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot start %s for tests: %v\n", name, what, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "%s: %s ready at %s after %v\n", name, what, addr(s), time.Since(began).Round(time.Millisecond))
	*out = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// tailBytes is how much of a server's output an error quotes: enough for
// the lines before a fatal error.
const tailBytes = 4096

// Tail returns the end of a server's output, for error messages.
func Tail(b []byte) string {
	if len(b) > tailBytes {
		b = b[len(b)-tailBytes:]
	}
	return strings.TrimRight(string(b), "\n")
}

// FileTail returns the end of a log file, for error messages.
func FileTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return Tail(b)
}
