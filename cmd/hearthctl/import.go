package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hearth-profiles/hearth/internal/docupgrade"
	"github.com/hearth-profiles/hearth/internal/profileio"
)

// importReport is what import prints with --json.
type importReport struct {
	Summary profileio.ImportSummary `json:"summary"`
	// Problems lists the lines that were refused, failed or dropped
	// something; imported and duplicate lines are only counted.
	Problems []profileio.LineResult `json:"problems"`
}

func (a *app) importCommand() *cobra.Command {
	var (
		namespace string
		cfgPath   string
		asCurrent bool
		force     bool
		workers   int
	)
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Write profiles from NDJSON (a Hearth export, or a Roblox ProfileStore / DataStore export) through the gateway",
		Long: `Reads NDJSON from FILE ("-" for stdin). Each line is a Hearth export
line or a Roblox DataStore entry {"key","data","metadata","user_ids"}
(a ProfileStore or ProfileService profile in data is recognised:
Data becomes the document, UserIds the user ids; docs/OPERATIONS.md
says what is dropped). Each profile is written through the gateway as one
durable Update that sets the whole document and adds the user ids, with an
idempotency key derived from what it writes: a re-run answers "duplicate"
and changes nothing. A profile a live session holds is refused unless
--force. Bad lines and failed writes are reported and the import goes on
(exit status 3).

The documents must be brought to the node's schema: give the node's
--config (each document is migrated from its line's schema_version and
reconciled with the template, as a node does on load), or
--as-current-schema to write them as they are.`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if (cfgPath == "") == !asCurrent {
				return usageError{errors.New("import needs exactly one of --config (the node's YAML: documents are migrated to its schema) and --as-current-schema (documents are written as they are)")}
			}
			o := profileio.ImportOptions{Namespace: namespace, Force: force, Workers: workers}
			if cfgPath != "" {
				cfg, err := a.loadNodeConfig(cfgPath)
				if err != nil {
					return err
				}
				o.Policy = func(ns string) docupgrade.Policy { return docupgrade.PolicyOf(cfg, ns) }
			}
			in, size, closeIn, err := a.input(argv[0])
			if err != nil {
				return err
			}
			defer closeIn()
			bar := a.newProgress(size, "importing", true)
			o.Progress = bar.set
			report := importReport{Problems: []profileio.LineResult{}}
			sum, err := profileio.Import(cmd.Context(), a.client(), in, o, func(r profileio.LineResult) {
				if r.Outcome != profileio.Refused && r.Outcome != profileio.Failed && len(r.Warnings) == 0 {
					return
				}
				if a.jsonOut {
					report.Problems = append(report.Problems, r)
					return
				}
				bar.clear()
				printLine(a.stdout, r)
			})
			bar.finish()
			report.Summary = sum
			if perr := a.emit(report, func(w io.Writer) {
				fmt.Fprintf(w, "%d line(s): %d imported, %d duplicate (imported before), %d refused (held), %d failed, %d with warnings\n",
					sum.Lines, sum.Imported, sum.Duplicates, sum.Refused, sum.Failed, sum.Warned)
			}); perr != nil {
				return perr
			}
			if err != nil {
				return err
			}
			if sum.Refused+sum.Failed > 0 {
				return fmt.Errorf("%d line(s) not imported: %w", sum.Refused+sum.Failed, errFindings)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&namespace, "namespace", "", "the namespace of lines that name none (Roblox lines)")
	cmd.Flags().StringVar(&cfgPath, "config", "", "the node's YAML configuration: migrate each document to its namespace's schema and reconcile it")
	cmd.Flags().BoolVar(&asCurrent, "as-current-schema", false, "write documents as they are, taking them to be at the node's current schema")
	cmd.Flags().BoolVar(&force, "force", false, "also write profiles that a live session holds (its holder sees the change in its events)")
	cmd.Flags().IntVar(&workers, "workers", 4, "lines written at once (a profile's lines stay in file order)")
	return cmd
}

func printLine(w io.Writer, r profileio.LineResult) {
	profile := ""
	if r.Profile != "" {
		profile = " " + r.Profile
	}
	if r.Outcome == profileio.Refused || r.Outcome == profileio.Failed {
		fmt.Fprintf(w, "line %d%s: %s: %s\n", r.Line, profile, strings.ToUpper(string(r.Outcome)), r.Error)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "line %d%s: warning (%s): %s\n", r.Line, profile, r.Outcome, warn)
	}
}

// input opens FILE or stdin, with its size for the progress bar (-1 when
// unknown).
func (a *app) input(path string) (io.Reader, int64, func(), error) {
	if path == "-" {
		return a.stdin, -1, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return f, size, func() { _ = f.Close() }, nil
}
