package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSpawnedNodes runs node processes through the latency proxy: with the
// gateways and chaos adding a node (which must become a target), and with
// the cluster client.
func TestSpawnedNodes(t *testing.T) {
	bin, err := buildNode(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("gateways, chaos adds a node", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.json")
		code := run([]string{"-spawn", "1", "-node-bin", bin, "-db", pg.NewDatabase(t), "-consul", consul.HTTPAddr(),
			"-db-latency", "200us", "-chaos", "-chaos-every", "2s", "-duration", "5s", "-players", "100", "-servers", "8", "-report", out})
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
		r := readReport(t, out)
		// With one node, chaos adds one first; later actions may add more.
		added := 0
		for _, ev := range r.Chaos {
			if strings.HasPrefix(ev, "add-node") {
				added++
			}
		}
		if added == 0 || len(r.Gateways) != 1+added {
			t.Fatalf("chaos %v, gateways %v: every added node must be a target", r.Chaos, r.Gateways)
		}
		checkSpawnReport(t, r)
	})
	t.Run("cluster client", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.json")
		code := run([]string{"-spawn", "1", "-transport", "cluster", "-node-bin", bin, "-db", pg.NewDatabase(t), "-consul", consul.HTTPAddr(),
			"-db-latency", "200us", "-duration", "2s", "-players", "100", "-servers", "8", "-report", out})
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
		r := readReport(t, out)
		if !strings.Contains(r.Target, "cluster client") || len(r.Gateways) != 0 {
			t.Fatalf("target %q, gateways %v", r.Target, r.Gateways)
		}
		checkSpawnReport(t, r)
	})
}

func checkSpawnReport(t *testing.T, r Report) {
	t.Helper()
	if r.Ops == 0 || r.Verify.ProfilesChecked != 100 || !r.Verify.OK() {
		t.Fatalf("report: %+v", r)
	}
	if p := r.DBProxy; p == nil || p.Connections == 0 || p.Chunks == 0 {
		t.Fatalf("the nodes did not reach the database through the proxy: %+v", r.DBProxy)
	}
	if r.CPU.NodeUSPerOp <= 0 || r.CPU.NodeCores <= 0 {
		t.Fatalf("node cpu: %+v", r.CPU)
	}
}
