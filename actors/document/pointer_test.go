package document

import (
	"errors"
	"slices"
	"testing"
)

// rfc6901Doc is the example document of RFC 6901 section 5.
const rfc6901Doc = `{
	"foo": ["bar", "baz"],
	"": 0,
	"a/b": 1,
	"c%d": 2,
	"e^f": 3,
	"g|h": 4,
	"i\\j": 5,
	"k\"l": 6,
	" ": 7,
	"m~n": 8
}`

func TestGetRFC6901Examples(t *testing.T) {
	doc := mustDecode(t, rfc6901Doc)
	tests := []struct {
		path string
		want string // JSON
	}{
		{"", rfc6901Doc},
		{"/foo", `["bar", "baz"]`},
		{"/foo/0", `"bar"`},
		{"/", `0`},
		{"/a~1b", `1`},
		{"/c%d", `2`},
		{"/e^f", `3`},
		{"/g|h", `4`},
		{`/i\j`, `5`},
		{`/k"l`, `6`},
		{"/ ", `7`},
		{"/m~0n", `8`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := Get(doc, tt.path)
			if err != nil {
				t.Fatalf("Get(%q): %v", tt.path, err)
			}
			if !Equal(got, mustDecode(t, tt.want)) {
				t.Errorf("Get(%q) = %s, want %s", tt.path, mustEncode(t, got), tt.want)
			}
		})
	}
}

func TestParsePointer(t *testing.T) {
	tests := []struct {
		in      string
		want    Pointer
		wantErr error
	}{
		{in: "", want: Pointer{}},
		{in: "/", want: Pointer{""}},
		{in: "//", want: Pointer{"", ""}},
		{in: "/a/b", want: Pointer{"a", "b"}},
		{in: "/a~1b", want: Pointer{"a/b"}},
		{in: "/m~0n", want: Pointer{"m~n"}},
		{in: "/~01", want: Pointer{"~1"}},  // ~0 first, then a literal 1: not '/'
		{in: "/~10", want: Pointer{"/0"}},  // ~1 then 0
		{in: "/~0~1", want: Pointer{"~/"}}, // both escapes in one token
		{in: "/ü/€", want: Pointer{"ü", "€"}},
		{in: "a", wantErr: ErrInvalidPath},
		{in: "a/b", wantErr: ErrInvalidPath},
		{in: "#/a", wantErr: ErrInvalidPath}, // URI fragment form is not accepted
		{in: "/~", wantErr: ErrInvalidPath},
		{in: "/a~", wantErr: ErrInvalidPath},
		{in: "/~2", wantErr: ErrInvalidPath},
		{in: "/~a", wantErr: ErrInvalidPath},
		{in: "/\xff", wantErr: ErrInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePointer(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParsePointer(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePointer(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParsePointer(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("String() = %q, want %q", s, tt.in)
			}
		})
	}
}

func TestPointerString(t *testing.T) {
	tests := []struct {
		p    Pointer
		want string
	}{
		{nil, ""},
		{Pointer{}, ""},
		{Pointer{""}, "/"},
		{Pointer{"a/b", "m~n"}, "/a~1b/m~0n"},
		{Pointer{"~/~"}, "/~0~1~0"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%q.String() = %q, want %q", []string(tt.p), got, tt.want)
		}
	}
}

func TestPointerHelpers(t *testing.T) {
	p := Pointer{"a", "b"}
	if parent, ok := p.Parent(); !ok || !slices.Equal(parent, Pointer{"a"}) {
		t.Errorf("Parent = %q, %v", parent, ok)
	}
	if _, ok := (Pointer{}).Parent(); ok {
		t.Error("root has a parent")
	}
	parent, _ := p.Parent()
	c := parent.Child("x")
	if !slices.Equal(p, Pointer{"a", "b"}) || !slices.Equal(c, Pointer{"a", "x"}) {
		t.Errorf("Child aliased its parent: p=%q c=%q", p, c)
	}
	for _, tt := range []struct {
		p, q Pointer
		want bool
	}{
		{Pointer{"a", "b"}, Pointer{"a"}, true},
		{Pointer{"a", "b"}, Pointer{"a", "b"}, true},
		{Pointer{"a", "b"}, Pointer{}, true},
		{Pointer{"a"}, Pointer{"a", "b"}, false},
		{Pointer{"ab"}, Pointer{"a"}, false},
	} {
		if got := tt.p.HasPrefix(tt.q); got != tt.want {
			t.Errorf("%q.HasPrefix(%q) = %v, want %v", tt.p, tt.q, got, tt.want)
		}
	}
}

func TestGetErrors(t *testing.T) {
	doc := mustDecode(t, `{"foo": ["bar", {"x": 1}], "n": 3, "z": null}`)
	tests := []struct {
		path    string
		wantErr error
	}{
		{"/missing", ErrPathNotFound},
		{"/missing/deeper", ErrPathNotFound},
		{"/foo/2", ErrPathNotFound},
		{"/foo/-", ErrPathNotFound},
		{"/foo/99999999999999999999999", ErrPathNotFound},
		{"/foo/1/y", ErrPathNotFound},
		{"/foo/01", ErrInvalidPath},
		{"/foo/-1", ErrInvalidPath},
		{"/foo/+1", ErrInvalidPath},
		{"/foo/1.0", ErrInvalidPath},
		{"/foo/", ErrInvalidPath},
		{"/foo/x", ErrInvalidPath},
		{"/n/x", ErrTypeMismatch},
		{"/z/x", ErrTypeMismatch},
		{"/foo/0/x", ErrTypeMismatch},
		{"foo", ErrInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := Get(doc, tt.path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get(%q) error = %v, want %v", tt.path, err, tt.wantErr)
			}
		})
	}
	if v, err := Get(nil, ""); err != nil || v != nil {
		t.Errorf(`Get(nil, "") = %v, %v`, v, err)
	}
	if _, err := Get(nil, "/a"); !errors.Is(err, ErrPathNotFound) {
		t.Errorf(`Get(nil, "/a") error = %v, want ErrPathNotFound`, err)
	}
	if v, err := Get(doc, "/z"); err != nil || v != nil {
		t.Errorf(`Get("/z") = %v, %v, want the null member`, v, err)
	}
}
