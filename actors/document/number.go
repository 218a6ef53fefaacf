package document

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Numbers are held as json.Number, the literal text, so that a value written
// by a client reads back exactly as written (no float64 rounding of large
// integers such as 64-bit ids) and so that integer arithmetic can be exact.

// validNumber reports whether s is a JSON number literal (RFC 8259 grammar).
// An empty json.Number would otherwise encode as 0 in encoding/json; here it
// is simply invalid.
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = skipDigits(s[1:])
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
		s = skipDigits(s[2:])
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		if !isDigit(s[0]) {
			return false
		}
		s = skipDigits(s[1:])
	}
	return s == ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func skipDigits(s string) string {
	for len(s) > 0 && isDigit(s[0]) {
		s = s[1:]
	}
	return s
}

// intText reports whether a (valid) number literal is written as an integer:
// no fraction and no exponent. "1e2" is not, even though its value is.
func intText(s string) bool { return !strings.ContainsAny(s, ".eE") }

// parseInt64 returns the value of an integer literal that fits int64.
func parseInt64(n json.Number) (int64, bool) {
	if !intText(string(n)) {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

// numbersEqual compares two number literals by exact decimal value: "1",
// "1.0", "1e0" and "10e-1" are equal, "-0" equals "0", and integers beyond
// 2^53 (or beyond int64) compare exactly instead of after float64 rounding.
// Exactness keeps the comparison an equivalence relation, which a float64
// comparison is not ("9007199254740993" would equal "9007199254740992.0",
// which would equal "9007199254740992", which does not equal the first).
func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	if x, ok := parseInt64(a); ok {
		if y, ok := parseInt64(b); ok {
			return x == y
		}
	}
	da, okA := parseDecimal(string(a))
	db, okB := parseDecimal(string(b))
	if !okA || !okB {
		// Not number literals; documents never hold these (Validate), so
		// only the identical text (handled above) can be equal.
		return false
	}
	return da.equal(db)
}

// decimal is a number literal normalised to sign × digits × 10^exp, where
// digits has no leading or trailing zeros ("" for zero). Two literals denote
// the same number exactly when their normal forms are equal.
type decimal struct {
	neg    bool
	digits string
	exp    int64
	bigExp *big.Int // set instead of exp when the exponent does not fit int64
}

func (d decimal) equal(o decimal) bool {
	if d.digits == "" || o.digits == "" {
		return d.digits == o.digits // zero equals only zero, whatever its sign
	}
	if d.neg != o.neg || d.digits != o.digits {
		return false
	}
	if d.bigExp == nil && o.bigExp == nil {
		return d.exp == o.exp
	}
	return d.exponent().Cmp(o.exponent()) == 0
}

func (d decimal) exponent() *big.Int {
	if d.bigExp != nil {
		return d.bigExp
	}
	return big.NewInt(d.exp)
}

// parseDecimal normalises a JSON number literal. It never allocates in
// proportion to the exponent's value, so "1e999999999999" is cheap.
func parseDecimal(s string) (decimal, bool) {
	if !validNumber(s) {
		return decimal{}, false
	}
	var d decimal
	if s[0] == '-' {
		d.neg = true
		s = s[1:]
	}
	mant, expText := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expText = s[:i], s[i+1:]
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	trimmed := strings.TrimRight(digits, "0")
	d.digits = trimmed
	if trimmed == "" {
		return d, true
	}
	// value = digits × 10^(exp − len(frac)); stripping n trailing zeros
	// from digits adds n to the exponent.
	adjust := int64(len(digits)-len(trimmed)) - int64(len(frac))
	if expText == "" {
		d.exp = adjust
		return d, true
	}
	if e, err := strconv.ParseInt(strings.TrimPrefix(expText, "+"), 10, 64); err == nil &&
		e > math.MinInt64/2 && e < math.MaxInt64/2 && adjust > math.MinInt64/2 && adjust < math.MaxInt64/2 {
		d.exp = e + adjust
		return d, true
	}
	e, ok := new(big.Int).SetString(strings.TrimPrefix(expText, "+"), 10)
	if !ok {
		return decimal{}, false
	}
	d.bigExp = e.Add(e, big.NewInt(adjust))
	return d, true
}

// addNumbers implements increment's arithmetic: exact int64 addition when
// both literals are integers that fit int64, float64 addition otherwise.
// The result is formatted canonically: decimal integer text, or the
// shortest float64 text that round-trips.
func addNumbers(a, b json.Number) (json.Number, error) {
	if x, ok := parseInt64(a); ok {
		if y, ok := parseInt64(b); ok {
			s := x + y
			// Signed overflow happened iff both operands have the same sign
			// and the sum's sign differs.
			if (x >= 0) == (y >= 0) && (s >= 0) != (x >= 0) {
				return "", errorf(ErrOverflow, "%d + %d does not fit a 64-bit integer", x, y)
			}
			return json.Number(strconv.FormatInt(s, 10)), nil
		}
	}
	x, err := strconv.ParseFloat(string(a), 64)
	if err != nil {
		return "", errorf(ErrOverflow, "%s is beyond the range of a 64-bit float", shorten(string(a)))
	}
	y, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return "", errorf(ErrOverflow, "%s is beyond the range of a 64-bit float", shorten(string(b)))
	}
	s := x + y
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return "", errorf(ErrOverflow, "%s + %s is beyond the range of a 64-bit float", shorten(string(a)), shorten(string(b)))
	}
	return json.Number(strconv.FormatFloat(s, 'g', -1, 64)), nil
}

// shorten keeps hostile inputs (a megabyte of digits) out of error messages.
func shorten(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
