package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hearth-profiles/hearth/internal/profileio"
)

func (a *app) exportCommand() *cobra.Command {
	var (
		namespaces []string
		out        string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every profile of a namespace (or all) as NDJSON, from one consistent snapshot",
		Long: `Streams the live profiles of each namespace (--namespace, repeatable;
default every namespace with profiles) from the database (--db, read only)
as NDJSON, one line per profile:

  {"namespace":"game","id":"p1","version":7,"schema_version":2,"user_ids":["u1"],
   "saved_at":"2026-11-29T00:50:43.8Z","document":{"coins":5}}

Each namespace is read from one consistent snapshot (PostgreSQL: one
REPEATABLE READ read-only transaction; CockroachDB: AS OF SYSTEM TIME when
it began), so profiles saved while it runs appear as they were. The lines
go to --out (written to a temporary file, renamed when complete) or to
stdout. A profile whose stored document cannot be read is left out and
reported (exit status 3). Profiles created but never saved are skipped.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.openStore(ctx, true)
			if err != nil {
				return err
			}
			defer st.Close()
			if namespaces, err = a.namespacesOr(ctx, namespaces); err != nil {
				return err
			}
			w, commit, abort, err := a.output(out)
			if err != nil {
				return err
			}
			bar := a.newProgress(-1, "exporting", false)
			stats, err := profileio.Export(ctx, st, namespaces, w, func(n int) { bar.set(int64(n)) })
			bar.finish()
			if err == nil {
				err = commit()
			}
			if err != nil {
				abort()
				return err
			}
			// The summary goes to stdout only when the profiles do not.
			summary := a.stdout
			if out == "" || out == "-" {
				summary = a.stderr
			}
			if a.jsonOut {
				if err := writeJSON(summary, stats); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(summary, "exported %d profile(s) of %v (%d never saved, skipped)\n", stats.Profiles, stats.Namespaces, stats.NeverSaved)
				for _, u := range stats.Unreadable {
					fmt.Fprintf(summary, "UNREADABLE %s seq %d: %s\n", u.Profile, u.Seq, u.Error)
				}
			}
			if len(stats.Unreadable) > 0 {
				return fmt.Errorf("%d profile(s) could not be read and are not in the export: %w", len(stats.Unreadable), errFindings)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&namespaces, "namespace", nil, "a namespace to export (repeatable; default: every namespace with profiles)")
	cmd.Flags().StringVar(&out, "out", "", "the file to write (default: stdout)")
	return cmd
}

// output opens where an export goes: stdout, or a temporary file beside
// path that commit renames into place (so a failed export never leaves a
// file that looks complete) and abort removes.
func (a *app) output(path string) (w io.Writer, commit func() error, abort func(), err error) {
	if path == "" || path == "-" {
		return a.stdout, func() error { return nil }, func() {}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--out: %w", err)
	}
	commit = func() error {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		if err := os.Rename(f.Name(), path); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		return nil
	}
	abort = func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	return f, commit, abort, nil
}
