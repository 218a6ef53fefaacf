package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/internal/testenv/consultest"
	"github.com/hearth-profiles/hearth/internal/testenv/pgtest"
)

// The package's shared servers: one PostgreSQL and one Consul agent,
// started once per test binary (TestMain is the only once-per-binary hook).
var (
	pg     *pgtest.Server
	consul *consultest.Agent
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	srv, err := pgtest.Start(ctx, pgtest.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest tests: cannot start PostgreSQL:", err)
		os.Exit(1)
	}
	pg = srv
	code := consultest.Main(m, &consul)
	if err := pg.Stop(); err != nil && code == 0 {
		code = 1
	}
	os.Exit(code)
}
