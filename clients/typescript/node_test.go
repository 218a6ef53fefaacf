package typescript_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/cluster"
	"github.com/hearth-profiles/hearth/cluster/nodestore"
	"github.com/hearth-profiles/hearth/config"
)

// The Node side needs node and npm; CI has them. Without them the tests
// skip, except in CI (CI=true), where a missing toolchain is a failure.
func needNode(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; the TypeScript client's tests need Node 20 or newer", tool)
			}
			t.Skipf("%s is not installed; skipping the TypeScript client's tests", tool)
		}
	}
}

// installDeps runs `npm ci` when node_modules is missing or was installed
// from another package-lock.json (its hash is kept beside the modules).
func installDeps(t *testing.T) {
	t.Helper()
	lock, err := os.ReadFile("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join("node_modules", ".hearth-lock-sha256")
	if got, err := os.ReadFile(stamp); err == nil && string(got) == want {
		return
	}
	run(t, 5*time.Minute, nil, "npm", "ci", "--no-audit", "--no-fund")
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs a command in this directory and fails the test, with its
// output, if it fails or outlasts limit.
func run(t *testing.T, limit time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestNodeClient runs the client's Node tests (test/*.test.ts, compiled by
// tsc, so a type error fails too) against a real node: the embedded store
// in a temp dir, the gateway on a free loopback port with a bearer token.
func TestNodeClient(t *testing.T) {
	needNode(t)
	installDeps(t)

	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.Listen = "127.0.0.1:0"
	cfg.Gateway.Token = "ts-client-test-token"
	// Short enough that the poller test sees a released profile
	// passivate, long enough not to race the other tests.
	cfg.Profiles.ReleaseLinger = 300 * time.Millisecond
	n, err := cluster.Start(context.Background(), cfg, nodestore.Open, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Drain(ctx); err != nil {
			t.Error(err)
		}
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})

	// A fresh build, so a test file deleted from test/ is not run from dist.
	if err := os.RemoveAll("dist"); err != nil {
		t.Fatal(err)
	}
	run(t, 2*time.Minute, nil, "node_modules/.bin/tsc", "-p", ".")
	tests, err := filepath.Glob("dist/test/*.test.js")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no compiled tests in dist/test: %v", err)
	}
	out := run(t, 3*time.Minute, []string{
		"HEARTH_ADDR=http://" + n.Addr(),
		"HEARTH_TOKEN=" + cfg.Gateway.Token,
	}, "node", append([]string{"--test", "--test-reporter=spec"}, tests...)...)
	t.Log(out)
}

// TestGeneratedCodeIsCurrent regenerates src/gen from messages/proto into a
// temp dir with the committed buf.gen.yaml and compares: a change to the
// .proto without `bash generate.sh` fails here.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	needNode(t)
	installDeps(t)
	dir := t.TempDir()
	// The first run on a machine compiles buf (tools/proto/go.mod); later
	// ones take it from the build cache.
	run(t, 10*time.Minute, nil, "bash", "generate.sh", "-o", dir)

	committed := listFiles(t, "src/gen")
	fresh := listFiles(t, filepath.Join(dir, "src/gen"))
	for name, want := range fresh {
		got, ok := committed[name]
		if !ok {
			t.Errorf("src/gen/%s is generated but not committed; run `bash clients/typescript/generate.sh`", name)
		} else if !bytes.Equal(got, want) {
			t.Errorf("src/gen/%s is stale; run `bash clients/typescript/generate.sh`", name)
		}
	}
	for name := range committed {
		if _, ok := fresh[name]; !ok {
			t.Errorf("src/gen/%s is committed but no longer generated; delete it", name)
		}
	}
}

func listFiles(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
