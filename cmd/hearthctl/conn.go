package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/hearth-profiles/hearth/cluster/client"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/sqlstore"
)

// client is the Go client over the gateway: deadlines (--timeout), retries
// of what is safe to retry, typed errors.
func (a *app) client() *client.Client {
	return client.New(client.NewGateway(a.httpClient, a.gateway, a.token), client.Options{Timeout: a.timeout})
}

// readOnlyParam makes every transaction of a session read only, on
// PostgreSQL and CockroachDB alike: the database itself refuses a write
// from the commands that only read.
const readOnlyParam = "default_transaction_read_only"

// openStore opens the database named by --db, without migrating its
// schema (that is the nodes' job). Read-only stores run every transaction
// read only.
func (a *app) openStore(ctx context.Context, readOnly bool) (*sqlstore.Store, error) {
	dbURL, err := a.dbURL(readOnly)
	if err != nil {
		return nil, err
	}
	return sqlstore.Open(ctx, dbURL, sqlstore.Options{MaxConns: 4, SkipMigrations: true})
}

func (a *app) dbURL(readOnly bool) (string, error) {
	if a.db == "" {
		return "", usageError{errors.New("this command reads the store: give --db URL (or " + envDB + ")")}
	}
	if !readOnly {
		return a.db, nil
	}
	return withSessionParam(a.db, readOnlyParam, "on")
}

// withSessionParam sets a session parameter in a database URL
// (postgres://...) or key=value connection string, replacing the
// operator's value: the tool's guarantee wins.
func withSessionParam(dbURL, name, value string) (string, error) {
	if !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://") {
		return dbURL + " " + name + "=" + value, nil // libpq: a later key wins
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", fmt.Errorf("--db: %w", err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// namespacesOr returns given, sorted, or when it is empty every namespace
// with live profiles.
func (a *app) namespacesOr(ctx context.Context, given []string) ([]string, error) {
	if len(given) == 0 {
		return a.storedNamespaces(ctx)
	}
	out := slices.Clone(given)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// storedNamespaces lists the namespaces that have live profiles. The store
// API has no such listing (persistence.ProfileLister works per namespace),
// so it is one read-only query here.
func (a *app) storedNamespaces(ctx context.Context) ([]string, error) {
	dbURL, err := a.dbURL(true)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT DISTINCT namespace FROM hearth_profiles WHERE NOT deleted ORDER BY namespace`)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	return out, nil
}

// onProfile is the RunE of a command whose first argument is NAMESPACE/ID:
// run gets the profile, and all the arguments.
func onProfile(run func(ctx context.Context, ref *hearthv1.ProfileRef, argv []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, argv []string) error {
		ref, err := parseProfile(argv[0])
		if err != nil {
			return err
		}
		return run(cmd.Context(), ref, argv)
	}
}

// parseProfile reads NAMESPACE/ID.
func parseProfile(s string) (*hearthv1.ProfileRef, error) {
	ns, id, ok := strings.Cut(s, "/")
	if !ok {
		return nil, usageError{fmt.Errorf("profile %q: write it NAMESPACE/ID", s)}
	}
	if err := persistence.ValidateKey(persistence.ProfileKey{Namespace: ns, ID: id}); err != nil {
		return nil, usageError{fmt.Errorf("profile %q: %w", s, err)}
	}
	return &hearthv1.ProfileRef{Namespace: ns, Id: id}, nil
}

func refString(r *hearthv1.ProfileRef) string { return r.GetNamespace() + "/" + r.GetId() }
