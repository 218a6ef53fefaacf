// Package roblox tests the Hearth Luau module (src/) for Roblox game
// servers: the module runs unchanged in a real Luau VM (the npm package
// luau-web) under a simulated Roblox runtime (test/runtime.luau), driven by
// `node test/harness.mjs <scenario>`, against real node processes started
// here (internal/testenv/nodetest). The Go side starts the cluster, runs
// the scenario, and reads every profile back from the nodes to check that
// each effect the scenario saw acknowledged is stored exactly once.
package roblox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/internal/testenv/consultest"
	"github.com/hearth-profiles/hearth/internal/testenv/nodetest"
	"github.com/hearth-profiles/hearth/internal/testenv/pgtest"
)

// The package's shared servers, started once per test binary (TestMain is
// the only once-per-binary hook), and the node binary built once.
var (
	consul *consultest.Agent
	pg     *pgtest.Server
)

// nodeBinary builds cmd/node once per test binary, unless
// HEARTH_ROBLOX_NODE_BIN names one (to run the module against another
// build of the node).
var nodeBinary = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv("HEARTH_ROBLOX_NODE_BIN"); bin != "" {
		return bin, nil
	}
	dir, err := os.MkdirTemp("", "hearth-roblox-node")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return nodetest.Build(ctx, dir)
})

func TestMain(m *testing.M) { os.Exit(pgtest.Main(consultest.Around(m, &consul), &pg)) }

// nodeEnv are the nodes' settings for these tests: leases far longer than
// nodetest's 3 s, because these tests do not kill nodes, and a node that
// misses its renewals on a loaded machine (go test runs other packages'
// process tests at the same time) drains and exits.
var nodeEnv = []string{"HEARTH_LEASE__TTL=15s", "HEARTH_LEASE__RENEW=3s"}

// startCluster starts n real nodes on a fresh database.
func startCluster(t *testing.T, n int, env ...string) *nodetest.Cluster {
	t.Helper()
	bin, err := nodeBinary()
	if err != nil {
		t.Fatal(err)
	}
	return nodetest.Start(t, n, nodetest.Options{
		DatabaseURL: pg.NewDatabase(t),
		ConsulAddr:  consul.HTTPAddr(),
		Binary:      bin,
		Token:       testToken,
		Env:         append(append([]string(nil), nodeEnv...), env...),
	})
}

// testToken is the gateway token the nodes require, so the module's
// bearer auth is exercised.
const testToken = "roblox-test-token"

// inCI reports whether the tests run in CI, where nothing may be skipped.
func inCI() bool { return os.Getenv("CI") != "" }

// needNode returns the node binary, installing the harness's npm packages
// (package-lock.json) into node_modules if they are missing.
func needNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if inCI() {
			t.Fatal("node is not installed; the Roblox module's tests need Node.js 20 or later")
		}
		t.Skip("node is not installed: the Roblox module's tests need Node.js 20 or later")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "luau-web", "package.json")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("npm is not installed; it installs luau-web for the Roblox module's tests")
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in clients/roblox: %v\n%s", err, out)
		}
	}
	return node
}

// scenarioReport is what harness.mjs prints on its last line.
type scenarioReport struct {
	Result   json.RawMessage `json:"result"`
	Failures json.RawMessage `json:"failures"`
}

// runScenario runs test/scenario_<name>.luau against the gateways and
// returns its result. Any failed check, or any error in a Luau thread,
// fails the test.
func runScenario(t *testing.T, name string, gateways []string, timeout time.Duration, result any) {
	t.Helper()
	node := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", "harness.mjs"), name)
	cmd.Env = append(os.Environ(),
		"HEARTH_GATEWAYS="+strings.Join(gateways, ","),
		"HEARTH_TOKEN="+testToken,
	)
	var stdout bytes.Buffer
	stderr := &logWriter{t: t, prefix: name + ": "}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	began := time.Now()
	runErr := cmd.Run()
	stderr.flush()
	t.Logf("scenario %s ran %v", name, time.Since(began).Round(time.Millisecond))
	var last string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			last = line
		}
	}
	if last == "" {
		t.Fatalf("scenario %s printed no result (%v)", name, runErr)
	}
	var rep scenarioReport
	if err := json.Unmarshal([]byte(last), &rep); err != nil {
		t.Fatalf("scenario %s: bad result: %v\n%s", name, err, last)
	}
	if f := strings.TrimSpace(string(rep.Failures)); f != "" && f != "[]" && f != "{}" {
		t.Errorf("scenario %s: errors in Luau threads: %s", name, f)
	}
	if runErr != nil && !t.Failed() {
		t.Errorf("scenario %s: %v", name, runErr)
	}
	if err := json.Unmarshal(rep.Result, result); err != nil {
		t.Fatalf("scenario %s: result: %v\n%s", name, err, rep.Result)
	}
}

