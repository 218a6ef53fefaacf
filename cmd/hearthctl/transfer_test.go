package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/internal/profileio"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// readLines reads an export file.
func readLines(t *testing.T, path string) []profileio.Line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []profileio.Line
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l profileio.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// canonical is a JSON document's canonical text (members sorted).
func canonical(t *testing.T, raw []byte) string {
	t.Helper()
	v, err := document.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := document.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExportEraseImportRoundTrip: export every namespace, erase every
// profile, import the file: the documents and user ids come back as they
// were. Importing again changes nothing (every line a duplicate), not
// even a profile the game changed since.
func TestExportEraseImportRoundTrip(t *testing.T) {
	e := newEnv(t)
	want := map[string]struct {
		doc   string
		users []string
	}{
		"game/a":  {`{"big":12345678901234567890,"coins":1,"inv":["sword"],"nested":{"x":{"y":[1,2.5,{"z":null}]}},"name":"<é \"q\">"}`, []string{"u-a"}},
		"game/b":  {`{}`, []string{"u-b1", "u-b2"}},
		"other/c": {`{"k":"v"}`, []string{}},
	}
	for key, w := range want {
		ns, id, _ := strings.Cut(key, "/")
		e.write(ns, id, w.doc, w.users...)
	}

	out := filepath.Join(t.TempDir(), "backup.ndjson")
	r := e.ctl("--json", "export", "--out", out)
	wantCode(t, r, 0, "export")
	stats := decodeJSON[profileio.ExportStats](t, r)
	if stats.Profiles != 3 || !sameStrings(stats.Namespaces, []string{"game", "other"}) || len(stats.Unreadable) != 0 {
		t.Fatalf("export stats: %+v", stats)
	}
	lines := readLines(t, out)
	if len(lines) != 3 {
		t.Fatalf("export wrote %d lines", len(lines))
	}
	for _, l := range lines {
		w, ok := want[l.Namespace+"/"+l.ID]
		if !ok || canonical(t, l.Document) != canonical(t, []byte(w.doc)) || !sameStrings(l.UserIDs, w.users) ||
			l.Version < 1 || l.SavedAt.IsZero() || l.SchemaVersion != 0 {
			t.Errorf("export line %+v (document %s), want %+v", l, l.Document, w)
		}
	}
	// The document is JSON in the line, not a string.
	raw, _ := os.ReadFile(out)
	if !strings.Contains(string(raw), `"document":{`) {
		t.Errorf("the document is not inline JSON:\n%s", raw)
	}

	for key := range want {
		wantCode(t, e.ctl("profile", "delete", key, "--force"), 0, "delete "+key)
	}
	if n := len(e.listed("game")) + len(e.listed("other")); n != 0 {
		t.Fatalf("%d profiles left after the erasure", n)
	}

	r = e.ctl("--json", "import", out, "--as-current-schema")
	wantCode(t, r, 0, "import")
	rep := decodeJSON[importReport](t, r)
	if rep.Summary != (profileio.ImportSummary{Lines: 3, Imported: 3}) || len(rep.Problems) != 0 {
		t.Fatalf("import: %+v", rep)
	}
	for key, w := range want {
		ns, id, _ := strings.Cut(key, "/")
		got, err := e.doc(ns, id)
		if err != nil || got != canonical(t, []byte(w.doc)) {
			t.Errorf("%s after the round trip: %s %v, want %s", key, got, err, w.doc)
		}
		if users := e.usersOf(ns, id); !sameStrings(users, w.users) {
			t.Errorf("%s user ids after the round trip: %v, want %v", key, users, w.users)
		}
	}

	// Again: nothing changes, even where the game wrote since.
	e.write("game", "a", `{"coins":99}`)
	r = e.ctl("--json", "import", out, "--as-current-schema")
	wantCode(t, r, 0, "import again")
	if rep = decodeJSON[importReport](t, r); rep.Summary != (profileio.ImportSummary{Lines: 3, Duplicates: 3}) {
		t.Fatalf("import again: %+v", rep)
	}
	if got, _ := e.doc("game", "a"); got != `{"coins":99}` {
		t.Errorf("a re-run overwrote the game's change: %s", got)
	}

	// One namespace to stdout; the summary goes to stderr.
	r = e.ctl("export", "--namespace", "other")
	wantCode(t, r, 0, "export to stdout")
	if strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stdout, `"id":"c"`) || !strings.Contains(r.stderr, "exported 1 profile") {
		t.Errorf("export to stdout:\n%s", r)
	}
	wantCode(t, e.ctl("import", out), exitUsage, "import without a schema choice")
}

