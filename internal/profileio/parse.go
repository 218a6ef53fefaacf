package profileio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/persistence"
)

// Shapes of import lines.
const (
	ShapeHearth       = "hearth"       // Line, as Export writes it
	ShapeProfileStore = "profilestore" // a DataStore entry holding a ProfileStore / ProfileService profile
	ShapeDataStore    = "datastore"    // a DataStore entry holding a plain table
)

// Record is one profile to import, whatever shape its line had.
type Record struct {
	Key persistence.ProfileKey
	// Schema is the schema version the document is at (0 for Roblox
	// lines, which have none).
	Schema int64
	// Document is the decoded document (document.Decode), an object.
	Document any
	// UserIDs are the ids to add, sorted, none twice.
	UserIDs []string
	Shape   string
	// Warnings name what the line carried that the import drops.
	Warnings []string
}

// ErrBadLine: a line is not an import line of a known shape, or breaks a
// rule (the message says which). Every parse error wraps it.
var ErrBadLine = errors.New("bad import line")

func badLine(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadLine, fmt.Sprintf(format, args...))
}

// ParseLine reads one line: Hearth's Line (it has "document") or a Roblox
// DataStore entry (it has "key"). Unknown members are refused, as the API
// refuses them. namespace is used for lines that name none (Roblox lines
// always, Hearth lines when "namespace" is empty).
func ParseLine(line []byte, namespace string) (Record, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(line, &probe); err != nil {
		return Record{}, badLine("not a JSON object: %v", err)
	}
	var (
		r   Record
		err error
	)
	switch {
	case probe["document"] != nil:
		r, err = parseHearth(line)
	case probe["key"] != nil:
		r, err = parseRoblox(line)
	default:
		return Record{}, badLine(`neither shape: a Hearth line has "namespace", "id" and "document"; a DataStore entry has "key", "data", "metadata" and "user_ids"`)
	}
	if err != nil {
		return Record{}, err
	}
	if r.Key.Namespace == "" {
		r.Key.Namespace = namespace
	}
	if r.Key.Namespace == "" {
		return Record{}, badLine("profile %q: the line names no namespace; give one (--namespace)", r.Key.ID)
	}
	if err := persistence.ValidateKey(r.Key); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrBadLine, err)
	}
	slices.Sort(r.UserIDs)
	r.UserIDs = slices.Compact(r.UserIDs)
	if r.UserIDs == nil {
		r.UserIDs = []string{}
	}
	if err := persistence.ValidateUserIDs(r.UserIDs); err != nil {
		return Record{}, fmt.Errorf("%w: profile %s: %w", ErrBadLine, r.Key, err)
	}
	return r, nil
}

// strict decodes data into v refusing unknown members.
func strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	return dec.Decode(v)
}

func parseHearth(line []byte) (Record, error) {
	var l Line
	if err := strict(line, &l); err != nil {
		return Record{}, badLine("Hearth line: %v", err)
	}
	if l.ID == "" {
		return Record{}, badLine(`Hearth line without "id"`)
	}
	if l.SchemaVersion < 0 {
		return Record{}, badLine("profile %s: negative schema_version %d", l.ID, l.SchemaVersion)
	}
	doc, err := objectDocument(l.Document)
	if err != nil {
		return Record{}, fmt.Errorf("%w: profile %s: document: %w", ErrBadLine, l.ID, err)
	}
	return Record{Key: persistence.ProfileKey{Namespace: l.Namespace, ID: l.ID}, Schema: l.SchemaVersion, Document: doc,
		UserIDs: slices.Clone(l.UserIDs), Shape: ShapeHearth}, nil
}

// objectDocument decodes raw with the document package's rules (valid
// UTF-8, nesting, exact numbers) and requires an object.
func objectDocument(raw []byte) (map[string]any, error) {
	v, err := document.Decode(raw)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be an object (a profile document's root is one), not %s", document.TypeName(v))
	}
	return obj, nil
}