// logWriter forwards the harness's stderr to the test log, line by line.
type logWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.t.Log(w.prefix + string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.t.Log(w.prefix + string(w.buf))
		w.buf = nil
	}
}

// checked is the part of every scenario's result that reports its checks.
type checked struct {
	Checks int             `json:"checks"`
	Failed json.RawMessage `json:"failed"`
}

func (c checked) verify(t *testing.T, name string) {
	t.Helper()
	if f := strings.TrimSpace(string(c.Failed)); f != "" && f != "[]" && f != "{}" {
		t.Errorf("scenario %s: failed checks: %s", name, f)
	}
	if c.Checks == 0 {
		t.Errorf("scenario %s made no checks", name)
	}
}

// expected is one profile's ledger: what the database must hold.
type expected struct {
	Coins     float64         `json:"Coins"`
	Gems      float64         `json:"Gems"`
	Gifts     float64         `json:"Gifts"`
	Inventory json.RawMessage `json:"Inventory"` // item -> count; [] when empty
	Receipts  []string        `json:"Receipts"`
}

// api calls one method of the gateway's JSON API.
func api(t testing.TB, base, method string, req, res any) int {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := http.NewRequest(http.MethodPost, base+"/hearth.v1.ProfileService/"+method, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, res); err != nil {
		t.Fatalf("%s: %v\n%s", method, err, out)
	}
	return resp.StatusCode
}

// verifyLedger reads every profile of the ledger back through base and
// checks that each acknowledged effect is there exactly once: counters
// equal, the inventory the same multiset, each granted receipt in the
// purchase history once and nothing else there, and no session left.
func verifyLedger(t *testing.T, base string, ledger map[string]expected) {
	t.Helper()
	if len(ledger) == 0 {
		t.Fatal("the scenario's ledger is empty")
	}
	keys := make([]string, 0, len(ledger))
	for k := range ledger {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		want := ledger[key]
		ref := map[string]string{"namespace": "game", "id": key}
		var got struct {
			Value   string `json:"value"`
			Version string `json:"version"`
			Error   any    `json:"error"`
		}
		if status := api(t, base, "Get", map[string]any{"profile": ref}, &got); status != http.StatusOK || got.Error != nil {
			t.Errorf("%s: Get answered %d %v", key, status, got.Error)
			continue
		}
		var doc struct {
			Coins     float64  `json:"Coins"`
			Gems      float64  `json:"Gems"`
			Gifts     float64  `json:"Gifts"`
			Inventory []string `json:"Inventory"`
		}
		if err := json.Unmarshal([]byte(got.Value), &doc); err != nil {
			t.Errorf("%s: document %q: %v", key, got.Value, err)
			continue
		}
		if doc.Coins != want.Coins || doc.Gems != want.Gems || doc.Gifts != want.Gifts {
			t.Errorf("%s: stored coins/gems/gifts %v/%v/%v, acknowledged %v/%v/%v",
				key, doc.Coins, doc.Gems, doc.Gifts, want.Coins, want.Gems, want.Gifts)
		}
		wantInv := map[string]int{}
		if s := strings.TrimSpace(string(want.Inventory)); s != "" && s != "[]" {
			if err := json.Unmarshal(want.Inventory, &wantInv); err != nil {
				t.Fatalf("%s: ledger inventory: %v", key, err)
			}
		}
		gotInv := map[string]int{}
		for _, it := range doc.Inventory {
			gotInv[it]++
		}
		for it, n := range wantInv {
			if gotInv[it] != n {
				t.Errorf("%s: item %q stored %d times, acknowledged %d", key, it, gotInv[it], n)
			}
		}
		for it, n := range gotInv {
			if _, ok := wantInv[it]; !ok {
				t.Errorf("%s: item %q stored %d times, never acknowledged", key, it, n)
			}
		}
		var purchases struct {
			Purchases []struct {
				ReceiptID string `json:"receiptId"`
			} `json:"purchases"`
		}
		api(t, base, "ListPurchases", map[string]any{"profile": ref, "limit": 1000}, &purchases)
		seen := map[string]int{}
		for _, p := range purchases.Purchases {
			seen[p.ReceiptID]++
		}
		for _, r := range want.Receipts {
			if seen[r] != 1 {
				t.Errorf("%s: receipt %s recorded %d times, want once", key, r, seen[r])
			}
			delete(seen, r)
		}
		for r, n := range seen {
			t.Errorf("%s: receipt %s recorded %d times but never granted to the game", key, r, n)
		}
		var status struct {
			SessionHolder string `json:"sessionHolder"`
		}
		api(t, base, "Status", map[string]any{"profile": ref}, &status)
		if status.SessionHolder != "" {
			t.Errorf("%s: still held by session %s after every server closed", key, status.SessionHolder)
		}
	}
}

