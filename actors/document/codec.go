package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"
)

// Decode parses one JSON value into a document value: numbers become
// json.Number (never float64), objects map[string]any, arrays []any.
//
// It refuses, with an error wrapping ErrInvalidValue, malformed JSON, input
// that is not valid UTF-8 (encoding/json would silently replace the bad bytes,
// and two distinct keys could then collide), and anything but whitespace after
// the value. Input nesting deeper than MaxNesting is refused with ErrLimit
// before the parser sees it, so hostile input cannot make it recurse deeply.
//
// A duplicated object key keeps its last value, as in encoding/json.
func Decode(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, errorf(ErrInvalidValue, "JSON is not valid UTF-8")
	}
	if v, ok := decodeScalar(data); ok {
		return v, nil
	}
	if d := scanDepth(data); d > MaxNesting {
		return nil, errorf(ErrLimit, "JSON nests %d levels deep; at most %d are allowed", d, MaxNesting)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		// %w twice: callers can test ErrInvalidValue and still reach the
		// *json.SyntaxError with its offset.
		return nil, fmt.Errorf("%w: %w", ErrInvalidValue, err)
	}
	if rest := data[dec.InputOffset():]; len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return nil, errorf(ErrInvalidValue, "trailing data after the JSON value at offset %d", dec.InputOffset())
	}
	return v, nil
}

// decodeScalar decodes the values most operations carry (a number, true,
// false, null, a string without escapes) without a json.Decoder, whose
// buffers were a quarter of a loaded node's allocations. Anything else is
// left to the full decoder (ok is false).
func decodeScalar(data []byte) (any, bool) {
	t := bytes.Trim(data, " \t\r\n") // JSON whitespace only
	switch {
	case len(t) == 0:
		return nil, false
	case string(t) == "true":
		return true, true
	case string(t) == "false":
		return false, true
	case string(t) == "null":
		return nil, true
	case t[0] == '"':
		body := t[1:]
		if len(body) == 0 || body[len(body)-1] != '"' {
			return nil, false
		}
		body = body[:len(body)-1]
		for _, c := range body {
			if c == '"' || c == '\\' || c < 0x20 {
				return nil, false // escapes and control bytes: the full decoder
			}
		}
		return string(body), true // UTF-8 was checked by the caller
	case t[0] == '-' || isDigit(t[0]):
		if validNumber(string(t)) {
			return json.Number(string(t)), true
		}
	}
	return nil, false
}

// scanDepth returns the deepest bracket nesting of data, ignoring brackets
// inside strings. It is exact for valid JSON; for invalid JSON it may be off,
// which does not matter because the parser rejects that input anyway.
func scanDepth(data []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// Encode returns the compact JSON text of a document value. Object members
// are sorted by key, so equal documents encode to identical bytes (stores
// and caches may compare or hash them). HTML characters are not escaped.
//
// Values outside the document model (float64, int, other map or slice types,
// a json.Number that is not a number literal, strings or keys that are not
// valid UTF-8) are refused with an error wrapping ErrInvalidValue that names
// the offending path; values nesting deeper than MaxNesting (which includes
// any cyclic value) with ErrLimit.
func Encode(v any) ([]byte, error) { return AppendEncode(nil, v) }

// AppendEncode is Encode appending to dst, for callers that reuse buffers.
// On error it returns dst unchanged.
func AppendEncode(dst []byte, v any) ([]byte, error) {
	out, err := appendValue(dst, v, 0)
	if err != nil {
		return dst, locate(err, "")
	}
	return out, nil
}

func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		if x {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case json.Number:
		if !validNumber(string(x)) {
			return dst, &locError{err: errorf(ErrInvalidValue, "%q is not a JSON number", shorten(string(x)))}
		}
		return append(dst, x...), nil
	case string:
		return appendString(dst, x)
	case []any:
		if depth >= MaxNesting {
			return dst, &locError{err: nestingError()}
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return dst, within(err, indexToken(i))
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		if depth >= MaxNesting {
			return dst, &locError{err: nestingError()}
		}
		dst = append(dst, '{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendString(dst, k); err != nil {
				return dst, within(err, k)
			}
			dst = append(dst, ':')
			if dst, err = appendValue(dst, x[k], depth+1); err != nil {
				return dst, within(err, k)
			}
		}
		return append(dst, '}'), nil
	default:
		return dst, &locError{err: notDocumentValue(v)}
	}
}

func nestingError() error {
	return errorf(ErrLimit, "value nests deeper than %d levels", MaxNesting)
}

func notDocumentValue(v any) error {
	return errorf(ErrInvalidValue, "a Go %T is not a document value (use nil, bool, json.Number, string, []any or map[string]any)", v)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. It escapes what JSON requires
// (quote, backslash, control characters) plus U+2028 and U+2029, which are
// legal JSON but end a line in JavaScript, as encoding/json does.
func appendString(dst []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return dst, &locError{err: errorf(ErrInvalidValue, "string is not valid UTF-8")}
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != '\u2028' && r != '\u2029' {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}

// locError carries the path to a bad value up the recursion, innermost token
// first, so the path is only built when there is an error to report.
type locError struct {
	rev []string
	err error
}

func (e *locError) Error() string { return e.err.Error() }
func (e *locError) Unwrap() error { return e.err }

func within(err error, tok string) error {
	var le *locError
	if errors.As(err, &le) {
		le.rev = append(le.rev, tok)
	}
	return err
}

// locate turns a locError into the final message, "<detail> (at /a/0)",
// with suffix after the path (" in the value"). A problem with the value as a
// whole needs no location.
func locate(err error, suffix string) error {
	var le *locError
	if !errors.As(err, &le) {
		return err
	}
	if len(le.rev) == 0 {
		return le.err
	}
	p := make(Pointer, len(le.rev))
	for i, tok := range le.rev {
		p[len(p)-1-i] = tok
	}
	return fmt.Errorf("%w (at %s%s)", le.err, p.String(), suffix)
}
