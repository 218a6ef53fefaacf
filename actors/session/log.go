package session

import (
	"fmt"
	"log/slog"
	"time"
)

// String describes the state for logs. It never prints the token: logs are
// read by more people than may write to a player's profile. The holder is
// quoted, since a State loaded from a snapshot may hold any bytes.
func (s State) String() string {
	switch {
	case s.Holder == "" && s.Released:
		return fmt.Sprintf("free (released, gen %d)", s.Gen)
	case s.Holder == "" && s.Gen == 0:
		return "free (never held)"
	case s.Holder == "":
		return fmt.Sprintf("free (gen %d)", s.Gen)
	case s.ExpiresAt.IsZero():
		// Loaded from a snapshot and not rebased yet.
		return fmt.Sprintf("held by %s, expiry not set (gen %d)", printable(s.Holder), s.Gen)
	default:
		return fmt.Sprintf("held by %s until %s (gen %d)",
			printable(s.Holder), s.ExpiresAt.Format(time.RFC3339Nano), s.Gen)
	}
}

// GoString is String, so that %#v does not print the token either.
func (s State) GoString() string { return "session.State{" + s.String() + "}" }

// LogValue makes log/slog print String: without it a JSON handler would
// marshal the struct, token included (the json tags exist for snapshots).
func (s State) LogValue() slog.Value { return slog.StringValue(s.String()) }
