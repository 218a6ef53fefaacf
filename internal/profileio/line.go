// Package profileio moves profiles in and out of a Hearth cluster as
// NDJSON (one JSON object per line).
//
// Export reads one consistent state of the store (persistence.ProfileLister's
// Export) and writes one Line per profile. Import reads lines of that shape
// or of a Roblox ProfileStore / DataStore export (roblox.go), and writes each
// profile through the gateway as one fenced Update with an idempotency key
// derived from what it writes (key.go), so a re-run changes nothing.
package profileio

import (
	"encoding/json"
	"time"
)

// Line is one profile in Hearth's export format.
//
//	{"namespace":"game","id":"p1","version":7,"schema_version":2,
//	 "user_ids":["u1"],"saved_at":"2026-11-29T00:50:43.8Z","document":{"coins":5}}
//
// Version is the document version and SavedAt the time of the snapshot
// exported; both are informational on import (the node numbers versions
// itself). SchemaVersion is the schema the document is at; an import
// migrates from it. Document is the profile as JSON (an object), not a
// string.
type Line struct {
	Namespace     string          `json:"namespace"`
	ID            string          `json:"id"`
	Version       int64           `json:"version"`
	SchemaVersion int64           `json:"schema_version"`
	UserIDs       []string        `json:"user_ids"`
	SavedAt       time.Time       `json:"saved_at"`
	Document      json.RawMessage `json:"document"`
}
