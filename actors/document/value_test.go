package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func nested(open, close string, n int, inner string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // canonical re-encoding, when no error
		wantErr error
	}{
		{name: "object", in: ` {"b": 1, "a": [true, null, "x"]} `, want: `{"a":[true,null,"x"],"b":1}`},
		{name: "scalar", in: `12.50`, want: `12.50`},
		{name: "big integer kept exactly", in: `{"id": 123456789012345678901234567890}`, want: `{"id":123456789012345678901234567890}`},
		{name: "duplicate key keeps last", in: `{"a": 1, "a": 2}`, want: `{"a":2}`},
		{name: "nesting at the limit", in: nested("[", "]", MaxNesting, ""), want: nested("[", "]", MaxNesting, "")},
		{name: "brackets in strings do not count", in: `"` + strings.Repeat("[{", 200) + `"`, want: `"` + strings.Repeat("[{", 200) + `"`},
		{name: "escaped quote in string", in: `["\"[[[", 1]`, want: `["\"[[[",1]`},
		{name: "nesting over the limit", in: nested("[", "]", MaxNesting+1, ""), wantErr: ErrLimit},
		{name: "object nesting over the limit", in: nested(`{"a":`, "}", MaxNesting+1, "1"), wantErr: ErrLimit},
		{name: "empty", in: ``, wantErr: ErrInvalidValue},
		{name: "whitespace only", in: ` `, wantErr: ErrInvalidValue},
		{name: "trailing value", in: `{} {}`, wantErr: ErrInvalidValue},
		{name: "trailing garbage", in: `1 x`, wantErr: ErrInvalidValue},
		{name: "trailing comma", in: `[1,]`, wantErr: ErrInvalidValue},
		{name: "invalid UTF-8", in: "\"\xff\"", wantErr: ErrInvalidValue},
		{name: "NaN", in: `NaN`, wantErr: ErrInvalidValue},
		{name: "leading zero", in: `01`, wantErr: ErrInvalidValue},
		{name: "unterminated", in: `{"a": `, wantErr: ErrInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Decode([]byte(tt.in))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Decode error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := mustEncode(t, v); got != tt.want {
				t.Errorf("Encode(Decode(%s)) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeNumbersAreJSONNumber(t *testing.T) {
	v := mustDecode(t, `{"a": 1, "b": [2.5e3]}`)
	m := v.(map[string]any)
	if _, ok := m["a"].(json.Number); !ok {
		t.Errorf("a is %T, want json.Number", m["a"])
	}
	if n, ok := m["b"].([]any)[0].(json.Number); !ok || n != "2.5e3" {
		t.Errorf("b[0] = %#v, want json.Number(\"2.5e3\")", m["b"].([]any)[0])
	}
}

func TestDecodeSyntaxErrorReachable(t *testing.T) {
	_, err := Decode([]byte(`{"a" 1}`))
	var se *json.SyntaxError
	if !errors.Is(err, ErrInvalidValue) || !errors.As(err, &se) {
		t.Fatalf("error = %v, want ErrInvalidValue wrapping a *json.SyntaxError", err)
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"null", nil, `null`},
		{"sorted keys", map[string]any{"b": true, "a": false, "c": map[string]any{}}, `{"a":false,"b":true,"c":{}}`},
		{"nil map and slice", map[string]any{"m": map[string]any(nil), "s": []any(nil)}, `{"m":{},"s":[]}`},
		{"number text kept", []any{num("1.50"), num("-0"), num("1E+2")}, `[1.50,-0,1E+2]`},
		{"escapes", "q\" b\\ \n\r\t\b\f \x01 \x1f <&> \u2028\u2029 é", `"q\" b\\ \n\r\t\b\f \u0001 \u001f <&> \u2028\u2029 é"`},
		{"escaped key", map[string]any{"a\"b": nil}, `{"a\"b":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustEncode(t, tt.in)
			if got != tt.want {
				t.Errorf("Encode = %s, want %s", got, tt.want)
			}
			// Whatever Encode writes, encoding/json must read the same.
			var std any
			dec := json.NewDecoder(strings.NewReader(got))
			dec.UseNumber()
			if err := dec.Decode(&std); err != nil {
				t.Fatalf("encoding/json cannot read %s: %v", got, err)
			}
			if !Equal(std, tt.in) {
				t.Errorf("encoding/json reads %s back as %#v, want %#v", got, std, tt.in)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	deep := any(json.Number("1"))
	for range MaxNesting + 1 {
		deep = []any{deep}
	}
	cyclic := []any{nil}
	cyclic[0] = cyclic
	tests := []struct {
		name     string
		in       any
		wantErr  error
		wantText string
	}{
		{"float64", map[string]any{"a": []any{1.5}}, ErrInvalidValue, "at /a/0"},
		{"int", 3, ErrInvalidValue, "int"},
		{"typed map", map[string]string{}, ErrInvalidValue, "map[string]string"},
		{"empty number", json.Number(""), ErrInvalidValue, "not a JSON number"},
		{"bad number", map[string]any{"n": json.Number("0x10")}, ErrInvalidValue, "at /n"},
		{"invalid UTF-8 string", []any{"\xff"}, ErrInvalidValue, "UTF-8"},
		{"invalid UTF-8 key", map[string]any{"\xfe": 1}, ErrInvalidValue, "UTF-8"},
		{"too deep", deep, ErrLimit, "deeper than"},
		{"cycle", cyclic, ErrLimit, "deeper than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendEncode([]byte("prefix"), tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Encode error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			if !bytes.Equal(got, []byte("prefix")) {
				t.Errorf("AppendEncode returned %q on error, want dst unchanged", got)
			}
			if verr := Validate(tt.in); !errors.Is(verr, tt.wantErr) {
				t.Errorf("Validate error = %v, want %v", verr, tt.wantErr)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b any
		want bool
	}{
		{nil, nil, true},
		{nil, false, false},
		{true, true, true},
		{"a", "a", true},
		{"1", num("1"), false},
		{num("1"), num("1.0"), true},
		{num("1"), num("1e0"), true},
		{num("1"), num("10e-1"), true},
		{num("100"), num("1e2"), true},
		{num("100"), num("1E+2"), true},
		{num("0"), num("-0"), true},
		{num("0"), num("0.000e5"), true},
		{num("-1.5"), num("-15e-1"), true},
		{num("1.5"), num("-1.5"), false},
		{num("9007199254740993"), num("9007199254740992"), false},
		{num("9007199254740993"), num("9007199254740993.0"), true},
		{num("9007199254740992"), num("9007199254740993.0"), false},
		{num("123456789012345678901234567890"), num("123456789012345678901234567890.00"), true},
		{num("123456789012345678901234567890"), num("123456789012345678901234567891"), false},
		{num("1e400"), num("1e401"), false},
		{num("1e400"), num("10e399"), true},
		{num("1e99999999999999999999"), num("10e99999999999999999998"), true},
		{num("1e99999999999999999999"), num("1e99999999999999999998"), false},
		{num("0.1"), num("0.10000000000000001"), false}, // equal as float64, not as numbers
		{num("abc"), num("abc"), true},
		{num("abc"), num("abd"), false},
		{[]any{num("1")}, []any{num("1.0")}, true},
		{[]any{num("1"), "x"}, []any{"x", num("1")}, false},
		{[]any{}, []any(nil), true},
		{map[string]any{"a": num("2")}, map[string]any{"a": num("2e0")}, true},
		{map[string]any{"a": nil}, map[string]any{"b": nil}, false},
		{map[string]any{"a": nil}, map[string]any{}, false},
		{map[string]any{}, map[string]any(nil), true},
		{map[string]any{}, []any{}, false},
	}
	for _, tt := range tests {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("Equal(%#v, %#v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := Equal(tt.b, tt.a); got != tt.want {
			t.Errorf("Equal(%#v, %#v) = %v, want %v (symmetry)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestCloneDoesNotAlias(t *testing.T) {
	orig := mustDecode(t, `{"a": {"b": [1, {"c": 2}]}, "s": "x"}`)
	before := mustEncode(t, orig)
	c := Clone(orig)
	if !Equal(c, orig) {
		t.Fatal("clone differs")
	}
	cm := c.(map[string]any)
	cm["s"] = "changed"
	inner := cm["a"].(map[string]any)["b"].([]any)
	inner[0] = num("9")
	inner[1].(map[string]any)["c"] = nil
	if after := mustEncode(t, orig); after != before {
		t.Errorf("mutating the clone changed the original: %s -> %s", before, after)
	}
}

func TestDepth(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{`1`, 0},
		{`[]`, 1},
		{`{}`, 1},
		{`{"a": [1, {"b": []}], "c": 2}`, 4},
		{nested("[", "]", MaxNesting, ""), MaxNesting},
	}
	for _, tt := range tests {
		if got := Depth(mustDecode(t, tt.in)); got != tt.want {
			t.Errorf("Depth(%.40s) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
