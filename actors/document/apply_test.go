package document

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// baseDoc is the document the package comment's examples start from.
const baseDoc = `{"coins": 10, "name": "ana", "inventory": ["sword", "shield"], "stats": {"hp": 5}}`

type applyCase struct {
	name    string
	doc     string // JSON; "" means a nil document
	ops     []Op
	want    string // JSON of the result when wantErr is nil
	wantErr error
	wantIdx int // OpError.Index when wantErr is set
}

func runApplyCases(t *testing.T, tests []applyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc any
			if tt.doc != "" {
				doc = mustDecode(t, tt.doc)
			}
			before := mustEncode(t, doc)
			got, err := Apply(doc, tt.ops, Limits{})
			if after := mustEncode(t, doc); after != before {
				t.Errorf("Apply mutated its input: %s -> %s", before, after)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Apply error = %v, want %v", err, tt.wantErr)
				}
				var oe *OpError
				if !errors.As(err, &oe) {
					t.Fatalf("error %T is not an *OpError", err)
				}
				if oe.Index != tt.wantIdx {
					t.Errorf("OpError.Index = %d, want %d (%v)", oe.Index, tt.wantIdx, err)
				}
				if got != nil {
					t.Errorf("Apply returned a document with an error: %s", mustEncode(t, got))
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if g, w := mustEncode(t, got), canon(t, tt.want); g != w {
				t.Errorf("result\n got %s\nwant %s", g, w)
			}
		})
	}
}

func v(t testing.TB, s string) any { return mustDecode(t, s) }

func TestApplySet(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "replace member", doc: baseDoc, ops: []Op{{OpSet, "/name", "bea"}},
			want: `{"coins": 10, "name": "bea", "inventory": ["sword", "shield"], "stats": {"hp": 5}}`},
		{name: "new member", doc: `{}`, ops: []Op{{OpSet, "/a", num("1")}}, want: `{"a": 1}`},
		{name: "mkdir -p", doc: `{"x": 1}`, ops: []Op{{OpSet, "/settings/sound/volume", num("3")}},
			want: `{"x": 1, "settings": {"sound": {"volume": 3}}}`},
		{name: "into existing object", doc: baseDoc, ops: []Op{{OpSet, "/stats/mp", num("2")}},
			want: `{"coins": 10, "name": "ana", "inventory": ["sword", "shield"], "stats": {"hp": 5, "mp": 2}}`},
		{name: "replace array element", doc: baseDoc, ops: []Op{{OpSet, "/inventory/1", "bow"}},
			want: `{"coins": 10, "name": "ana", "inventory": ["sword", "bow"], "stats": {"hp": 5}}`},
		{name: "append with dash", doc: baseDoc, ops: []Op{{OpSet, "/inventory/-", "bow"}},
			want: `{"coins": 10, "name": "ana", "inventory": ["sword", "shield", "bow"], "stats": {"hp": 5}}`},
		{name: "inside array element", doc: `{"a": [{"x": 1}]}`, ops: []Op{{OpSet, "/a/0/y", true}}, want: `{"a": [{"x": 1, "y": true}]}`},
		{name: "set null", doc: `{"a": 1}`, ops: []Op{{OpSet, "/a", nil}}, want: `{"a": null}`},
		{name: "empty key", doc: `{}`, ops: []Op{{OpSet, "/", "e"}}, want: `{"": "e"}`},
		{name: "escaped key", doc: `{}`, ops: []Op{{OpSet, "/a~1b/m~0n", num("1")}}, want: `{"a/b": {"m~n": 1}}`},
		{name: "replace root", doc: baseDoc, ops: []Op{{OpSet, "", v(t, `{"fresh": true}`)}}, want: `{"fresh": true}`},
		{name: "nil document", ops: []Op{{OpSet, "/a", num("1")}}, want: `{"a": 1}`},
		{name: "no ops on nil document", want: `{}`},
		{name: "index out of range", doc: baseDoc, ops: []Op{{OpSet, "/inventory/2", "bow"}}, wantErr: ErrPathNotFound},
		{name: "missing array element on the way", doc: baseDoc, ops: []Op{{OpSet, "/inventory/5/x", "bow"}}, wantErr: ErrPathNotFound},
		{name: "dash on the way", doc: baseDoc, ops: []Op{{OpSet, "/inventory/-/x", "bow"}}, wantErr: ErrPathNotFound},
		{name: "non-canonical index", doc: baseDoc, ops: []Op{{OpSet, "/inventory/01", "bow"}}, wantErr: ErrInvalidPath},
		{name: "name token on array", doc: baseDoc, ops: []Op{{OpSet, "/inventory/first", "bow"}}, wantErr: ErrInvalidPath},
		{name: "into number", doc: baseDoc, ops: []Op{{OpSet, "/coins/gold", num("1")}}, wantErr: ErrTypeMismatch},
		{name: "into null", doc: `{"a": null}`, ops: []Op{{OpSet, "/a/b", num("1")}}, wantErr: ErrTypeMismatch},
		{name: "into string deep", doc: baseDoc, ops: []Op{{OpSet, "/name/x/y", num("1")}}, wantErr: ErrTypeMismatch},
		{name: "root to array", doc: baseDoc, ops: []Op{{OpSet, "", []any{}}}, wantErr: ErrTypeMismatch},
		{name: "root to null", doc: baseDoc, ops: []Op{{OpSet, "", nil}}, wantErr: ErrTypeMismatch},
		{name: "bad pointer", doc: baseDoc, ops: []Op{{OpSet, "name", "x"}}, wantErr: ErrInvalidPath},
		{name: "float64 value", doc: `{}`, ops: []Op{{OpSet, "/a", 1.5}}, wantErr: ErrInvalidValue},
		{name: "int value", doc: `{}`, ops: []Op{{OpSet, "/a", []any{1}}}, wantErr: ErrInvalidValue},
		{name: "bad number value", doc: `{}`, ops: []Op{{OpSet, "/a", num("1.")}}, wantErr: ErrInvalidValue},
		{name: "invalid UTF-8 value", doc: `{}`, ops: []Op{{OpSet, "/a", "\xff"}}, wantErr: ErrInvalidValue},
	})
}

