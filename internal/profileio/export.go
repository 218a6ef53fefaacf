package profileio

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/persistence"
)

// Source reads a namespace's live profiles from one consistent state of
// the store (persistence.ProfileLister's Export).
type Source interface {
	Export(ctx context.Context, namespace string, fn func(persistence.ListedProfile) error) error
}

// Unreadable is a stored profile whose snapshot could not be decoded; it
// is left out of the export.
type Unreadable struct {
	Profile string `json:"profile"` // namespace/id
	Seq     int64  `json:"seq"`
	Error   string `json:"error"`
}

// ExportStats counts what Export wrote.
type ExportStats struct {
	Namespaces []string `json:"namespaces"`
	// Profiles is the number of lines written.
	Profiles int `json:"profiles"`
	// NeverSaved counts profiles without a snapshot (created but never
	// saved: the API reports them as not found); they are not written.
	NeverSaved int `json:"never_saved"`
	// Unreadable lists the profiles left out because their stored
	// document could not be decoded.
	Unreadable []Unreadable `json:"unreadable"`
}

// Export writes every live profile of each namespace to w as NDJSON
// Lines, in namespace then id order. Each namespace is read from one
// consistent state of the store (its own: namespaces are read one after
// the other). progress, if set, is called after each profile with the
// number read so far.
func Export(ctx context.Context, src Source, namespaces []string, w io.Writer, progress func(done int)) (ExportStats, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	stats := ExportStats{Namespaces: append([]string{}, namespaces...), Unreadable: []Unreadable{}}
	read := 0
	for _, ns := range namespaces {
		err := src.Export(ctx, ns, func(lp persistence.ListedProfile) error {
			read++
			if progress != nil {
				defer progress(read)
			}
			snap := lp.Snapshot
			if snap == nil {
				stats.NeverSaved++
				return nil
			}
			doc, version, err := activation.DecodeStored(snap.Document)
			if err != nil {
				stats.Unreadable = append(stats.Unreadable, Unreadable{Profile: lp.Key.String(), Seq: snap.Seq, Error: err.Error()})
				return nil
			}
			users := lp.UserIDs
			if users == nil {
				users = []string{}
			}
			line := Line{Namespace: lp.Key.Namespace, ID: lp.Key.ID, Version: version, SchemaVersion: snap.SchemaVersion,
				UserIDs: users, SavedAt: snap.SavedAt.UTC(), Document: doc}
			if err := enc.Encode(line); err != nil {
				return fmt.Errorf("write %s: %w", lp.Key, err)
			}
			stats.Profiles++
			return nil
		})
		if err != nil {
			return stats, fmt.Errorf("export %s: %w", ns, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return stats, fmt.Errorf("export: %w", err)
	}
	return stats, nil
}
