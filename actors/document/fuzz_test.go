package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var sentinels = []error{ErrInvalidPath, ErrPathNotFound, ErrTypeMismatch, ErrOverflow, ErrInvalidValue, ErrLimit}

func isSentinel(err error) bool {
	return slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) })
}

func FuzzPointer(f *testing.F) {
	for _, s := range []string{"", "/", "/a/b", "/a~1b/m~0n", "/~", "/~2", "a", "/0/-", "/~01", "//"} {
		f.Add(s, "tok")
	}
	f.Fuzz(func(t *testing.T, s, tok string) {
		p, err := ParsePointer(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("ParsePointer(%q) error %v does not wrap ErrInvalidPath", s, err)
			}
		} else if got := p.String(); got != s {
			t.Fatalf("ParsePointer(%q).String() = %q", s, got)
		}
		// Any tokens survive String and ParsePointer, provided they are
		// valid UTF-8 (the only tokens a document key can match).
		if !utf8.ValidString(tok) {
			return
		}
		q := Pointer{tok, "x", tok}
		back, err := ParsePointer(q.String())
		if err != nil || !slices.Equal(back, q) {
			t.Fatalf("round trip of %q: %q, %v", []string(q), []string(back), err)
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{}`, `{"a": [1, 2.5e3, "x", null, true]}`, `[[[[]]]]`, `1 2`, `"\ud800"`, `{"a":1,"a":2}`,
		"\"\xff\"", `-0`, `1e999`, `"\u2028"`, nested("[", "]", MaxNesting+1, "")} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidValue) && !errors.Is(err, ErrLimit) {
				t.Fatalf("Decode error %v wraps neither ErrInvalidValue nor ErrLimit", err)
			}
			if utf8.Valid(data) && json.Valid(data) && scanDepth(data) <= MaxNesting {
				t.Fatalf("Decode refused valid JSON %q: %v", data, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Decode accepted invalid JSON %q", data)
		}
		if err := Validate(v); err != nil {
			t.Fatalf("Decode returned an invalid value: %v", err)
		}
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("Encode(Decode(%q)): %v", data, err)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(...)) of %q: %v", enc, err)
		}
		if !Equal(back, v) {
			t.Fatalf("round trip changed the value: %q -> %q", data, enc)
		}
		if enc2, _ := Encode(back); !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode is not stable: %q then %q", enc, enc2)
		}
		// encoding/json reads our output as the same value.
		var std any
		dec := json.NewDecoder(bytes.NewReader(enc))
		dec.UseNumber()
		if err := dec.Decode(&std); err != nil || !Equal(std, v) {
			t.Fatalf("encoding/json reads %q differently: %v", enc, err)
		}
		if !Equal(v, Clone(v)) {
			t.Fatal("a clone is not Equal to its original")
		}
	})
}

func FuzzApply(f *testing.F) {
	seeds := []struct {
		doc   string
		kind  uint8
		path  string
		value string
		kind2 uint8
		path2 string
	}{
		{baseDoc, uint8(OpSet), "/name", `"bea"`, uint8(OpAppend), "/inventory"},
		{baseDoc, uint8(OpIncrement), "/coins", `5`, uint8(OpIncrement), "/coins"},
		{baseDoc, uint8(OpAppend), "/inventory", `"bow"`, uint8(OpRemove), "/inventory"},
		{baseDoc, uint8(OpRemove), "/inventory", `"sword"`, uint8(OpDelete), "/inventory/0"},
		{baseDoc, uint8(OpMerge), "/stats", `{"hp": null, "mp": {"x": 1}}`, uint8(OpMerge), "/stats/mp"},
		{baseDoc, uint8(OpSetIfAbsent), "/gems", `1`, uint8(OpSet), "/gems/-"},
		{baseDoc, uint8(OpDelete), "/inventory/1", `null`, uint8(OpSet), "/inventory/-"},
		{`{"a": [[1], {"b": 2}]}`, uint8(OpSet), "/a/1/c/d", `[1]`, uint8(OpAppend), "/a/1/c/d"},
		{`{"c": 9223372036854775807}`, uint8(OpIncrement), "/c", `1`, uint8(OpIncrement), "/c"},
		{`{"c": 1.5}`, uint8(OpIncrement), "/c", `1e308`, uint8(OpIncrement), "/c"},
		{`{}`, uint8(OpMerge), "", `{"a": {"b": null}}`, uint8(OpSet), ""},
		{`[]`, uint8(OpSet), "/0", `1`, 0, "/x"},
		{`{"a~b": {"c/d": 1}}`, uint8(OpDelete), "/a~0b/c~1d", `1`, 9, "/a~2"},
	}
	for _, s := range seeds {
		f.Add([]byte(s.doc), s.kind, s.path, []byte(s.value), s.kind2, s.path2)
	}
	f.Fuzz(func(t *testing.T, docJSON []byte, kind uint8, path string, valueJSON []byte, kind2 uint8, path2 string) {
		doc, err := Decode(docJSON)
		if err != nil {
			return
		}
		val, err := Decode(valueJSON)
		if err != nil {
			val = nil
		}
		before, err := Encode(doc)
		if err != nil {
			t.Fatalf("Encode of a decoded document: %v", err)
		}
		op1 := Op{Kind: OpKind(kind % 9), Path: path, Value: val}
		op2 := Op{Kind: OpKind(kind2 % 9), Path: path2, Value: val}

		out, err1 := Apply(doc, []Op{op1}, Limits{})
		checkApply(t, doc, before, out, err1)
		if err1 == nil && op1.Kind == OpSet && !strings.HasSuffix(path, "/-") {
			got, err := Get(out, path)
			if err != nil || !Equal(got, val) {
				t.Fatalf("after set %s, Get = %v, %v", path, got, err)
			}
		}
		if err1 == nil && op1.Kind == OpSetIfAbsent && !strings.HasSuffix(path, "/-") {
			if _, err := Get(out, path); err != nil {
				t.Fatalf("after set_if_absent %s, Get: %v", path, err)
			}
		}

		// Two ops in one call (later ops write into containers the call
		// made) must equal the same ops in two calls (everything copied).
		batch, errBatch := Apply(doc, []Op{op1, op2}, Limits{})
		checkApply(t, doc, before, batch, errBatch)
		if err1 != nil {
			if errBatch == nil {
				t.Fatalf("op 1 failed alone (%v) but the batch succeeded", err1)
			}
			return
		}
		outBefore, _ := Encode(out)
		seq, err2 := Apply(out, []Op{op2}, Limits{})
		checkApply(t, out, outBefore, seq, err2)
		if (errBatch == nil) != (err2 == nil) {
			t.Fatalf("batch error %v, sequential error %v", errBatch, err2)
		}
		if errBatch == nil {
			b, _ := Encode(batch)
			s, _ := Encode(seq)
			if !bytes.Equal(b, s) {
				t.Fatalf("batch and sequence differ:\n%s\n%s", b, s)
			}
		}
	})
}

// checkApply checks the invariants of one Apply call: the input is
// unchanged; a failure is an *OpError wrapping a sentinel with no document;
// a success encodes and decodes back to itself.
func checkApply(t *testing.T, in any, inBefore []byte, out any, err error) {
	t.Helper()
	if after, _ := Encode(in); !bytes.Equal(after, inBefore) {
		t.Fatalf("Apply mutated its input:\n%s\n%s", inBefore, after)
	}
	if err != nil {
		var oe *OpError
		if !errors.As(err, &oe) || !isSentinel(err) {
			t.Fatalf("Apply error %v (%T) is not an *OpError wrapping a sentinel", err, err)
		}
		if out != nil {
			t.Fatal("Apply returned a document with an error")
		}
		return
	}
	enc, err := Encode(out)
	if err != nil {
		t.Fatalf("result does not encode: %v", err)
	}
	back, err := Decode(enc)
	if err != nil {
		t.Fatalf("result %q does not decode: %v", enc, err)
	}
	if !Equal(back, out) {
		t.Fatalf("result does not round-trip: %s", enc)
	}
}

func FuzzReconcile(f *testing.F) {
	seeds := [][2]string{
		{`{"coins": 5}`, `{"coins": 100, "gems": 0}`},
		{`{"s": {"a": 1}}`, `{"s": {"a": 2, "b": {"c": [1]}}}`},
		{`{"s": "x"}`, `{"s": {"a": 1}}`},
		{`{"inv": [1]}`, `{"inv": [2, 3]}`},
		{`[1]`, `{"a": 1}`},
		{`{}`, `null`},
		{`null`, `{"a": {"b": {}}}`},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, docJSON, tmplJSON []byte) {
		doc, err := Decode(docJSON)
		if err != nil {
			return
		}
		tmpl, err := Decode(tmplJSON)
		if err != nil {
			return
		}
		docBefore, _ := Encode(doc)
		tmplBefore, _ := Encode(tmpl)
		out, changed := Reconcile(doc, tmpl)
		if a, _ := Encode(doc); !bytes.Equal(a, docBefore) {
			t.Fatal("Reconcile mutated doc")
		}
		if a, _ := Encode(tmpl); !bytes.Equal(a, tmplBefore) {
			t.Fatal("Reconcile mutated the template")
		}
		enc, err := Encode(out)
		if err != nil {
			t.Fatalf("result does not encode: %v", err)
		}
		if !changed && doc != nil && !bytes.Equal(enc, docBefore) {
			t.Fatalf("changed is false but the document changed: %s -> %s", docBefore, enc)
		}
		// Everything doc had is still there, unchanged.
		if doc != nil {
			walkLeaves(doc, nil, func(p Pointer, v any) {
				got, err := GetPointer(out, p)
				if err != nil || !Equal(got, v) {
					t.Fatalf("%s was %v, now %v (%v)", p, v, got, err)
				}
			})
		}
		// Every template member is there unless doc held something else.
		if _, isObj := out.(map[string]any); isObj {
			walkLeaves(tmpl, nil, func(p Pointer, _ any) {
				for i := range p {
					got, err := GetPointer(out, p[:i+1])
					if err != nil {
						t.Fatalf("template path %s is missing from the result: %v", p[:i+1], err)
					}
					if _, obj := got.(map[string]any); !obj {
						return // doc had a non-object here; it wins
					}
				}
			})
		}
		again, changed2 := Reconcile(out, tmpl)
		if enc2, _ := Encode(again); changed2 || !bytes.Equal(enc, enc2) {
			t.Fatalf("second Reconcile changed the document: %s -> %s", enc, enc2)
		}
	})
}

// walkLeaves calls fn for every scalar, every array and every empty object
// in v, with its path. Arrays are leaves because Reconcile never merges them.
func walkLeaves(v any, p Pointer, fn func(Pointer, any)) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		fn(p, v)
		return
	}
	for k, e := range m {
		walkLeaves(e, p.Child(k), fn)
	}
}

// FuzzDecodeScalarMatchesDecoder: the scalar fast path must agree with
// encoding/json on every input it accepts.
func FuzzDecodeScalarMatchesDecoder(f *testing.F) {
	for _, s := range []string{`1`, `-0.5e10`, ` 42 `, `"x"`, `"a\"b"`, `true`, `null`, `01`, `1.`, `"é"`, `-`, `""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return
		}
		fast, ok := decodeScalar(data)
		if !ok {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var slow any
		if err := dec.Decode(&slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", data, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Fatalf("fast path accepted %q with trailing data", data)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %#v, encoding/json %#v", data, fast, slow)
		}
	})
}
