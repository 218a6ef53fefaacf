package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
	"github.com/hearth-profiles/hearth/persistence"
)

func (a *app) userCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Data by user id (GDPR)",
	}
	cmd.AddCommand(a.userErase())
	return cmd
}

// erased is one profile of an erasure.
type erased struct {
	Profile string `json:"profile"`
	Erased  bool   `json:"erased"`
	Error   string `json:"error,omitempty"`
}

// erasure is what user erase reports.
type erasure struct {
	User string `json:"user"`
	// DryRun: nothing was deleted (no --confirm).
	DryRun   bool     `json:"dry_run"`
	Profiles []erased `json:"profiles"`
	// Remaining lists the profiles still carrying the user id after the
	// erasure (a failed delete, or a profile saved with the id meanwhile).
	Remaining []string `json:"remaining"`
}

func (a *app) userErase() *cobra.Command {
	var confirm bool
	cmd := &cobra.Command{
		Use:   "erase USER_ID",
		Short: "Delete every profile carrying a user id (dry run unless --confirm)",
		Long: `Finds every live profile whose newest save carries USER_ID (in every
namespace; --db) and deletes each through the gateway with force, so its
owner erases it fenced and a session holding it is told and ends. Without
--confirm it only lists what it would delete. A profile carrying several
user ids is deleted whole. User ids added by an update that is not saved
yet are found after the profile's next save.

After deleting it looks again and reports any profile that still carries
the id; the exit status is 3 if a delete failed or one remains.`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			user := argv[0]
			if err := persistence.ValidateUserID(user); err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			st, err := a.openStore(ctx, true)
			if err != nil {
				return err
			}
			defer st.Close()
			keys, err := st.ProfilesByUser(ctx, user)
			if err != nil {
				return err
			}
			out := erasure{User: user, DryRun: !confirm, Profiles: []erased{}, Remaining: []string{}}
			if !confirm {
				for _, k := range keys {
					out.Profiles = append(out.Profiles, erased{Profile: k.String()})
				}
				return a.emit(out, func(w io.Writer) {
					fmt.Fprintf(w, "user %s: %d profile(s) would be erased (dry run; --confirm erases them)\n", user, len(keys))
					for _, k := range keys {
						fmt.Fprintf(w, "  %s\n", k)
					}
				})
			}
			c := a.client()
			bar := a.newProgress(int64(len(keys)), "erasing", false)
			failed := false
			for i, k := range keys {
				ref := &hearthv1.ProfileRef{Namespace: k.Namespace, Id: k.ID}
				_, err := c.Delete(ctx, &hearthv1.DeleteRequest{Profile: ref, Force: true})
				e := erased{Profile: k.String(), Erased: err == nil || errors.Is(err, messages.ErrNotFound)}
				if !e.Erased {
					e.Error, failed = err.Error(), true
				}
				out.Profiles = append(out.Profiles, e)
				bar.set(int64(i + 1))
			}
			bar.finish()
			left, err := st.ProfilesByUser(ctx, user)
			if err != nil {
				return fmt.Errorf("erased %d profile(s), then could not look again: %w", len(keys), err)
			}
			for _, k := range left {
				out.Remaining = append(out.Remaining, k.String())
			}
			if err := a.emit(out, func(w io.Writer) {
				for _, e := range out.Profiles {
					if e.Erased {
						fmt.Fprintf(w, "erased %s\n", e.Profile)
					} else {
						fmt.Fprintf(w, "FAILED %s: %s\n", e.Profile, e.Error)
					}
				}
				for _, r := range out.Remaining {
					fmt.Fprintf(w, "STILL CARRIES %s: %s\n", user, r)
				}
				fmt.Fprintf(w, "user %s: %d profile(s) found, %d remain\n", user, len(keys), len(out.Remaining))
			}); err != nil {
				return err
			}
			if failed || len(out.Remaining) > 0 {
				return fmt.Errorf("erasure of user %s incomplete: %w", user, errFindings)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&confirm, "confirm", false, "delete them (without it, only list them)")
	return cmd
}
