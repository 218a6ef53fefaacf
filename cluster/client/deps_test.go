package client

import (
	"os/exec"
	"strings"
	"testing"
)

// TestGameServersLinkNoStore: a game server importing the client (over the
// gateway) or the cluster client (package cluster, for DialCluster) links
// no store and no database driver: those stay with the node's wiring
// (cluster/nodestore).
func TestGameServersLinkNoStore(t *testing.T) {
	forbidden := []string{
		"github.com/jackc/pgx", "go.etcd.io/bbolt", "github.com/cockroachdb/cockroach-go",
		"github.com/hearth-profiles/hearth/persistence/sqlstore",
		"github.com/hearth-profiles/hearth/persistence/localstore",
		"github.com/hearth-profiles/hearth/cluster/nodestore",
	}
	for _, pkg := range []string{"github.com/hearth-profiles/hearth/cluster/client", "github.com/hearth-profiles/hearth/cluster"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s links %s", pkg, dep)
				}
			}
		}
	}
}
