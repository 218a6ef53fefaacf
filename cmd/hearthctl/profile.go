package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

func (a *app) profileCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Read a profile, its history and status; restore or delete it (through the gateway)",
	}
	cmd.AddCommand(a.profileGet(), a.profileStatus(), a.profileHistory(), a.profileGetVersion(), a.profileRestore(), a.profileDelete())
	return cmd
}

// profileValue is a document (or part of one) as hearthctl prints it.
type profileValue struct {
	Profile string          `json:"profile"`
	Path    string          `json:"path,omitempty"`
	Version int64           `json:"version"`
	Value   json.RawMessage `json:"value"`
}

func (a *app) profileGet() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "get NAMESPACE/ID",
		Short: "Print a profile's document (or the value at --path)",
		Args:  args(1),
		RunE: onProfile(func(ctx context.Context, ref *hearthv1.ProfileRef, argv []string) error {
			res, err := a.client().Get(ctx, &hearthv1.GetRequest{Profile: ref, Path: path})
			if err != nil {
				return fmt.Errorf("get %s: %w", refString(ref), err)
			}
			v := profileValue{Profile: refString(ref), Path: path, Version: res.GetVersion(), Value: json.RawMessage(res.GetValue())}
			return a.emit(v, func(w io.Writer) {
				fmt.Fprintf(w, "# %s version %d\n", v.Profile, v.Version)
				writeIndented(w, v.Value)
			})
		}),
	}
	cmd.Flags().StringVar(&path, "path", "", "a JSON Pointer into the document (\"\" for all of it)")
	return cmd
}

// writeIndented prints JSON text indented (as it is if it is not JSON).
func writeIndented(w io.Writer, raw json.RawMessage) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		fmt.Fprintln(w, string(raw))
		return
	}
	_ = writeJSON(w, json.RawMessage(raw))
}

// profileStatus is StatusResponse as hearthctl prints it.
type profileStatus struct {
	Profile            string    `json:"profile"`
	Loaded             bool      `json:"loaded"`
	Node               string    `json:"node"`
	Epoch              int64     `json:"epoch"`
	SessionHolder      string    `json:"session_holder"`
	SessionRemainingMs uint32    `json:"session_remaining_ms"`
	Version            int64     `json:"version"`
	SavedVersion       int64     `json:"saved_version"`
	SavedSeq           int64     `json:"saved_seq"`
	Dirty              bool      `json:"dirty"`
	LastSave           time.Time `json:"last_save"`
	SchemaVersion      int64     `json:"schema_version"`
	UserIDs            []string  `json:"user_ids"`
}

func (a *app) profileStatus() *cobra.Command {
	return &cobra.Command{
		Use:   "status NAMESPACE/ID",
		Short: "Where a profile is loaded, who holds its session, what is saved",
		Args:  args(1),
		RunE: onProfile(func(ctx context.Context, ref *hearthv1.ProfileRef, argv []string) error {
			st, err := a.client().Status(ctx, &hearthv1.StatusRequest{Profile: ref})
			if err != nil {
				return fmt.Errorf("status of %s: %w", refString(ref), err)
			}
			s := profileStatus{Profile: refString(ref), Loaded: st.GetLoaded(), Node: st.GetNode(), Epoch: st.GetEpoch(),
				SessionHolder: st.GetSessionHolder(), SessionRemainingMs: st.GetSessionRemainingMs(), Version: st.GetVersion(),
				SavedVersion: st.GetSavedVersion(), SavedSeq: st.GetSavedSeq(), Dirty: st.GetDirty(),
				SchemaVersion: st.GetSchemaVersion(), UserIDs: st.GetUserIds()}
			if st.GetLastSave() != nil {
				s.LastSave = st.GetLastSave().AsTime()
			}
			if s.UserIDs == nil {
				s.UserIDs = []string{}
			}
			return a.emit(s, func(w io.Writer) {
				holder := s.SessionHolder
				if holder == "" {
					holder = "-"
				}
				table(w, []any{"PROFILE", "LOADED", "NODE", "EPOCH", "SESSION", "VERSION", "SAVED SEQ", "DIRTY", "LAST SAVE", "SCHEMA", "USER IDS"},
					[][]any{{s.Profile, s.Loaded, s.Node, s.Epoch, holder, s.Version, s.SavedSeq, s.Dirty, when(s.LastSave), s.SchemaVersion, s.UserIDs}})
			})
		}),
	}
}

// versionInfo is one retained snapshot.
type versionInfo struct {
	Seq           int64     `json:"seq"`
	Epoch         int64     `json:"epoch"`
	SchemaVersion int64     `json:"schema_version"`
	Version       int64     `json:"version,omitempty"`
	SizeBytes     int64     `json:"size_bytes"`
	SavedAt       time.Time `json:"saved_at"`
}

func versionOf(v *hearthv1.VersionInfo) versionInfo {
	return versionInfo{Seq: v.GetSeq(), Epoch: v.GetEpoch(), SchemaVersion: v.GetSchemaVersion(), Version: v.GetVersion(),
		SizeBytes: v.GetSizeBytes(), SavedAt: v.GetSavedAt().AsTime()}
}