func TestApplyDelete(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "member", doc: baseDoc, ops: []Op{{Kind: OpDelete, Path: "/stats/hp"}},
			want: `{"coins": 10, "name": "ana", "inventory": ["sword", "shield"], "stats": {}}`},
		{name: "element shifts later ones", doc: `{"a": [1, 2, 3]}`, ops: []Op{{Kind: OpDelete, Path: "/a/0"}}, want: `{"a": [2, 3]}`},
		{name: "last element", doc: `{"a": [1, 2, 3]}`, ops: []Op{{Kind: OpDelete, Path: "/a/2"}}, want: `{"a": [1, 2]}`},
		{name: "missing member is a no-op", doc: `{"a": 1}`, ops: []Op{{Kind: OpDelete, Path: "/b"}}, want: `{"a": 1}`},
		{name: "missing parent is a no-op", doc: `{"a": 1}`, ops: []Op{{Kind: OpDelete, Path: "/b/c/d"}}, want: `{"a": 1}`},
		{name: "index past the end is a no-op", doc: `{"a": [1]}`, ops: []Op{{Kind: OpDelete, Path: "/a/1"}}, want: `{"a": [1]}`},
		{name: "dash is a no-op", doc: `{"a": [1]}`, ops: []Op{{Kind: OpDelete, Path: "/a/-"}}, want: `{"a": [1]}`},
		{name: "twice is idempotent", doc: `{"a": 1, "b": 2}`, ops: []Op{{Kind: OpDelete, Path: "/a"}, {Kind: OpDelete, Path: "/a"}}, want: `{"b": 2}`},
		{name: "value ignored", doc: `{"a": 1}`, ops: []Op{{OpDelete, "/a", 1.5}}, want: `{}`},
		{name: "root", doc: `{"a": 1}`, ops: []Op{{Kind: OpDelete, Path: ""}}, wantErr: ErrInvalidPath},
		{name: "non-canonical index", doc: `{"a": [1]}`, ops: []Op{{Kind: OpDelete, Path: "/a/00"}}, wantErr: ErrInvalidPath},
		{name: "through a scalar", doc: `{"a": 1}`, ops: []Op{{Kind: OpDelete, Path: "/a/b"}}, wantErr: ErrTypeMismatch},
	})
}

