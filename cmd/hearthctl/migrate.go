package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/internal/docupgrade"
)

// loadNodeConfig reads a node's configuration as the node would: the file,
// then its HEARTH_* environment variables.
func (a *app) loadNodeConfig(path string) (config.Config, error) {
	fs, err := config.FlagSet("node")
	if err != nil {
		return config.Config{}, err
	}
	cfg, err := config.Load(fs, []string{"--config", path}, a.environ)
	if err != nil {
		return config.Config{}, fmt.Errorf("--config: %w", err)
	}
	return cfg, nil
}

func (a *app) migrateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Schema migrations",
	}
	var (
		cfgPath     string
		namespaces  []string
		maxFailures int
	)
	dry := &cobra.Command{
		Use:   "dry-run --config node.yaml",
		Short: "Load every stored profile in memory with a node configuration's migrations and templates; report which would fail",
		Long: `Reads every stored profile of the namespaces (--namespace, repeatable;
default every namespace with profiles) from one consistent snapshot of the
database, and does in memory what a node with --config does when it loads
one: migrate it to the namespace's current schema, reconcile it with the
template, check the document limit. It reports how many would migrate, and
names each profile that would fail and why. It writes nothing: the
database session is read only.

The database is --db, or the config's database.url. Exit status 3 when a
profile would fail.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return usageError{errors.New("migrate dry-run needs --config (the node's YAML file)")}
			}
			cfg, err := a.loadNodeConfig(cfgPath)
			if err != nil {
				return err
			}
			if a.db == "" {
				a.db = cfg.Database.URL
			}
			ctx := cmd.Context()
			st, err := a.openStore(ctx, true)
			if err != nil {
				return err
			}
			defer st.Close()
			if namespaces, err = a.namespacesOr(ctx, namespaces); err != nil {
				return err
			}
			bar := a.newProgress(-1, "checking", false)
			reports := []docupgrade.Report{}
			done, failed := 0, 0
			for _, ns := range namespaces {
				r, err := docupgrade.DryRun(ctx, st, ns, docupgrade.PolicyOf(cfg, ns), docupgrade.DryRunOptions{
					MaxFailures: maxFailures,
					Progress:    func(n int) { bar.set(int64(done + n)) },
				})
				if err != nil {
					return err
				}
				done += r.Profiles
				failed += r.Failed
				reports = append(reports, r)
			}
			bar.finish()
			if err := a.emit(reports, func(w io.Writer) { printDryRun(w, reports) }); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d profile(s) would fail to load: %w", failed, errFindings)
			}
			return nil
		},
	}
	dry.Flags().StringVar(&cfgPath, "config", "", "the node's YAML configuration (its namespaces' templates and migrations)")
	dry.Flags().StringArrayVar(&namespaces, "namespace", nil, "a namespace to check (repeatable; default: every namespace with profiles)")
	dry.Flags().IntVar(&maxFailures, "max-failures", 1000, "list at most this many failing profiles per namespace (all are counted)")
	cmd.AddCommand(dry)
	return cmd
}

func printDryRun(w io.Writer, reports []docupgrade.Report) {
	rows := make([][]any, 0, len(reports))
	for _, r := range reports {
		rows = append(rows, []any{r.Namespace, r.CurrentSchema, r.Profiles, r.Unchanged, r.Migrated, r.Reconciled, r.NeverSaved, r.Failed})
	}
	table(w, []any{"NAMESPACE", "SCHEMA", "PROFILES", "UNCHANGED", "MIGRATE", "RECONCILE", "NEVER SAVED", "WOULD FAIL"}, rows)
	for _, r := range reports {
		for _, f := range r.Failures {
			fmt.Fprintf(w, "FAIL %s (seq %d, schema %d): %s: %s\n", f.Profile, f.Seq, f.Schema, f.Reason, f.Error)
		}
		if r.Failed > len(r.Failures) {
			fmt.Fprintf(w, "... and %d more in %s (--max-failures)\n", r.Failed-len(r.Failures), r.Namespace)
		}
	}
}