func (a *app) profileHistory() *cobra.Command {
	return &cobra.Command{
		Use:   "history NAMESPACE/ID",
		Short: "List a profile's retained snapshots, newest first",
		Args:  args(1),
		RunE: onProfile(func(ctx context.Context, ref *hearthv1.ProfileRef, argv []string) error {
			res, err := a.client().ListVersions(ctx, &hearthv1.ListVersionsRequest{Profile: ref})
			if err != nil {
				return fmt.Errorf("history of %s: %w", refString(ref), err)
			}
			out := []versionInfo{}
			for _, v := range res.GetVersions() {
				out = append(out, versionOf(v))
			}
			return a.emit(out, func(w io.Writer) {
				rows := make([][]any, 0, len(out))
				for _, v := range out {
					rows = append(rows, []any{v.Seq, v.Epoch, v.SchemaVersion, v.SizeBytes, when(v.SavedAt)})
				}
				table(w, []any{"SEQ", "EPOCH", "SCHEMA", "BYTES", "SAVED AT"}, rows)
			})
		}),
	}
}

func parseSeq(s string) (int64, error) {
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 1 {
		return 0, usageError{fmt.Errorf("seq %q: want a snapshot's seq (a positive number; see history)", s)}
	}
	return seq, nil
}

func (a *app) profileGetVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "get-version NAMESPACE/ID SEQ",
		Short: "Print one retained snapshot's document",
		Args:  args(2),
		RunE: onProfile(func(ctx context.Context, ref *hearthv1.ProfileRef, argv []string) error {
			seq, err := parseSeq(argv[1])
			if err != nil {
				return err
			}
			res, err := a.client().GetVersion(ctx, &hearthv1.GetVersionRequest{Profile: ref, Seq: seq})
			if err != nil {
				return fmt.Errorf("get version %d of %s: %w", seq, refString(ref), err)
			}
			out := struct {
				Profile  string          `json:"profile"`
				Info     versionInfo     `json:"info"`
				Document json.RawMessage `json:"document"`
			}{refString(ref), versionOf(res.GetInfo()), json.RawMessage(res.GetDocument())}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "# %s seq %d (version %d, saved %s)\n", out.Profile, out.Info.Seq, out.Info.Version, when(out.Info.SavedAt))
				writeIndented(w, out.Document)
			})
		}),
	}
}

// heldRefusal explains a Delete or Restore refused because a session
// holds the profile.
func heldRefusal(err error, what string, ref *hearthv1.ProfileRef) error {
	var ce *messages.CodeError
	if errors.As(err, &ce) && ce.Code == hearthv1.ErrorCode_ERROR_CODE_SESSION_CONFLICT {
		return fmt.Errorf("%s %s refused: session %q holds it; pass --session-token with its token, or --force to %s anyway (the holder is told and its token stops working): %w",
			what, refString(ref), ce.HolderSession, what, err)
	}
	return fmt.Errorf("%s %s: %w", what, refString(ref), err)
}

func (a *app) profileRestore() *cobra.Command {
	var (
		force bool
		token string
	)
	cmd := &cobra.Command{
		Use:   "restore NAMESPACE/ID SEQ",
		Short: "Make a retained snapshot the current document (a new version, saved durably)",
		Args:  args(2),
		RunE: onProfile(func(ctx context.Context, ref *hearthv1.ProfileRef, argv []string) error {
			seq, err := parseSeq(argv[1])
			if err != nil {
				return err
			}
			res, err := a.client().Restore(ctx, &hearthv1.RestoreRequest{Profile: ref, Seq: seq, SessionToken: token, Force: force})
			if err != nil {
				return heldRefusal(err, "restore", ref)
			}
			out := struct {
				Profile  string `json:"profile"`
				Restored int64  `json:"restored_seq"`
				Version  int64  `json:"version"`
				SavedSeq int64  `json:"saved_seq"`
			}{refString(ref), seq, res.GetVersion(), res.GetSavedSeq()}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "restored %s to seq %d: now version %d, saved as seq %d\n", out.Profile, seq, out.Version, out.SavedSeq)
			})
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "restore even though a session holds the profile")
	cmd.Flags().StringVar(&token, "session-token", "", "the holding session's token")
	return cmd
}

func (a *app) profileDelete() *cobra.Command {
	var (
		force bool
		token string
	)
	cmd := &cobra.Command{
		Use:   "delete NAMESPACE/ID",
		Short: "Erase a profile, its history, purchases and user ids",
		Args:  args(1),
		RunE: onProfile(func(ctx context.Context, ref *hearthv1.ProfileRef, argv []string) error {
			if _, err := a.client().Delete(ctx, &hearthv1.DeleteRequest{Profile: ref, SessionToken: token, Force: force}); err != nil {
				return heldRefusal(err, "delete", ref)
			}
			out := struct {
				Profile string `json:"profile"`
				Deleted bool   `json:"deleted"`
			}{refString(ref), true}
			return a.emit(out, func(w io.Writer) { fmt.Fprintf(w, "deleted %s\n", out.Profile) })
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete even though a session holds the profile")
	cmd.Flags().StringVar(&token, "session-token", "", "the holding session's token")
	return cmd
}