func TestApplyIncrement(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "add", doc: baseDoc, ops: []Op{{OpIncrement, "/coins", num("5")}},
			want: `{"coins": 15, "name": "ana", "inventory": ["sword", "shield"], "stats": {"hp": 5}}`},
		{name: "subtract below zero", doc: `{"c": 10}`, ops: []Op{{OpIncrement, "/c", num("-15")}}, want: `{"c": -5}`},
		{name: "missing counts as zero", doc: `{}`, ops: []Op{{OpIncrement, "/stats/xp", num("7")}}, want: `{"stats": {"xp": 7}}`},
		{name: "float", doc: `{"c": 1}`, ops: []Op{{OpIncrement, "/c", num("0.5")}}, want: `{"c": 1.5}`},
		{name: "float to integral", doc: `{"c": 1.5}`, ops: []Op{{OpIncrement, "/c", num("1.5")}}, want: `{"c": 3}`},
		{name: "exponent form is float", doc: `{"c": 1}`, ops: []Op{{OpIncrement, "/c", num("1e2")}}, want: `{"c": 101}`},
		{name: "array element", doc: `{"a": [1, 2]}`, ops: []Op{{OpIncrement, "/a/1", num("3")}}, want: `{"a": [1, 5]}`},
		{name: "dash appends", doc: `{"a": [1]}`, ops: []Op{{OpIncrement, "/a/-", num("3")}}, want: `{"a": [1, 3]}`},
		{name: "repeated in one call", doc: `{"c": 0}`, ops: []Op{{OpIncrement, "/c", num("1")}, {OpIncrement, "/c", num("1")}, {OpIncrement, "/c", num("1")}}, want: `{"c": 3}`},
		{name: "string target", doc: baseDoc, ops: []Op{{OpIncrement, "/name", num("1")}}, wantErr: ErrTypeMismatch},
		{name: "null target", doc: `{"c": null}`, ops: []Op{{OpIncrement, "/c", num("1")}}, wantErr: ErrTypeMismatch},
		{name: "object target", doc: baseDoc, ops: []Op{{OpIncrement, "/stats", num("1")}}, wantErr: ErrTypeMismatch},
		{name: "root", doc: baseDoc, ops: []Op{{OpIncrement, "", num("1")}}, wantErr: ErrTypeMismatch},
		{name: "string value", doc: baseDoc, ops: []Op{{OpIncrement, "/coins", "1"}}, wantErr: ErrInvalidValue},
		{name: "float64 value", doc: baseDoc, ops: []Op{{OpIncrement, "/coins", 1.0}}, wantErr: ErrInvalidValue},
		{name: "nil value", doc: baseDoc, ops: []Op{{Kind: OpIncrement, Path: "/coins"}}, wantErr: ErrInvalidValue},
		{name: "int64 overflow", doc: `{"c": 9223372036854775807}`, ops: []Op{{OpIncrement, "/c", num("1")}}, wantErr: ErrOverflow},
		{name: "int64 underflow", doc: `{"c": -9223372036854775808}`, ops: []Op{{OpIncrement, "/c", num("-1")}}, wantErr: ErrOverflow},
		{name: "float overflow", doc: `{"c": 1.7e308}`, ops: []Op{{OpIncrement, "/c", num("1.7e308")}}, wantErr: ErrOverflow},
		{name: "operand beyond float range", doc: `{"c": 1e400}`, ops: []Op{{OpIncrement, "/c", num("1")}}, wantErr: ErrOverflow},
		{name: "index out of range", doc: `{"a": [1]}`, ops: []Op{{OpIncrement, "/a/1", num("1")}}, wantErr: ErrPathNotFound},
	})
}