// TestUnit runs the module's unit checks (pure parts, error shapes, int64
// fields, refused increments) against a scripted fake node.
func TestUnit(t *testing.T) {
	var res struct {
		Passed int             `json:"passed"`
		Failed json.RawMessage `json:"failed"`
	}
	runScenario(t, "unit", []string{"http://127.0.0.1:1"}, 2*time.Minute, &res)
	if f := strings.TrimSpace(string(res.Failed)); f != "[]" && f != "{}" {
		t.Errorf("unit checks failed: %s", f)
	}
	if res.Passed < 40 {
		t.Errorf("only %d unit checks passed", res.Passed)
	}
}

// TestTwoServersOnTwoNodes: two simulated Roblox servers, each on its own
// node of a real two-node cluster. Players join, play, buy (receipts
// delivered twice, again after hopping, and once with the first answer
// lost) and hop between the servers; gifts from the other server reach the
// holder's Data, also when they race its flush; a steal ends the old
// server's session through its long poll; both servers shut down through
// BindToClose. Every effect the game saw acknowledged must be in the
// database exactly once.
func TestTwoServersOnTwoNodes(t *testing.T) {
	c := startCluster(t, 2)
	var res struct {
		checked
		Ledger map[string]expected `json:"ledger"`
		Stats  json.RawMessage     `json:"stats"`
		Close  json.RawMessage     `json:"close"`
	}
	runScenario(t, "cluster", c.URLs(), 4*time.Minute, &res)
	res.verify(t, "cluster")
	t.Logf("request stats: %s; BindToClose seconds: %s", res.Stats, res.Close)
	verifyLedger(t, c.Nodes[0].URL(), res.Ledger)
}

