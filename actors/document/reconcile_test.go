package document

import (
	"reflect"
	"testing"
)

func TestReconcile(t *testing.T) {
	tests := []struct {
		name        string
		doc, tmpl   string // JSON; "" means nil
		want        string // JSON; "" means nil
		wantChanged bool
	}{
		{name: "fills missing members", doc: `{"coins": 5}`, tmpl: `{"coins": 100, "gems": 0, "name": ""}`,
			want: `{"coins": 5, "gems": 0, "name": ""}`, wantChanged: true},
		{name: "recurses into shared objects", doc: `{"settings": {"sound": {"volume": 3}}}`,
			tmpl: `{"settings": {"sound": {"volume": 5, "muted": false}, "lang": "en"}}`,
			want: `{"settings": {"sound": {"volume": 3, "muted": false}, "lang": "en"}}`, wantChanged: true},
		{name: "never overwrites a different type", doc: `{"settings": "legacy", "n": null}`, tmpl: `{"settings": {"lang": "en"}, "n": 1}`,
			want: `{"settings": "legacy", "n": null}`},
		{name: "arrays are kept as they are", doc: `{"inv": ["a"]}`, tmpl: `{"inv": ["starter", "sword"]}`, want: `{"inv": ["a"]}`},
		{name: "objects inside arrays are not merged", doc: `{"inv": [{"id": 1}]}`, tmpl: `{"inv": [{"id": 0, "q": 1}]}`, want: `{"inv": [{"id": 1}]}`},
		{name: "nothing missing", doc: `{"a": 1, "b": {"c": 2}}`, tmpl: `{"a": 0, "b": {"c": 0}}`, want: `{"a": 1, "b": {"c": 2}}`},
		{name: "extra members kept", doc: `{"mine": 1}`, tmpl: `{}`, want: `{"mine": 1}`},
		{name: "nil doc", tmpl: `{"coins": 100}`, want: `{"coins": 100}`, wantChanged: true},
		{name: "nil doc, empty template", tmpl: `{}`, want: `{}`},
		{name: "nil template", doc: `{"a": 1}`, want: `{"a": 1}`},
		{name: "nil both", want: ""},
		{name: "scalar template", doc: `{"a": 1}`, tmpl: `3`, want: `{"a": 1}`},
		{name: "non-object root", doc: `[1]`, tmpl: `{"a": 1}`, want: `[1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc, tmpl any
			if tt.doc != "" {
				doc = mustDecode(t, tt.doc)
			}
			if tt.tmpl != "" {
				tmpl = mustDecode(t, tt.tmpl)
			}
			docBefore, tmplBefore := mustEncode(t, doc), mustEncode(t, tmpl)
			got, changed := Reconcile(doc, tmpl)
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
			if tt.want == "" {
				if got != nil {
					t.Errorf("result = %s, want nil", mustEncode(t, got))
				}
			} else if g, w := mustEncode(t, got), canon(t, tt.want); g != w {
				t.Errorf("result\n got %s\nwant %s", g, w)
			}
			if mustEncode(t, doc) != docBefore || mustEncode(t, tmpl) != tmplBefore {
				t.Error("Reconcile mutated an input")
			}
			again, changed2 := Reconcile(got, tmpl)
			if changed2 || mustEncode(t, again) != mustEncode(t, got) {
				t.Errorf("second Reconcile changed the result: %s", mustEncode(t, again))
			}
		})
	}
}

func TestReconcileCopiesTemplateAndShares(t *testing.T) {
	doc := mustDecode(t, `{"keep": {"big": [1, 2]}, "s": {}}`)
	tmpl := mustDecode(t, `{"s": {"list": [1]}, "obj": {"k": "v"}}`)
	got, changed := Reconcile(doc, tmpl)
	if !changed {
		t.Fatal("nothing changed")
	}
	r := got.(map[string]any)
	// Template values are copies: mutating the result leaves the template.
	r["s"].(map[string]any)["list"].([]any)[0] = "x"
	r["obj"].(map[string]any)["k"] = "changed"
	if g, w := mustEncode(t, tmpl), canon(t, `{"s": {"list": [1]}, "obj": {"k": "v"}}`); g != w {
		t.Errorf("template changed: %s", g)
	}
	// Untouched subtrees of doc are shared, not copied.
	if reflect.ValueOf(r["keep"]).UnsafePointer() != reflect.ValueOf(doc.(map[string]any)["keep"]).UnsafePointer() {
		t.Error("untouched subtree was copied")
	}
	// An unchanged doc is returned as is.
	same, changed := Reconcile(doc, map[string]any{"keep": map[string]any{}})
	if changed || reflect.ValueOf(same).UnsafePointer() != reflect.ValueOf(doc).UnsafePointer() {
		t.Error("a reconcile that fills nothing copied the document")
	}
}