func TestIncrementIntegerExactness(t *testing.T) {
	tests := []struct {
		start, delta, want string
	}{
		{"9007199254740992", "1", "9007199254740993"}, // 2^53 + 1: not representable in float64
		{"9007199254740993", "1", "9007199254740994"},
		{"-9007199254740993", "-1", "-9007199254740994"},
		{"9223372036854775806", "1", "9223372036854775807"},
		{"-9223372036854775807", "-1", "-9223372036854775808"},
		{"9223372036854775807", "-9223372036854775808", "-1"},
		{"-0", "0", "0"},
		// Integers beyond int64 fall back to float64, as documented.
		{"18446744073709551616", "1", "1.8446744073709552e+19"},
	}
	for _, tt := range tests {
		t.Run(tt.start+"+"+tt.delta, func(t *testing.T) {
			got, err := Apply(map[string]any{"n": num(tt.start)}, []Op{{OpIncrement, "/n", num(tt.delta)}}, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			n := got.(map[string]any)["n"].(json.Number)
			if !Equal(n, num(tt.want)) {
				t.Errorf("%s + %s = %s, want %s", tt.start, tt.delta, n, tt.want)
			}
			if intText(tt.want) && string(n) != tt.want {
				t.Errorf("%s + %s is written %q, want integer text %q", tt.start, tt.delta, n, tt.want)
			}
		})
	}
	// Many small increments of a large counter stay exact.
	doc := any(map[string]any{"n": num(strconv.FormatInt(1<<53, 10))})
	for range 1000 {
		var err error
		if doc, err = Apply(doc, []Op{{OpIncrement, "/n", num("1")}}, Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := doc.(map[string]any)["n"]; got != num(strconv.FormatInt(1<<53+1000, 10)) {
		t.Errorf("after 1000 increments n = %v", got)
	}
}

func TestApplyAppend(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "append", doc: baseDoc, ops: []Op{{OpAppend, "/inventory", "bow"}},
			want: `{"coins": 10, "name": "ana", "inventory": ["sword", "shield", "bow"], "stats": {"hp": 5}}`},
		{name: "array is one element", doc: `{"a": [1]}`, ops: []Op{{OpAppend, "/a", v(t, `[2, 3]`)}}, want: `{"a": [1, [2, 3]]}`},
		{name: "missing creates", doc: `{}`, ops: []Op{{OpAppend, "/x/badges", "first"}}, want: `{"x": {"badges": ["first"]}}`},
		{name: "empty array", doc: `{"a": []}`, ops: []Op{{OpAppend, "/a", nil}}, want: `{"a": [null]}`},
		{name: "several in one call", doc: `{"a": []}`, ops: []Op{{OpAppend, "/a", num("1")}, {OpAppend, "/a", num("2")}, {OpAppend, "/a", num("3")}}, want: `{"a": [1, 2, 3]}`},
		{name: "nested array element", doc: `{"a": [[1]]}`, ops: []Op{{OpAppend, "/a/0", num("2")}}, want: `{"a": [[1, 2]]}`},
		{name: "object target", doc: baseDoc, ops: []Op{{OpAppend, "/stats", num("1")}}, wantErr: ErrTypeMismatch},
		{name: "string target", doc: baseDoc, ops: []Op{{OpAppend, "/name", "x"}}, wantErr: ErrTypeMismatch},
		{name: "root", doc: baseDoc, ops: []Op{{OpAppend, "", "x"}}, wantErr: ErrTypeMismatch},
		{name: "bad value", doc: baseDoc, ops: []Op{{OpAppend, "/inventory", map[string]any{"x": 1}}}, wantErr: ErrInvalidValue},
	})
}

func TestApplyRemove(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "first equal only", doc: `{"inv": ["sword", "shield", "sword"]}`, ops: []Op{{OpRemove, "/inv", "sword"}}, want: `{"inv": ["shield", "sword"]}`},
		{name: "numbers by value", doc: `{"a": [1, 2.0, 3]}`, ops: []Op{{OpRemove, "/a", num("2")}}, want: `{"a": [1, 3]}`},
		{name: "objects deeply", doc: `{"a": [{"id": 1, "q": 2}, {"id": 2}]}`, ops: []Op{{OpRemove, "/a", v(t, `{"q": 2, "id": 1}`)}}, want: `{"a": [{"id": 2}]}`},
		{name: "null element", doc: `{"a": [1, null]}`, ops: []Op{{Kind: OpRemove, Path: "/a"}}, want: `{"a": [1]}`},
		{name: "last one", doc: `{"a": ["x"]}`, ops: []Op{{OpRemove, "/a", "x"}}, want: `{"a": []}`},
		{name: "consume twice", doc: `{"a": ["x", "x", "y"]}`, ops: []Op{{OpRemove, "/a", "x"}, {OpRemove, "/a", "x"}}, want: `{"a": ["y"]}`},
		{name: "none equal", doc: `{"inv": ["shield"]}`, ops: []Op{{OpRemove, "/inv", "sword"}}, wantErr: ErrPathNotFound},
		{name: "consume one too many", doc: `{"a": ["x"]}`, ops: []Op{{OpRemove, "/a", "x"}, {OpRemove, "/a", "x"}}, wantErr: ErrPathNotFound, wantIdx: 1},
		{name: "missing array", doc: `{}`, ops: []Op{{OpRemove, "/inv", "sword"}}, wantErr: ErrPathNotFound},
		{name: "missing parent", doc: `{}`, ops: []Op{{OpRemove, "/x/inv", "sword"}}, wantErr: ErrPathNotFound},
		{name: "object target", doc: `{"inv": {"sword": 1}}`, ops: []Op{{OpRemove, "/inv", "sword"}}, wantErr: ErrTypeMismatch},
		{name: "bad value", doc: `{"a": [1]}`, ops: []Op{{OpRemove, "/a", 1}}, wantErr: ErrInvalidValue},
	})
}

