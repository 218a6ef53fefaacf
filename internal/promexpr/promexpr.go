// Package promexpr finds the series selectors in a PromQL expression: the
// metric each one names and the label names its matchers test. It is a
// lexer, not a parser: enough to check that every metric a dashboard or an
// alert rule uses exists on a node (internal/deploycheck), without pulling
// the Prometheus server module into this module. The deploy module checks
// it against Prometheus's own parser on every expression the deployment
// files hold (deploy/internal/check), so a case it gets wrong fails there.
package promexpr

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Selector is one series selector of an expression.
type Selector struct {
	// Metric is the metric name it selects ("" when it names none, as
	// in {job="x"}).
	Metric string
	// Labels are the label names its matchers test, sorted. A
	// __name__="x" matcher names the metric and is not listed; __name__
	// matched any other way is.
	Labels []string
}

// ErrSyntax reports an expression the lexer cannot read.
var ErrSyntax = errors.New("promql syntax")

// labelListKeywords take a parenthesized list of label names, not an
// expression: sum by (instance) (...), a / on (job) group_left (x) b.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// keywords are identifiers that are never metric names: binary operators,
// modifiers, aggregations (which may be followed by by/without rather than a
// parenthesis) and the special numbers.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"start": true, "end": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// Selectors returns the selectors of expr in the order they appear.
func Selectors(expr string) ([]Selector, error) {
	l := &lexer{src: expr}
	var out []Selector
	for {
		l.skipSpace()
		if l.done() {
			return out, nil
		}
		c := l.src[l.pos]
		switch {
		case c == '"' || c == '\'' || c == '`':
			if _, err := l.str(); err != nil {
				return nil, err
			}
		case c == '[':
			end := strings.IndexByte(l.src[l.pos:], ']')
			if end < 0 {
				return nil, l.errorf("unclosed [")
			}
			l.pos += end + 1
		case c == '{':
			sel, err := l.matchers("")
			if err != nil {
				return nil, err
			}
			out = append(out, sel)
		case isIdentStart(c):
			word := l.ident()
			l.skipSpace()
			next := l.peek()
			switch {
			case labelListKeywords[word]:
				if next == '(' {
					if err := l.skipLabelList(); err != nil {
						return nil, err
					}
				}
			case keywords[word]:
			case next == '(':
				// A function call: its arguments are read as they come.
			case next == '{':
				sel, err := l.matchers(word)
				if err != nil {
					return nil, err
				}
				out = append(out, sel)
			default:
				out = append(out, Selector{Metric: word, Labels: []string{}})
			}
		case isDigit(c) || (c == '.' && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1])):
			// Numbers and durations: 0.99, 1e3, 0x1f, 5m, 1h30m.
			for !l.done() && (isIdentChar(l.src[l.pos]) || l.src[l.pos] == '.') {
				l.pos++
			}
		case c == '}' || c == ']':
			return nil, l.errorf("unexpected %q", c)
		default:
			l.pos++ // operators, parentheses, commas, @
		}
	}
}

type lexer struct {
	src string
	pos int
}

func (l *lexer) done() bool { return l.pos >= len(l.src) }

func (l *lexer) peek() byte {
	if l.done() {
		return 0
	}
	return l.src[l.pos]
}

func (l *lexer) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d of %q: %s", ErrSyntax, l.pos, l.src, fmt.Sprintf(format, args...))
}

// skipSpace skips white space and # comments.
func (l *lexer) skipSpace() {
	for !l.done() {
		switch c := l.src[l.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.pos++
		case c == '#':
			for !l.done() && l.src[l.pos] != '\n' {
				l.pos++
			}
		default:
			return
		}
	}
}

func (l *lexer) ident() string {
	start := l.pos
	for !l.done() && isIdentChar(l.src[l.pos]) {
		l.pos++
	}
	return l.src[start:l.pos]
}

// str reads a quoted string and returns its contents. Backslash escapes
// are honoured in "..." and '...' (and kept as written: label names and
// metric names never need them); `...` has none.
func (l *lexer) str() (string, error) {
	quote := l.src[l.pos]
	l.pos++
	var b strings.Builder
	for !l.done() {
		c := l.src[l.pos]
		switch {
		case c == quote:
			l.pos++
			return b.String(), nil
		case c == '\\' && quote != '`' && l.pos+1 < len(l.src):
			b.WriteByte(c)
			b.WriteByte(l.src[l.pos+1])
			l.pos += 2
		case c == '\n' && quote != '`':
			return "", l.errorf("newline in string")
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return "", l.errorf("unterminated string")
}

// skipLabelList skips "(a, b, c)" after by, without, on, ignoring or
// group_x: label names (bare or quoted) and commas only.
func (l *lexer) skipLabelList() error {
	l.pos++ // (
	for {
		l.skipSpace()
		switch c := l.peek(); {
		case c == ')':
			l.pos++
			return nil
		case c == ',':
			l.pos++
		case c == '"' || c == '\'' || c == '`':
			if _, err := l.str(); err != nil {
				return err
			}
		case isIdentStart(c):
			l.ident()
		case c == 0:
			return l.errorf("unclosed label list")
		default:
			return l.errorf("want a label name in a label list, found %q", c)
		}
	}
}

// matchers reads {label op "value", ...} for a selector of metric (or of
// no metric: then a bare "name" or a __name__ matcher may name it).
func (l *lexer) matchers(metric string) (Selector, error) {
	l.pos++ // {
	sel := Selector{Metric: metric, Labels: []string{}}
	for {
		l.skipSpace()
		switch c := l.peek(); {
		case c == '}':
			l.pos++
			slices.Sort(sel.Labels)
			sel.Labels = slices.Compact(sel.Labels)
			return sel, nil
		case c == ',':
			l.pos++
			continue
		case c == 0:
			return Selector{}, l.errorf("unclosed {")
		}
		var name string
		switch c := l.peek(); {
		case c == '"' || c == '\'' || c == '`':
			s, err := l.str()
			if err != nil {
				return Selector{}, err
			}
			name = s
		case isIdentStart(c):
			name = l.ident()
		default:
			return Selector{}, l.errorf("want a label name, found %q", c)
		}
		l.skipSpace()
		if c := l.peek(); c == ',' || c == '}' {
			// A quoted name alone is the metric name ({"metric"}).
			if sel.Metric != "" {
				return Selector{}, l.errorf("two metric names: %q and %q", sel.Metric, name)
			}
			sel.Metric = name
			continue
		}
		op := l.op()
		if op == "" {
			return Selector{}, l.errorf("want =, !=, =~ or !~ after label %q", name)
		}
		l.skipSpace()
		if c := l.peek(); c != '"' && c != '\'' && c != '`' {
			return Selector{}, l.errorf("want a quoted value for label %q", name)
		}
		value, err := l.str()
		if err != nil {
			return Selector{}, err
		}
		if name == "__name__" && op == "=" {
			if sel.Metric != "" {
				return Selector{}, l.errorf("two metric names: %q and %q", sel.Metric, value)
			}
			sel.Metric = value
			continue
		}
		sel.Labels = append(sel.Labels, name)
	}
}

func (l *lexer) op() string {
	for _, op := range []string{"=~", "!~", "!=", "="} {
		if strings.HasPrefix(l.src[l.pos:], op) {
			l.pos += len(op)
			return op
		}
	}
	return ""
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
