package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// TestBaselinesHoldTheContract runs both baselines end to end through the
// latency proxy and reads the report.
func TestBaselinesHoldTheContract(t *testing.T) {
	for _, kind := range []string{"sql", "sql-lock"} {
		t.Run(kind, func(t *testing.T) {
			db := pg.NewDatabase(t)
			out := filepath.Join(t.TempDir(), "out.json")
			code := run([]string{"-baseline", kind, "-db", db, "-db-latency", "200us", "-duration", "2s", "-players", "100", "-servers", "8",
				"-purchase-share", "0.1", "-gift-share", "0.1", "-hop-share", "0.05", "-leave-share", "0.05", "-report", out})
			if code != 0 {
				t.Fatalf("exit code %d", code)
			}
			r := readReport(t, out)
			if r.Ops == 0 || r.Verify.ProfilesChecked != 100 || !r.Verify.OK() || !strings.Contains(r.Target, "latency proxy") {
				t.Fatalf("report: %+v", r)
			}
			if p := r.DBProxy; p == nil || p.Connections == 0 || p.Chunks == 0 || p.OneWayDelayUS != 200 {
				t.Fatalf("proxy: %+v", r.DBProxy)
			}
			if r.CPU.LoadtestUSPerOp <= 0 {
				t.Fatalf("cpu: %+v", r.CPU)
			}
			if os.Geteuid() == 0 && r.CPU.DatabaseUSPerOp <= 0 { // finding the postmaster reads its /proc/<pid>/fd
				t.Fatalf("database cpu not measured: %+v", r.CPU)
			}
		})
	}
}

func readReport(t *testing.T, path string) Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLockBaselineSerializesWriters: concurrent increments of one profile
// are all kept (the row lock, not luck), and concurrent deliveries of one
// idempotency key apply once.
func TestLockBaselineSerializesWriters(t *testing.T) {
	ctx := context.Background()
	b, err := openBaseline(ctx, pg.NewDatabase(t), 16, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ref := &hearthv1.ProfileRef{Namespace: "n", Id: "p"}
	update := func(key, path string) (*hearthv1.UpdateResponse, error) {
		res, err := b.Request(ctx, &hearthv1.UpdateRequest{Profile: ref, IdempotencyKey: key,
			Operations: []*hearthv1.Operation{inc(path, 1)}})
		if err != nil {
			return nil, err
		}
		return res.(*hearthv1.UpdateResponse), nil
	}
	const writers, each = 16, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	applied := 0
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				_, err := update(fmt.Sprintf("k-%d-%d", i, j), "/xp")
				res, err2 := update("same-key", "/coins") // every writer delivers this one
				mu.Lock()
				if err == nil {
					err = err2
				}
				if err != nil {
					errs = append(errs, err)
				} else if !res.GetDuplicate() {
					applied++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	got, err := b.reader("n")(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if got.XP != writers*each || got.Coins != 1 || applied != 1 {
		t.Fatalf("stored xp %d (want %d), coins %d (want 1); the shared key applied %d times", got.XP, writers*each, got.Coins, applied)
	}
}

// TestViaProxy: the rewritten URL dials the proxy and keeps every other
// setting, in both URL forms.
func TestViaProxy(t *testing.T) {
	for _, in := range []string{
		"postgres://alice:secret@db.example:5433/game?sslmode=disable&application_name=x",
		"postgresql://alice:secret@/game?host=/var/run/postgresql&port=5433&sslmode=disable&application_name=x",
		"host=db.example port=5433 user=alice password=secret dbname=game sslmode=disable application_name=x",
	} {
		out, err := viaProxy(in, "127.0.0.1:40001")
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		c, err := pgconn.ParseConfig(out)
		if err != nil {
			t.Fatalf("%s -> %s: %v", in, out, err)
		}
		if c.Host != "127.0.0.1" || c.Port != 40001 || c.User != "alice" || c.Password != "secret" || c.Database != "game" ||
			c.TLSConfig != nil || c.RuntimeParams["application_name"] != "x" {
			t.Errorf("%s -> %s: %+v", in, out, c)
		}
	}
	if _, err := viaProxy("postgres://a@h/db?sslmode=verify-full", "127.0.0.1:1"); err == nil {
		t.Error("verify-full through the proxy: want an error")
	}
	network, addr, err := databaseUpstream("postgres://a@/db?host=/run/pg&port=5433")
	if err != nil || network != "unix" || addr != "/run/pg/.s.PGSQL.5433" {
		t.Errorf("unix upstream: %s %s %v", network, addr, err)
	}
	if _, _, err := databaseUpstream("postgres://a@h1:1,h2:2/db"); err == nil {
		t.Error("two hosts: want an error")
	}
}

// TestListenerPIDFindsThePostmaster: the process listening where the URL
// points is the PostgreSQL server, and its tree's CPU is readable.
func TestListenerPIDFindsThePostmaster(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("reading another user's /proc/<pid>/fd needs root")
	}
	pid, err := listenerPID(pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || !strings.HasPrefix(string(comm), "postgres") {
		t.Fatalf("pid %d is %q (%v), not postgres", pid, comm, err)
	}
	if cpu, err := treeCPU(pid); err != nil || cpu <= 0 {
		t.Fatalf("tree cpu %s, %v", cpu, err)
	}
}