func TestApplyMerge(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "replace and add", doc: baseDoc, ops: []Op{{OpMerge, "/stats", v(t, `{"hp": 7, "mp": 2}`)}},
			want: `{"coins": 10, "name": "ana", "inventory": ["sword", "shield"], "stats": {"hp": 7, "mp": 2}}`},
		{name: "root with delete", doc: baseDoc, ops: []Op{{OpMerge, "", v(t, `{"name": null, "level": 2}`)}},
			want: `{"coins": 10, "inventory": ["sword", "shield"], "stats": {"hp": 5}, "level": 2}`},
		{name: "nested", doc: `{"a": {"b": {"c": 1, "d": 2}, "e": 3}}`, ops: []Op{{OpMerge, "/a", v(t, `{"b": {"c": null, "f": 4}}`)}},
			want: `{"a": {"b": {"d": 2, "f": 4}, "e": 3}}`},
		{name: "object replaces scalar member", doc: `{"a": {"b": 1}}`, ops: []Op{{OpMerge, "/a", v(t, `{"b": {"c": 1, "d": null}}`)}},
			want: `{"a": {"b": {"c": 1}}}`},
		{name: "arrays replace", doc: `{"a": {"b": [1, 2]}}`, ops: []Op{{OpMerge, "/a", v(t, `{"b": [3]}`)}}, want: `{"a": {"b": [3]}}`},
		{name: "missing target created", doc: `{}`, ops: []Op{{OpMerge, "/s/t", v(t, `{"x": null, "y": {"z": null}}`)}}, want: `{"s": {"t": {"y": {}}}}`},
		{name: "empty patch on missing target", doc: `{}`, ops: []Op{{OpMerge, "/s", map[string]any{}}}, want: `{"s": {}}`},
		{name: "no-op patch", doc: `{"a": {"b": 1}}`, ops: []Op{{OpMerge, "/a", v(t, `{"c": null, "d": {}}`)}}, want: `{"a": {"b": 1, "d": {}}}`},
		{name: "delete absent", doc: `{"a": {"b": 1}}`, ops: []Op{{OpMerge, "/a", v(t, `{"c": null}`)}}, want: `{"a": {"b": 1}}`},
		{name: "array target", doc: baseDoc, ops: []Op{{OpMerge, "/inventory", v(t, `{"a": 1}`)}}, wantErr: ErrTypeMismatch},
		{name: "scalar target", doc: baseDoc, ops: []Op{{OpMerge, "/coins", v(t, `{"a": 1}`)}}, wantErr: ErrTypeMismatch},
		{name: "array value", doc: baseDoc, ops: []Op{{OpMerge, "/stats", []any{}}}, wantErr: ErrInvalidValue},
		{name: "null value", doc: baseDoc, ops: []Op{{Kind: OpMerge, Path: "/stats"}}, wantErr: ErrInvalidValue},
	})
}

func TestApplySetIfAbsent(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "present is a no-op", doc: baseDoc, ops: []Op{{OpSetIfAbsent, "/coins", num("100")}}, want: baseDoc},
		{name: "present null is a no-op", doc: `{"a": null}`, ops: []Op{{OpSetIfAbsent, "/a", num("1")}}, want: `{"a": null}`},
		{name: "absent is set", doc: `{}`, ops: []Op{{OpSetIfAbsent, "/x/gems", num("100")}}, want: `{"x": {"gems": 100}}`},
		{name: "array element present", doc: `{"a": [1]}`, ops: []Op{{OpSetIfAbsent, "/a/0", num("5")}}, want: `{"a": [1]}`},
		{name: "dash appends", doc: `{"a": [1]}`, ops: []Op{{OpSetIfAbsent, "/a/-", num("5")}}, want: `{"a": [1, 5]}`},
		{name: "root is present", doc: `{"a": 1}`, ops: []Op{{OpSetIfAbsent, "", map[string]any{}}}, want: `{"a": 1}`},
		{name: "second is a no-op", doc: `{}`, ops: []Op{{OpSetIfAbsent, "/a", num("1")}, {OpSetIfAbsent, "/a", num("2")}}, want: `{"a": 1}`},
		{name: "index out of range", doc: `{"a": [1]}`, ops: []Op{{OpSetIfAbsent, "/a/3", num("5")}}, wantErr: ErrPathNotFound},
		{name: "into scalar", doc: `{"a": 1}`, ops: []Op{{OpSetIfAbsent, "/a/b", num("5")}}, wantErr: ErrTypeMismatch},
	})
}