// TestRequestBudget100Players: two simulated servers with 100 players
// each join, play, buy (receipts delivered twice), hop and leave over about
// 70 s of real time, with the module's default settings; then both shut
// down with players still in. Each server stays under 400 requests in any
// 60 s (Roblox allows 500), BindToClose finishes within 30 s, and every
// acknowledged effect is stored once.
func TestRequestBudget100Players(t *testing.T) {
	c := startCluster(t, 2)
	var res struct {
		checked
		Ledger  map[string]expected `json:"ledger"`
		Servers map[string]struct {
			Requests         int             `json:"requests"`
			MaxPerMinute     int             `json:"maxPerMinute"`
			PerMinuteAverage float64         `json:"perMinuteAverage"`
			Methods          json.RawMessage `json:"methods"`
			Batches          int             `json:"batches"`
			BatchItems       int             `json:"batchItems"`
			HeldBack         int             `json:"heldBack"`
			HeldSeconds      float64         `json:"heldSeconds"`
			OverLimit        int             `json:"overLimit"`
			CloseSeconds     float64         `json:"closeSeconds"`
			PlayersAtClose   int             `json:"playersAtClose"`
		} `json:"servers"`
		Seconds float64 `json:"seconds"`
		JoinP50 float64 `json:"joinP50"`
		JoinP99 float64 `json:"joinP99"`
		BuyP50  float64 `json:"buyP50"`
		BuyP99  float64 `json:"buyP99"`
		Joins   int     `json:"joins"`
		HopP50  float64 `json:"hopP50"`
		HopMax  float64 `json:"hopMax"`
		Hops    int     `json:"hops"`
	}
	runScenario(t, "budget", c.URLs(), 5*time.Minute, &res)
	res.verify(t, "budget")
	for name, s := range res.Servers {
		t.Logf("%s: %d requests in %.0f s (%.0f/min on average), busiest 60 s: %d; by method %s; %d batches carrying %d items; %d requests held back by the module's budget (%.1f s in all); BindToClose %.2f s with %d players in",
			name, s.Requests, res.Seconds, s.PerMinuteAverage, s.MaxPerMinute, s.Methods, s.Batches, s.BatchItems, s.HeldBack, s.HeldSeconds, s.CloseSeconds, s.PlayersAtClose)
		// The budget is kept by batching, not by the module's own rate
		// limit holding calls back (which would make joins and purchases
		// wait): few requests may find its bucket empty.
		if s.HeldBack*10 > s.Requests {
			t.Errorf("%s: %d of %d requests waited for the module's budget: calls are not batched enough", name, s.HeldBack, s.Requests)
		}
		if s.MaxPerMinute >= 400 {
			t.Errorf("%s sent %d requests in its busiest minute; the budget is 400", name, s.MaxPerMinute)
		}
		if s.OverLimit > 0 {
			t.Errorf("%s went past Roblox's 500 a minute %d times", name, s.OverLimit)
		}
		if s.CloseSeconds >= 30 {
			t.Errorf("%s: BindToClose took %.1f s", name, s.CloseSeconds)
		}
	}
	if res.Joins < 200 {
		t.Errorf("only %d of 200+ joins completed", res.Joins)
	}
	t.Logf("joins: p50 %.2f s, p99 %.2f s; hops (join while the old server releases): p50 %.2f s, max %.2f s (%d); purchases: p50 %.2f s, p99 %.2f s",
		res.JoinP50, res.JoinP99, res.HopP50, res.HopMax, res.Hops, res.BuyP50, res.BuyP99)

	verifyLedger(t, c.Nodes[0].URL(), res.Ledger)
}

// TestScenarioFromEnv runs any scenario (HEARTH_ROBLOX_SCENARIO=name, from
// test/scenario_<name>.luau) against a fresh two-node cluster: for
// developing scenarios. Skipped unless the variable is set.
func TestScenarioFromEnv(t *testing.T) {
	name := os.Getenv("HEARTH_ROBLOX_SCENARIO")
	if name == "" {
		t.Skip("set HEARTH_ROBLOX_SCENARIO=<name> to run test/scenario_<name>.luau on a two-node cluster")
	}
	c := startCluster(t, 2)
	var res json.RawMessage
	runScenario(t, name, c.URLs(), 10*time.Minute, &res)
	t.Logf("result: %s", res)
}

// TestSessionLapse: a server that loses its network for longer than the
// session TTL learns, once it is back, that its session lapsed
// (OnSessionEnd, the player kicked, the unacknowledged change dropped), and
// another server then loads the profile without stealing it.
func TestSessionLapse(t *testing.T) {
	bin, err := nodeBinary()
	if err != nil {
		t.Fatal(err)
	}
	c := nodetest.Start(t, 1, nodetest.Options{
		DatabaseURL: pg.NewDatabase(t), Binary: bin, Token: testToken,
		Env: append([]string{"HEARTH_PROFILES__SESSION_TTL=3s"}, nodeEnv...),
	})
	var res struct {
		checked
		Ledger map[string]expected `json:"ledger"`
	}
	runScenario(t, "lapse", c.URLs(), 3*time.Minute, &res)
	res.verify(t, "lapse")
	verifyLedger(t, c.Nodes[0].URL(), res.Ledger)
}
