package profileio

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/persistence"
)

// A Roblox DataStore export line is one DataStore entry:
//
//	{"key":"Player_123","data":<the entry's value>,"metadata":{...},"user_ids":[123]}
//
// key is the DataStore key (it becomes the profile id, unchanged, so it
// must follow the profile id rules); metadata is the entry's custom
// metadata and user_ids its associated user ids (DataStoreKeyInfo).
//
// When data is a ProfileStore (or ProfileService) profile, the table those
// libraries save,
//
//	{"Data":{...},"MetaData":{"ProfileCreateTime":..,"SessionLoadCount":..,"ActiveSession":..,
//	 "ForceLoadSession":..,"LastUpdate":..,"MetaTags":{}},"RobloxMetaData":{},"UserIds":[123],
//	 "GlobalUpdates":[index,[[update_id,data],...]]}
//
// the import keeps:
//   - Data, as the profile's document;
//   - UserIds and the entry's user_ids, as the profile's user ids (decimal).
//
// and drops, saying so in the line's warnings when they hold anything:
//   - MetaData: the library's session lock and load counters (Hearth keeps
//     its own sessions), its timestamps, and MetaTags; a non-empty
//     MetaTags and a set ActiveSession (the export was taken while a
//     server held the profile, so it may miss that server's last changes)
//     are warned about;
//   - GlobalUpdates: pending messages (MessageAsync) and global updates not
//     yet processed by the game; Hearth has no queue to put them in, so
//     their number is warned about;
//   - RobloxMetaData and the entry's metadata: Roblox key metadata.
//
// Any other data (a plain table saved with SetAsync/UpdateAsync) is taken
// whole as the document, and must be an object.

// robloxLine is a DataStore entry.
type robloxLine struct {
	Key      string            `json:"key"`
	Data     json.RawMessage   `json:"data"`
	Metadata json.RawMessage   `json:"metadata"`
	UserIDs  []json.RawMessage `json:"user_ids"`
}

// profileStoreMembers are the members ProfileStore and ProfileService
// save (WasOverwritten is a transient flag of theirs).
var profileStoreMembers = []string{"Data", "MetaData", "RobloxMetaData", "UserIds", "GlobalUpdates", "WasOverwritten"}

func parseRoblox(line []byte) (Record, error) {
	var l robloxLine
	if err := strict(line, &l); err != nil {
		return Record{}, badLine("DataStore entry: %v", err)
	}
	if l.Key == "" {
		return Record{}, badLine(`DataStore entry with an empty "key"`)
	}
	if err := persistence.ValidateProfileID(l.Key); err != nil {
		return Record{}, fmt.Errorf("%w: DataStore key %q cannot be a profile id: %w", ErrBadLine, l.Key, err)
	}
	if len(l.Data) == 0 {
		return Record{}, badLine(`DataStore entry %q without "data"`, l.Key)
	}
	r := Record{Key: persistence.ProfileKey{ID: l.Key}}
	for i, raw := range l.UserIDs {
		id, err := robloxUserID(raw)
		if err != nil {
			return Record{}, fmt.Errorf("%w: DataStore entry %q: user_ids[%d]: %w", ErrBadLine, l.Key, i, err)
		}
		r.UserIDs = append(r.UserIDs, id)
	}
	data, err := document.Decode(l.Data)
	if err != nil {
		return Record{}, fmt.Errorf("%w: DataStore entry %q: data: %w", ErrBadLine, l.Key, err)
	}
	if meta, err := document.Decode(l.Metadata); len(l.Metadata) > 0 && err == nil && !empty(meta) {
		r.Warnings = append(r.Warnings, "dropped the entry's metadata")
	}
	table, ok := data.(map[string]any)
	if !ok {
		return Record{}, badLine("DataStore entry %q: data must be a table with string keys (a profile document is an object), not %s", l.Key, document.TypeName(data))
	}
	if !isProfileStore(table) {
		r.Shape, r.Document = ShapeDataStore, table
		return r, nil
	}
	r.Shape, r.Document = ShapeProfileStore, asObject(table["Data"])
	ids, err := profileStoreUserIDs(table["UserIds"])
	if err != nil {
		return Record{}, fmt.Errorf("%w: DataStore entry %q: UserIds: %w", ErrBadLine, l.Key, err)
	}
	r.UserIDs = append(r.UserIDs, ids...)
	r.Warnings = append(r.Warnings, profileStoreDrops(table)...)
	return r, nil
}

// isProfileStore recognises the table ProfileStore and ProfileService
// save, as they do: Data and MetaData both tables. An empty Lua table
// may have been exported as [] (Roblox's JSONEncode writes it so).
func isProfileStore(t map[string]any) bool {
	return isTable(t["Data"]) && isTable(t["MetaData"])
}

func isTable(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return true
	case []any:
		return len(x) == 0
	}
	return false
}

// asObject is a table as an object: an empty table exported as [] is {}.
func asObject(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// profileStoreDrops describes what of a ProfileStore table the import
// drops that held anything.
func profileStoreDrops(t map[string]any) []string {
	var out []string
	meta := asObject(t["MetaData"])
	if !empty(meta["MetaTags"]) {
		out = append(out, "dropped MetaData.MetaTags")
	}
	if meta["ActiveSession"] != nil {
		out = append(out, "MetaData.ActiveSession is set: a server held the profile when it was exported, so the export may miss its last changes")
	}
	if n := pendingGlobalUpdates(t["GlobalUpdates"]); n > 0 {
		out = append(out, fmt.Sprintf("dropped %d pending GlobalUpdates (messages the game had not processed)", n))
	}
	if !empty(t["RobloxMetaData"]) {
		out = append(out, "dropped RobloxMetaData")
	}
	var extra []string
	for k := range t {
		if !slices.Contains(profileStoreMembers, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		out = append(out, "dropped unknown members "+strings.Join(extra, ", "))
	}
	return out
}

// pendingGlobalUpdates counts the updates in {update_index, {update, ...}}.
func pendingGlobalUpdates(v any) int {
	gu, ok := v.([]any)
	if !ok || len(gu) < 2 {
		return 0
	}
	list, _ := gu[1].([]any)
	return len(list)
}

// empty: nil, or an object or array without members.
func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// profileStoreUserIDs reads the UserIds array (numbers).
func profileStoreUserIDs(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		if m, isMap := v.(map[string]any); isMap && len(m) == 0 {
			return nil, nil // an empty table exported as {}
		}
		return nil, fmt.Errorf("must be an array, not %s", document.TypeName(v))
	}
	out := make([]string, 0, len(list))
	for i, x := range list {
		id, err := userIDValue(x)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out = append(out, id)
	}
	return out, nil
}

func robloxUserID(raw json.RawMessage) (string, error) {
	v, err := document.Decode(raw)
	if err != nil {
		return "", err
	}
	return userIDValue(v)
}

// userIDValue turns a Roblox user id (a whole number, or a string) into
// Hearth's form: its decimal digits.
func userIDValue(v any) (string, error) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return "", fmt.Errorf("user id %s is not a whole number", s)
			}
		}
		return s, nil
	case string:
		return x, nil
	default:
		return "", fmt.Errorf("a user id must be a number or a string, not %s", document.TypeName(v))
	}
}
