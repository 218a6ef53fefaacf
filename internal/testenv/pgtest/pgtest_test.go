package pgtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-profiles/hearth/internal/testenv/pgtest"
)

// pg is the server shared by this package's tests. It is package-level
// because TestMain is the only once-per-binary hook; pgtest.Main sets it
// before any test runs and tests only read it.
var pg *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", dbURL, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestServerAnswersQueries(t *testing.T) {
	conn := connect(t, pg.URL())
	var version string
	if err := conn.QueryRow(t.Context(), "SHOW server_version").Scan(&version); err != nil {
		t.Fatalf("SHOW server_version: %v", err)
	}
	var sum int
	if err := conn.QueryRow(t.Context(), "SELECT 40 + 2").Scan(&sum); err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	if sum != 42 {
		t.Fatalf("SELECT 40 + 2 = %d", sum)
	}
	t.Logf("PostgreSQL %s at %s", version, pg.URL())
}

func TestNewDatabaseIsIsolated(t *testing.T) {
	a, b := pg.NewDatabase(t), pg.NewDatabase(t)
	if a == b {
		t.Fatalf("NewDatabase returned the same URL twice: %s", a)
	}

	connA := connect(t, a)
	var current string
	if err := connA.QueryRow(t.Context(), "SELECT current_database()").Scan(&current); err != nil {
		t.Fatalf("current_database: %v", err)
	}
	if want := dbName(t, a); current != want {
		t.Fatalf("connected to database %q, URL names %q", current, want)
	}
	if _, err := connA.Exec(t.Context(), "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatalf("create table: %v", err)
	}

	var found *string
	if err := connect(t, b).QueryRow(t.Context(), "SELECT to_regclass('only_in_a')::text").Scan(&found); err != nil {
		t.Fatalf("to_regclass: %v", err)
	}
	if found != nil {
		t.Fatalf("table created in database a is visible in database b")
	}
}

// Parallel tests share the server, so concurrent creation must work.
func TestNewDatabaseConcurrently(t *testing.T) {
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			var one int
			if err := connect(t, pg.NewDatabase(t)).QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil {
				t.Fatalf("query: %v", err)
			}
		})
	}
}

func TestNewDatabaseLongTestNameFits(t *testing.T) {
	t.Run(strings.Repeat("very long subtest name ", 10), func(t *testing.T) {
		dbURL := pg.NewDatabase(t)
		if n := len(dbName(t, dbURL)); n > 63 {
			t.Fatalf("database name is %d bytes, PostgreSQL truncates past 63", n)
		}
		connect(t, dbURL)
	})
}

func TestCreateDatabaseRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", strings.Repeat("x", 64)} {
		if _, err := pg.CreateDatabase(t.Context(), name); err == nil {
			t.Errorf("CreateDatabase(%q) succeeded", name)
		}
	}
}

func TestCreateDatabaseQuotesName(t *testing.T) {
	// A name needing quoting proves the statement is not built by plain
	// concatenation and that the URL escapes it. The clock keeps it unique
	// under -count and on an external server.
	name := fmt.Sprintf(`Odd "Name" ✓ %d`, time.Now().UnixNano())
	dbURL, err := pg.CreateDatabase(t.Context(), name)
	if err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, pg.URL())
		if err != nil {
			t.Errorf("connect to drop %q: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %q: %v", name, err)
		}
	})
	var current string
	if err := connect(t, dbURL).QueryRow(t.Context(), "SELECT current_database()").Scan(&current); err != nil {
		t.Fatalf("current_database: %v", err)
	}
	if current != name {
		t.Fatalf("connected to %q, want %q", current, name)
	}
}

func TestExternalServerFromEnv(t *testing.T) {
	t.Setenv(pgtest.EnvDatabaseURL, pg.URL())
	ext, err := pgtest.Start(t.Context(), pgtest.Options{})
	if err != nil {
		t.Fatalf("Start with %s set: %v", pgtest.EnvDatabaseURL, err)
	}
	if ext.URL() != pg.URL() {
		t.Fatalf("URL() = %s, want the one from the environment, %s", ext.URL(), pg.URL())
	}

	var name string
	t.Run("inner", func(t *testing.T) {
		dbURL := ext.NewDatabase(t)
		name = dbName(t, dbURL)
		connect(t, dbURL)
	})
	// The inner test has finished, so its database must be gone: nobody
	// else cleans up an external server.
	var exists bool
	err = connect(t, pg.URL()).QueryRow(t.Context(),
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatalf("look up database: %v", err)
	}
	if exists {
		t.Fatalf("database %q on the external server was not dropped after the test", name)
	}

	// Stopping must leave the external server running.
	if err := ext.Stop(); err != nil {
		t.Fatalf("Stop on external server: %v", err)
	}
	connect(t, pg.URL())
}

func TestStartRejectsNonPostgresURL(t *testing.T) {
	t.Setenv(pgtest.EnvDatabaseURL, "mysql://localhost/db")
	if _, err := pgtest.Start(t.Context(), pgtest.Options{}); err == nil {
		t.Fatal("Start accepted a mysql:// URL")
	}
}

func TestStopShutsDownAndCleansUp(t *testing.T) {
	if os.Getenv(pgtest.EnvDatabaseURL) != "" {
		t.Skipf("%s is set, so this run may have no local PostgreSQL to start", pgtest.EnvDatabaseURL)
	}
	began := time.Now()
	s, err := pgtest.Start(t.Context(), pgtest.Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("second server started in %v", time.Since(began))
	connect(t, s.URL()).Close(t.Context())

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL())
	if err == nil {
		conn.Close(ctx)
		t.Fatal("server still accepts connections after Stop")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("connecting after Stop hung instead of being refused: %v", err)
	}
}

func dbName(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("parse %s: %v", dbURL, err)
	}
	return strings.TrimPrefix(u.Path, "/")
}
