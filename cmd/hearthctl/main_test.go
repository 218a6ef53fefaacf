package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/cluster"
	"github.com/hearth-profiles/hearth/cluster/client"
	"github.com/hearth-profiles/hearth/cluster/nodestore"
	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/internal/testenv/consultest"
	"github.com/hearth-profiles/hearth/internal/testenv/pgtest"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/sqlstore"
)

// The package's shared servers, started once per test binary (TestMain is
// the only once-per-binary hook): PostgreSQL, since the store-reading
// commands need SQL, and a Consul agent for nodes list --consul.
var (
	pg     *pgtest.Server
	consul *consultest.Agent
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(consultest.Around(m, &consul), &pg)) }

const testToken = "t0ken"

// env is a test's cluster: a database and the nodes serving it.
type env struct {
	t     *testing.T
	db    string
	nodes []*cluster.Node
	st    *sqlstore.Store
}

func newEnv(t *testing.T) *env {
	return &env{t: t, db: pg.NewDatabase(t)}
}

// nodeConfig is an in-process node on e's database, with the test token.
func (e *env) nodeConfig() config.Config {
	cfg := config.Default()
	cfg.Database.URL = e.db
	cfg.Database.MaxConns = 4
	cfg.Gateway.Listen = "127.0.0.1:0"
	cfg.Gateway.Token = testToken
	// Every save keeps a snapshot (the default keeps one per 15 minutes).
	cfg.Namespaces = map[string]config.Namespace{"game": {History: persistence.Retention{Keep: 10}}}
	return cfg
}

// start starts a node with cfg; the test's cleanup drains it.
func (e *env) start(cfg config.Config) *cluster.Node {
	e.t.Helper()
	n, err := cluster.Start(context.Background(), cfg, nodestore.Open, slog.New(slog.DiscardHandler))
	if err != nil {
		e.t.Fatal(err)
	}
	e.nodes = append(e.nodes, n)
	e.t.Cleanup(func() { stop(n) })
	return n
}

func stop(n *cluster.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = n.Drain(ctx)
	_ = n.Close()
}

// node is e's first node, started on demand.
func (e *env) node() *cluster.Node {
	if len(e.nodes) == 0 {
		return e.start(e.nodeConfig())
	}
	return e.nodes[0]
}

func (e *env) gatewayURL() string { return "http://" + e.node().Addr() }

// client is the Go client on the first node's gateway.
func (e *env) client() *client.Client { return clientAt(e.node().Addr()) }

// clientAt is the Go client on the gateway at addr.
func clientAt(addr string) *client.Client {
	return client.New(client.NewGateway(nil, "http://"+addr, testToken), client.Options{Timeout: 20 * time.Second})
}

// store is e's database for the test's own checks.
func (e *env) store() *sqlstore.Store {
	e.t.Helper()
	if e.st != nil {
		return e.st
	}
	s, err := sqlstore.Open(context.Background(), e.db, sqlstore.Options{MaxConns: 2, SkipMigrations: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = s.Close() })
	e.st = s
	return s
}

// result is one hearthctl run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// ctl runs hearthctl with e's gateway, token and database in its
// environment.
func (e *env) ctl(argv ...string) result {
	e.t.Helper()
	return e.ctlIn("", argv...)
}

// ctlIn is ctl with stdin.
func (e *env) ctlIn(stdin string, argv ...string) result {
	e.t.Helper()
	environ := []string{"HEARTHCTL_DB=" + e.db, "HEARTHCTL_TOKEN=" + testToken}
	if len(e.nodes) > 0 {
		environ = append(environ, "HEARTHCTL_GATEWAY="+e.gatewayURL())
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := execute(ctx, argv, environ, strings.NewReader(stdin), &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// wantCode fails the test unless r exited with code.
func wantCode(t *testing.T, r result, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: want exit %d, got\n%s", what, code, r)
	}
}

// decodeJSON reads a --json result.
func decodeJSON[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r)
	}
	return v
}

func ref(ns, id string) *hearthv1.ProfileRef { return &hearthv1.ProfileRef{Namespace: ns, Id: id} }

func setOp(path, value string) *hearthv1.Operation {
	return &hearthv1.Operation{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: path, Value: value}
}

// write sets doc as the whole of profile ns/id, durably, adding users.
func (e *env) write(ns, id, doc string, users ...string) {
	e.t.Helper()
	_, err := e.client().Update(context.Background(), &hearthv1.UpdateRequest{Profile: ref(ns, id),
		Operations: []*hearthv1.Operation{setOp("", doc)}, AddUserIds: users, Durability: hearthv1.Durability_DURABILITY_DURABLE})
	if err != nil {
		e.t.Fatalf("write %s/%s: %v", ns, id, err)
	}
}

// doc reads ns/id's document.
func (e *env) doc(ns, id string) (string, error) {
	res, err := e.client().Get(context.Background(), &hearthv1.GetRequest{Profile: ref(ns, id)})
	return res.GetValue(), err
}

// listed reads every live profile of ns from the store.
func (e *env) listed(ns string) []persistence.ListedProfile {
	e.t.Helper()
	out, err := e.store().ListProfiles(context.Background(), ns, "", persistence.MaxListPage)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// usersOf reads ns/id's user ids from the store (its newest save).
func (e *env) usersOf(ns, id string) []string {
	e.t.Helper()
	for _, lp := range e.listed(ns) {
		if lp.Key.ID == id {
			return lp.UserIDs
		}
	}
	e.t.Fatalf("%s/%s is not in the store", ns, id)
	return nil
}

// acquire starts a session on ns/id.
func (e *env) acquire(ns, id, session string) string {
	e.t.Helper()
	res, err := e.client().Acquire(context.Background(), &hearthv1.AcquireRequest{Profile: ref(ns, id), SessionId: session})
	if err != nil {
		e.t.Fatalf("acquire %s/%s: %v", ns, id, err)
	}
	return res.GetSessionToken()
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// ready reports whether a gateway answers /readyz with 200.
func ready(addr string) bool {
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}