func TestApplyLimitsAndKinds(t *testing.T) {
	deepPath := strings.Repeat("/a", DefaultMaxPathDepth+1)
	manyOps := make([]Op, DefaultMaxOps+1)
	for i := range manyOps {
		manyOps[i] = Op{OpIncrement, "/c", num("1")}
	}
	deepValue := mustDecode(t, nested("[", "]", MaxNesting, ""))
	runApplyCases(t, []applyCase{
		{name: "ops at the limit", doc: `{}`, ops: manyOps[:DefaultMaxOps], want: `{"c": 100}`},
		{name: "too many ops", doc: `{}`, ops: manyOps, wantErr: ErrLimit, wantIdx: -1},
		{name: "path at the limit", doc: `{}`, ops: []Op{{OpSet, strings.Repeat("/a", DefaultMaxPathDepth), num("1")}},
			want: nested(`{"a":`, "}", DefaultMaxPathDepth, "1")},
		{name: "path too deep", doc: `{}`, ops: []Op{{OpSet, deepPath, num("1")}}, wantErr: ErrLimit},
		{name: "delete path too deep", doc: `{}`, ops: []Op{{Kind: OpDelete, Path: deepPath}}, wantErr: ErrLimit},
		{name: "value at the nesting limit", doc: `{}`, ops: []Op{{OpSet, "", map[string]any{"a": mustDecode(t, nested("[", "]", MaxNesting-1, ""))}}},
			want: `{"a":` + nested("[", "]", MaxNesting-1, "") + `}`},
		{name: "value too deep", doc: `{}`, ops: []Op{{OpSet, "/a", deepValue}}, wantErr: ErrLimit},
		{name: "appended value too deep", doc: `{}`, ops: []Op{{OpAppend, "/a", mustDecode(t, nested("[", "]", MaxNesting-1, ""))}}, wantErr: ErrLimit},
		{name: "unknown kind", doc: `{}`, ops: []Op{{OpKind(99), "/a", num("1")}}, wantErr: ErrInvalidValue},
		{name: "zero kind", doc: `{}`, ops: []Op{{Path: "/a"}}, wantErr: ErrInvalidValue},
	})

	// Larger limits let deeper paths through, but never past MaxNesting.
	lim := Limits{MaxOps: 1, MaxPathDepth: MaxNesting + 10}
	if _, err := Apply(nil, []Op{{OpIncrement, strings.Repeat("/a", MaxNesting), num("1")}}, lim); err != nil {
		t.Errorf("increment at depth %d: %v", MaxNesting, err)
	}
	if _, err := Apply(nil, []Op{{OpIncrement, strings.Repeat("/a", MaxNesting+1), num("1")}}, lim); !errors.Is(err, ErrLimit) {
		t.Errorf("increment at depth %d: error %v, want ErrLimit", MaxNesting+1, err)
	}
	if _, err := Apply(nil, []Op{{OpSet, "/a", num("1")}, {OpSet, "/b", num("1")}}, lim); !errors.Is(err, ErrLimit) {
		t.Errorf("2 ops with MaxOps 1: error %v, want ErrLimit", err)
	}
}

func TestOpErrorMessage(t *testing.T) {
	_, err := Apply(mustDecode(t, `{"coins": "many"}`), []Op{
		{OpSet, "/a", num("1")},
		{OpSet, "/b", num("1")},
		{OpIncrement, "/coins", num("1")},
	}, Limits{})
	want := `operation 2 (increment /coins): type mismatch: /coins is a string, not a number`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\n want %s", err, want)
	}
	var oe *OpError
	if !errors.As(err, &oe) || oe.Kind != OpIncrement || oe.Path != "/coins" || oe.Index != 2 {
		t.Errorf("OpError = %+v", oe)
	}

	_, err = Apply(nil, make([]Op, 101), Limits{})
	if want := "operations: limit exceeded: 101 operations in one update; at most 100 are allowed"; err == nil || err.Error() != want {
		t.Errorf("error = %v\n want %s", err, want)
	}
	_, err = Apply(nil, []Op{{Kind: OpDelete}}, Limits{})
	if want := `operation 0 (delete ""): invalid path: cannot delete the document root`; err == nil || err.Error() != want {
		t.Errorf("error = %v\n want %s", err, want)
	}
	_, err = Apply(nil, []Op{{OpSet, "/a", map[string]any{"b": []any{1.5}}}}, Limits{})
	if err == nil || !strings.Contains(err.Error(), "(at /b/0 in the value)") {
		t.Errorf("error = %v, want it to locate the bad value", err)
	}
}

func TestOpKindNames(t *testing.T) {
	want := map[OpKind]string{OpSet: "set", OpDelete: "delete", OpIncrement: "increment", OpAppend: "append",
		OpRemove: "remove", OpMerge: "merge", OpSetIfAbsent: "set_if_absent", 0: "OpKind(0)", 42: "OpKind(42)"}
	for k, name := range want {
		if got := k.String(); got != name {
			t.Errorf("OpKind(%d).String() = %q, want %q", int(k), got, name)
		}
		parsed, err := ParseOpKind(name)
		if k.Valid() != (err == nil) || (err == nil && parsed != k) {
			t.Errorf("ParseOpKind(%q) = %v, %v", name, parsed, err)
		}
	}
}

