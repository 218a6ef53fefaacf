package cluster

import (
	"os"
	"testing"

	"github.com/hearth-profiles/hearth/internal/testenv/consultest"
	"github.com/hearth-profiles/hearth/internal/testenv/pgtest"
)

// The package's shared servers: one Consul agent and one PostgreSQL,
// started once per test binary (TestMain is the only once-per-binary hook).
var (
	consul *consultest.Agent
	pg     *pgtest.Server
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(consultest.Around(m, &consul), &pg)) }
