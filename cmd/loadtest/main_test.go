package main

import (
	"os"
	"testing"

	"github.com/hearth-profiles/hearth/internal/testenv/consultest"
	"github.com/hearth-profiles/hearth/internal/testenv/pgtest"
)

// The package's shared servers: one PostgreSQL and one Consul agent,
// started once per test binary (TestMain is the only once-per-binary hook).
var (
	pg     *pgtest.Server
	consul *consultest.Agent
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(consultest.Around(m, &consul), &pg)) }