// TestImportRefusedWhenHeld: a profile a live session holds is refused,
// naming the session, and left as it is, unless --force; also when the
// session is only in the stored snapshot (the profile drained to another
// node, which has not loaded it yet).
func TestImportRefusedWhenHeld(t *testing.T) {
	e := newEnv(t)
	e.write("game", "h", `{"v":1}`)
	e.acquire("game", "h", "srv-1")
	line := `{"namespace":"game","id":"h","document":{"v":2}}` + "\n"

	r := e.ctlIn(line, "import", "-", "--as-current-schema")
	wantCode(t, r, exitFindings, "import of a held profile")
	if !strings.Contains(r.stdout, `line 1 game/h: REFUSED: held by session "srv-1"`) {
		t.Errorf("refusal:\n%s", r)
	}
	if got, _ := e.doc("game", "h"); got != `{"v":1}` {
		t.Fatalf("a refused import wrote: %s", got)
	}
	r = e.ctlIn(line, "--json", "import", "-", "--as-current-schema", "--force")
	wantCode(t, r, 0, "import --force")
	if got, _ := e.doc("game", "h"); got != `{"v":2}` {
		t.Fatalf("after --force: %s", got)
	}

	// The session survives a drain in the stored snapshot; a node that has
	// not loaded the profile still refuses the import.
	e.write("game", "s", `{"v":1}`)
	e.acquire("game", "s", "srv-2")
	e.restart()
	st, err := e.client().Status(context.Background(), &hearthv1.StatusRequest{Profile: ref("game", "s")})
	if err != nil || st.GetLoaded() {
		t.Fatalf("after the restart the profile should not be loaded: %v %v", st, err)
	}
	r = e.ctlIn(`{"namespace":"game","id":"s","document":{"v":2}}`, "import", "-", "--as-current-schema")
	wantCode(t, r, exitFindings, "import of a profile whose stored session holds it")
	if !strings.Contains(r.stdout, `held by session "srv-2"`) {
		t.Errorf("stored session:\n%s", r)
	}
	if got, _ := e.doc("game", "s"); got != `{"v":1}` {
		t.Fatalf("a refused import wrote: %s", got)
	}
}

// restart drains e's node and starts another on the same database.
func (e *env) restart() {
	e.t.Helper()
	stop(e.nodes[0])
	e.nodes = e.nodes[1:]
	e.start(e.nodeConfig())
}

// TestImportProfileStore: Roblox DataStore entries, a ProfileStore profile
// and a plain table, become profiles with their user ids; what is dropped
// is warned about; bad lines are reported by number and the rest goes on.
// The imported user ids are found by an erasure.
func TestImportProfileStore(t *testing.T) {
	e := newEnv(t)
	e.node()
	input := strings.Join([]string{
		`{"key":"Player_123","data":{"Data":{"Coins":50,"Inventory":["Sword"]},"MetaData":{"ProfileCreateTime":1700000000,"SessionLoadCount":3,"ActiveSession":null,"MetaTags":{}},"RobloxMetaData":{},"UserIds":[123],"GlobalUpdates":[1,[[1,{"Type":"Gift"}]]]},"metadata":{},"user_ids":[123,456]}`,
		`{"key":"Player_7","data":{"Level":3},"metadata":null,"user_ids":[7]}`,
		`{"key":"Player_8","data":42,"metadata":null,"user_ids":[]}`,
		``,
		`{"key":"Player/9","data":{},"metadata":null,"user_ids":[]}`,
	}, "\n")
	r := e.ctlIn(input, "import", "-", "--namespace", "game", "--as-current-schema")
	wantCode(t, r, exitFindings, "import with bad lines")
	for _, want := range []string{
		"line 1 game/Player_123: warning (imported): dropped 1 pending GlobalUpdates",
		"line 3: FAILED: bad import line: DataStore entry \"Player_8\": data must be a table",
		"line 5: FAILED: bad import line: DataStore key \"Player/9\"",
		"4 line(s): 2 imported, 0 duplicate (imported before), 0 refused (held), 2 failed, 1 with warnings",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	if got, _ := e.doc("game", "Player_123"); got != `{"Coins":50,"Inventory":["Sword"]}` {
		t.Errorf("ProfileStore Data: %s", got)
	}
	if got, _ := e.doc("game", "Player_7"); got != `{"Level":3}` {
		t.Errorf("plain DataStore value: %s", got)
	}
	if users := e.usersOf("game", "Player_123"); !sameStrings(users, []string{"123", "456"}) {
		t.Errorf("user ids: %v", users)
	}
	r = e.ctl("--json", "user", "erase", "456", "--confirm")
	wantCode(t, r, 0, "erase an imported user")
	if er := decodeJSON[erasure](t, r); len(er.Profiles) != 1 || er.Profiles[0].Profile != "game/Player_123" || !er.Profiles[0].Erased {
		t.Errorf("erasure of the imported user: %+v", er)
	}
}

// TestImportMigratesWithConfig: with the node's --config each document is
// migrated from its line's schema and reconciled with the template before
// it is written; a document from a newer schema is refused.
func TestImportMigratesWithConfig(t *testing.T) {
	e := newEnv(t)
	path := writeConfig(t, migratingConfig)
	fs, err := config.FlagSet("node")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs, []string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := e.nodeConfig()
	base.Namespaces = cfg.Namespaces
	e.start(base)

	input := `{"namespace":"game","id":"old","schema_version":0,"document":{"stats":{"gold":5}}}
{"namespace":"game","id":"future","schema_version":4,"document":{"stats":{}}}
`
	r := e.ctlIn(input, "--json", "import", "-", "--config", path)
	wantCode(t, r, exitFindings, "import with a newer schema")
	rep := decodeJSON[importReport](t, r)
	if rep.Summary.Imported != 1 || rep.Summary.Failed != 1 || len(rep.Problems) != 1 ||
		rep.Problems[0].Profile != "game/future" || !strings.Contains(rep.Problems[0].Error, "newer") {
		t.Errorf("import: %+v", rep)
	}
	if got, _ := e.doc("game", "old"); got != `{"level":1,"stats":{"coins":5}}` {
		t.Errorf("migrated document: %s", got)
	}
	st, err := e.client().Status(context.Background(), &hearthv1.StatusRequest{Profile: ref("game", "old")})
	if err != nil || st.GetSchemaVersion() != 1 {
		t.Errorf("schema after import: %v %v", st.GetSchemaVersion(), err)
	}
}
