package document

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Pointer is a parsed RFC 6901 JSON Pointer: the unescaped reference tokens.
// The empty Pointer is the whole document.
type Pointer []string

// ParsePointer parses an RFC 6901 pointer. "" is the whole document; any
// other pointer starts with '/'. In tokens, "~1" stands for '/' and "~0" for
// '~'; any other '~' is an error, as is invalid UTF-8 (document keys are
// always valid UTF-8, so such a pointer could never match). Errors wrap
// ErrInvalidPath.
func ParsePointer(s string) (Pointer, error) {
	if s == "" {
		return Pointer{}, nil
	}
	if s[0] != '/' {
		return nil, errorf(ErrInvalidPath, "%q does not start with '/'", shorten(s))
	}
	if !utf8.ValidString(s) {
		return nil, errorf(ErrInvalidPath, "%q is not valid UTF-8", shorten(s))
	}
	p := make(Pointer, 0, strings.Count(s, "/"))
	for _, tok := range strings.Split(s[1:], "/") {
		if strings.IndexByte(tok, '~') < 0 {
			p = append(p, tok)
			continue
		}
		u, ok := unescapeToken(tok)
		if !ok {
			return nil, errorf(ErrInvalidPath, "%q: '~' must be followed by '0' or '1'", shorten(s))
		}
		p = append(p, u)
	}
	return p, nil
}

func unescapeToken(tok string) (string, bool) {
	var b strings.Builder
	b.Grow(len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '~' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(tok) {
			return "", false
		}
		i++
		switch tok[i] {
		case '0':
			b.WriteByte('~')
		case '1':
			b.WriteByte('/')
		default:
			return "", false
		}
	}
	return b.String(), true
}

// String returns the pointer's RFC 6901 text, escaping '~' as "~0" and '/'
// as "~1". ParsePointer(p.String()) equals p for every p.
func (p Pointer) String() string {
	if len(p) == 0 {
		return ""
	}
	var b strings.Builder
	for _, tok := range p {
		b.WriteByte('/')
		if strings.ContainsAny(tok, "~/") {
			tok = strings.NewReplacer("~", "~0", "/", "~1").Replace(tok)
		}
		b.WriteString(tok)
	}
	return b.String()
}

// Parent returns the pointer to the container of p's target, and false for
// the root, which has none.
func (p Pointer) Parent() (Pointer, bool) {
	if len(p) == 0 {
		return nil, false
	}
	return p[: len(p)-1 : len(p)-1], true
}

// Child returns p extended by one token. It never shares p's backing array.
func (p Pointer) Child(tok string) Pointer {
	c := make(Pointer, len(p)+1)
	copy(c, p)
	c[len(p)] = tok
	return c
}

// HasPrefix reports whether q is p or an ancestor of p: whether p lies
// within q's target.
func (p Pointer) HasPrefix(q Pointer) bool {
	if len(q) > len(p) {
		return false
	}
	for i := range q {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// Get returns the value at path in doc. The result is not a copy: callers
// must not mutate it (Clone it first). A nil doc is an empty profile.
//
// Errors: ErrInvalidPath for a malformed pointer or a non-canonical array
// index ("01", "-1", "+1"); ErrPathNotFound when a member is missing, an index
// is out of range, or the token is "-" (which names the element after the
// last); ErrTypeMismatch when the path steps into a scalar.
func Get(doc any, path string) (any, error) {
	p, err := ParsePointer(path)
	if err != nil {
		return nil, err
	}
	return GetPointer(doc, p)
}

// GetPointer is Get with an already parsed pointer.
func GetPointer(doc any, p Pointer) (any, error) {
	if doc == nil && len(p) > 0 {
		return nil, notFound(p, 0, "the document is empty")
	}
	cur := doc
	for i, tok := range p {
		switch n := cur.(type) {
		case map[string]any:
			v, ok := n[tok]
			if !ok {
				return nil, notFound(p, i, "%s has no member %q", describe(p[:i]), tok)
			}
			cur = v
		case []any:
			idx, err := arrayIndex(p, i, len(n))
			if err != nil {
				return nil, err
			}
			cur = n[idx]
		default:
			return nil, intoScalar(p, i, cur)
		}
	}
	return cur, nil
}

// arrayIndex resolves token i of p against an array of length n: a canonical
// decimal index below n. Anything else is an error, so "-" and indices past
// the end are ErrPathNotFound here; callers that can create elements check
// those cases before calling.
func arrayIndex(p Pointer, i, n int) (int, error) {
	tok := p[i]
	if tok == "-" {
		return 0, notFound(p, i, `"-" names the element after the last of an array of %d`, n)
	}
	idx, ok := parseIndex(tok)
	if !ok {
		return 0, errorf(ErrInvalidPath, "%s: %q is not an array index (a decimal number without sign or leading zeros)",
			p.String(), shorten(tok))
	}
	if idx >= n {
		return 0, notFound(p, i, "index %s is out of range for an array of %d", tok, n)
	}
	return idx, nil
}

// parseIndex parses a canonical array index token: "0" or a decimal number
// without sign or leading zeros. Indices too large for any array come back
// as a value that is out of range for every slice rather than as invalid,
// because "99999999999999999999" is well-formed, merely absent.
func parseIndex(tok string) (int, bool) {
	if tok == "" || len(tok) > 1 && tok[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(tok); i++ {
		if !isDigit(tok[i]) {
			return 0, false
		}
	}
	n, err := strconv.Atoi(tok)
	if err != nil {
		return int(^uint(0) >> 1), true // overflow: larger than any slice
	}
	return n, true
}

func indexToken(i int) string { return strconv.Itoa(i) }

// notFound reports that token i of p does not exist.
func notFound(p Pointer, i int, format string, args ...any) error {
	return errorf(ErrPathNotFound, "%s: %s", p.String(), fmt.Sprintf(format, args...))
}

// intoScalar reports that token i of p would step into the scalar v.
func intoScalar(p Pointer, i int, v any) error {
	return errorf(ErrTypeMismatch, "%s is %s, not an object or array (cannot step into it for %s)",
		describe(p[:i]), TypeName(v), p.String())
}

// describe names the target of a pointer in messages.
func describe(p Pointer) string {
	if len(p) == 0 {
		return "the document root"
	}
	return p.String()
}