func TestApplyAllOrNothing(t *testing.T) {
	doc := mustDecode(t, `{"coins": 10, "name": "ana", "inv": ["a"]}`)
	before := mustEncode(t, doc)
	got, err := Apply(doc, []Op{
		{OpIncrement, "/coins", num("5")},
		{OpAppend, "/inv", "b"},
		{OpIncrement, "/name", num("1")}, // fails
		{OpSet, "/never", true},
	}, Limits{})
	var oe *OpError
	if !errors.As(err, &oe) || oe.Index != 2 || !errors.Is(err, ErrTypeMismatch) {
		t.Fatalf("error = %v, want operation 2 type mismatch", err)
	}
	if got != nil {
		t.Errorf("result = %v, want nil", got)
	}
	if after := mustEncode(t, doc); after != before {
		t.Errorf("failed Apply changed the input: %s -> %s", before, after)
	}
}

// TestApplyNoAliasing checks what may and may not be shared. Operation
// values are copied in both directions; the input document is never
// written; containers on a changed path are fresh in the result.
func TestApplyNoAliasing(t *testing.T) {
	t.Run("op value mutated after Apply", func(t *testing.T) {
		val := mustDecode(t, `{"items": [{"id": 1}], "meta": {"k": "v"}}`)
		got, err := Apply(nil, []Op{{OpSet, "/bag", val}, {OpAppend, "/list", val}, {OpMerge, "/m", val}}, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		want := mustEncode(t, got)
		vm := val.(map[string]any)
		vm["items"].([]any)[0].(map[string]any)["id"] = num("2")
		vm["meta"].(map[string]any)["k"] = "changed"
		vm["new"] = true
		if after := mustEncode(t, got); after != want {
			t.Errorf("mutating the op value changed the result:\n%s\n%s", want, after)
		}
	})
	t.Run("result mutated after Apply", func(t *testing.T) {
		val := mustDecode(t, `{"items": [{"id": 1}]}`)
		valBefore := mustEncode(t, val)
		got, err := Apply(nil, []Op{{OpSet, "/bag", val}, {OpAppend, "/list", val}, {OpMerge, "/m", val}}, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		root := got.(map[string]any)
		root["bag"].(map[string]any)["items"].([]any)[0].(map[string]any)["id"] = num("9")
		root["list"].([]any)[0].(map[string]any)["items"] = nil
		root["m"].(map[string]any)["items"].([]any)[0] = "x"
		if after := mustEncode(t, val); after != valBefore {
			t.Errorf("mutating the result changed the op value:\n%s\n%s", valBefore, after)
		}
	})
	t.Run("changed path is copied", func(t *testing.T) {
		doc := mustDecode(t, `{"a": {"b": {"c": 1}, "arr": [1, 2]}, "other": {"x": 1}}`)
		before := mustEncode(t, doc)
		got, err := Apply(doc, []Op{{OpSet, "/a/b/c", num("2")}, {OpAppend, "/a/arr", num("3")}}, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		resultBefore := mustEncode(t, got)
		// Write into every container on the changed paths of the result...
		r := got.(map[string]any)
		r["new"] = true
		r["a"].(map[string]any)["new"] = true
		r["a"].(map[string]any)["b"].(map[string]any)["new"] = true
		r["a"].(map[string]any)["arr"].([]any)[0] = "x"
		if after := mustEncode(t, doc); after != before {
			t.Errorf("writing the result's changed path changed the input:\n%s\n%s", before, after)
		}
		// ...and into the same containers of the input.
		in := doc.(map[string]any)
		in["in"] = true
		in["a"].(map[string]any)["b"].(map[string]any)["in"] = true
		in["a"].(map[string]any)["arr"].([]any)[1] = "y"
		r["new"], r["a"].(map[string]any)["new"] = nil, nil
		delete(r, "new")
		delete(r["a"].(map[string]any), "new")
		delete(r["a"].(map[string]any)["b"].(map[string]any), "new")
		r["a"].(map[string]any)["arr"].([]any)[0] = num("1")
		if after := mustEncode(t, got); after != resultBefore {
			t.Errorf("writing the input's changed path changed the result:\n%s\n%s", resultBefore, after)
		}
	})
}

// TestApplySharesUntouchedSubtrees pins the copy-on-write contract: what no
// operation touched is shared, not copied, so an update costs what it
// changes.
func TestApplySharesUntouchedSubtrees(t *testing.T) {
	doc := mustDecode(t, `{"big": {"inv": [1, 2, 3]}, "small": {"n": 1}}`)
	got, err := Apply(doc, []Op{{OpIncrement, "/small/n", num("1")}}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	in, out := doc.(map[string]any), got.(map[string]any)
	if reflect.ValueOf(in["big"]).UnsafePointer() != reflect.ValueOf(out["big"]).UnsafePointer() {
		t.Error("untouched subtree /big was copied")
	}
	if reflect.ValueOf(in["small"]).UnsafePointer() == reflect.ValueOf(out["small"]).UnsafePointer() {
		t.Error("changed object /small was not copied")
	}
	// A no-op changes nothing and copies nothing.
	same, err := Apply(doc, []Op{{OpSetIfAbsent, "/small/n", num("5")}, {Kind: OpDelete, Path: "/nope"}, {OpMerge, "/big", map[string]any{}}}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(same).UnsafePointer() != reflect.ValueOf(doc).UnsafePointer() {
		t.Error("a batch of no-ops copied the root")
	}
}

// TestApplyBatchEqualsSequence checks that applying ops in one call (where
// containers the call created are written in place) gives the same result as
// applying them one call at a time (where everything is copied).
func TestApplyBatchEqualsSequence(t *testing.T) {
	doc := mustDecode(t, baseDoc)
	var ops []Op
	for i := range 30 {
		ops = append(ops,
			Op{OpAppend, "/inventory", fmt.Sprint("item", i)},
			Op{OpIncrement, "/coins", num("1")},
			Op{OpSet, fmt.Sprintf("/quests/q%d", i%4), v(t, fmt.Sprintf(`{"step": %d, "tags": [%d]}`, i, i))},
		)
		if i%3 == 0 {
			ops = append(ops, Op{OpRemove, "/inventory", fmt.Sprint("item", i/2)}, Op{OpAppend, fmt.Sprintf("/quests/q%d/tags", i%4), num("0")})
		}
		if i%5 == 0 {
			ops = append(ops, Op{Kind: OpDelete, Path: "/inventory/0"}, Op{OpMerge, "/stats", v(t, fmt.Sprintf(`{"hp": %d, "x": {"y": %d}}`, i, i))})
		}
	}
	ops = ops[:DefaultMaxOps]
	before := mustEncode(t, doc)
	batch, err := Apply(doc, ops, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	seq := doc
	for i, op := range ops {
		if seq, err = Apply(seq, []Op{op}, Limits{}); err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	if b, s := mustEncode(t, batch), mustEncode(t, seq); b != s {
		t.Errorf("batch and sequence differ:\n%s\n%s", b, s)
	}
	if after := mustEncode(t, doc); after != before {
		t.Errorf("input changed: %s -> %s", before, after)
	}
}

func TestAddNumbersFormatting(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"0.1", "0.2", "0.30000000000000004"},
		{"1e20", "1e20", "2e+20"},
		{"999999.5", "0.5", "1e+06"}, // 'g' formatting, as documented: valid JSON, not integer text
		{"1e300", "1e300", "2e+300"},
		{"-0.5", "0.5", "0"},
		{"5e-324", "0", "5e-324"},
	}
	for _, tt := range tests {
		got, err := addNumbers(num(tt.a), num(tt.b))
		if err != nil || string(got) != tt.want {
			t.Errorf("%s + %s = %q, %v; want %q", tt.a, tt.b, got, err, tt.want)
		}
		if !validNumber(string(got)) {
			t.Errorf("%s + %s = %q is not a JSON number", tt.a, tt.b, got)
		}
	}
	if _, err := addNumbers(num(strconv.FormatInt(math.MaxInt64, 10)), num("1")); !errors.Is(err, ErrOverflow) {
		t.Errorf("overflow error = %v", err)
	}
}

// TestApplyConcurrentReaders runs updates on one shared document from many
// goroutines; under -race this proves Apply only reads its input.
func TestApplyConcurrentReaders(t *testing.T) {
	doc := mustDecode(t, baseDoc)
	want := mustEncode(t, doc)
	done := make(chan error)
	for g := range 8 {
		go func() {
			var err error
			for i := range 50 {
				_, err = Apply(doc, []Op{
					{OpIncrement, "/coins", num(strconv.Itoa(i))},
					{OpAppend, "/inventory", fmt.Sprint(g)},
					{OpRemove, "/inventory", "sword"},
					{OpMerge, "/stats", map[string]any{"hp": nil, "g": num(strconv.Itoa(g))}},
				}, Limits{})
				if err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if got := mustEncode(t, doc); got != want {
		t.Errorf("shared document changed: %s", got)
	}
}
