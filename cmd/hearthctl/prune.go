package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-profiles/hearth/persistence"
)

func (a *app) pruneCommand() *cobra.Command {
	var olderThan time.Duration
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION",
		Short: "Delete ended node incarnations and erased profiles' tombstones older than a retention window",
		Long: `Deletes, in one transaction (--db), node incarnations whose lease ended
more than --older-than ago and that no profile names as owner, and the
tombstones of profiles erased more than --older-than ago. The window must
be at least 24h (the store refuses less): far longer than any lease, so
nothing still running can hold what is pruned, and a pruned node id can
never own a profile again (docs/ARCHITECTURE.md, "Pruning"). A profile
re-created after its tombstone was pruned starts its epochs at 1 again.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("older-than") {
				return usageError{errors.New("prune needs --older-than (at least 24h; for example 720h, 30 days)")}
			}
			ctx := cmd.Context()
			st, err := a.openStore(ctx, false)
			if err != nil {
				return err
			}
			defer st.Close()
			pruned, err := st.PruneTombstones(ctx, olderThan)
			if errors.Is(err, persistence.ErrInvalid) {
				return usageError{fmt.Errorf("--older-than: %w", err)}
			}
			if err != nil {
				return err
			}
			out := struct {
				OlderThan string `json:"older_than"`
				Nodes     int    `json:"nodes"`
				Profiles  int    `json:"profiles"`
			}{olderThan.String(), pruned.Nodes, pruned.Profiles}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "pruned %d node incarnation(s) and %d profile tombstone(s) older than %s\n", out.Nodes, out.Profiles, olderThan)
			})
		},
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "the retention window: prune what ended longer ago than this (at least 24h)")
	return cmd
}
