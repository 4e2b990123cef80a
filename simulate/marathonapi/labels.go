package marathonapi

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// selector is a parsed label selector, the `label` parameter of GET /v2/apps. Every requirement must
// hold: a comma is AND.
type selector []requirement

// requirement is one selector term. As in Marathon's LabelSelector.matches, every kind, != and notin
// included, first requires the label to exist.
type requirement struct {
	key    string
	op     string // "" (existence), "==", "!=", "in" or "notin"
	values []string
}

func (s selector) matches(labels map[string]string) bool {
	for _, r := range s {
		if !r.matches(labels) {
			return false
		}
	}
	return true
}

func (r requirement) matches(labels map[string]string) bool {
	v, ok := labels[r.key]
	if !ok {
		return false
	}
	switch r.op {
	case "==":
		return v == r.values[0]
	case "!=":
		return v != r.values[0]
	case "in":
		return slices.Contains(r.values, v)
	case "notin":
		return !slices.Contains(r.values, v)
	}
	return true
}

// parseSelector parses a label selector with the grammar of Marathon 1.x's LabelSelectorParsers
// (Scala RegexParsers, so whitespace may stand before every token):
//
//	query    = [ selector { "," selector } ]
//	selector = term ("in" | "notin") "(" [ term { "," term } ] ")"   (tried first)
//	         | term ("==" | "!=") term
//	         | term
//	term     = { "\" any-char | [-A-Za-z0-9_.] }+   (the backslash is dropped: "frontend\ tier")
//
// The error text is what Marathon puts in its 422 message.
func parseSelector(in string) (selector, error) {
	p := &selectorParser{in: in}
	var out selector
	for {
		start := p.pos
		r, ok := p.selector()
		if !ok {
			p.pos = start
			if len(out) == 0 {
				break // repsep allows an empty list; the end check below reports what is left
			}
			return nil, p.fail("a label selector")
		}
		out = append(out, r)
		mark := p.pos
		if !p.literal(",") {
			p.pos = mark
			break
		}
	}
	p.skipSpace()
	if p.pos != len(in) {
		return nil, p.fail("',' or the end of the selector")
	}
	return out, nil
}

type selectorParser struct {
	in  string
	pos int
	// furthest is the furthest position a token failed at, for the error message.
	furthest int
}

func (p *selectorParser) fail(want string) error {
	at := max(p.furthest, p.pos)
	rest := p.in[at:]
	if rest == "" {
		return fmt.Errorf("expected %s at the end of %q", want, p.in)
	}
	return fmt.Errorf("expected %s at position %d, found %q", want, at, rest)
}

func (p *selectorParser) selector() (requirement, bool) {
	start := p.pos
	if r, ok := p.setSelector(); ok {
		return r, true
	}
	p.pos = start
	if r, ok := p.equalitySelector(); ok {
		return r, true
	}
	p.pos = start
	key, ok := p.term()
	return requirement{key: key}, ok
}

func (p *selectorParser) setSelector() (requirement, bool) {
	key, ok := p.term()
	if !ok {
		return requirement{}, false
	}
	op, ok := p.oneOf("in", "notin")
	if !ok || !p.literal("(") {
		return requirement{}, false
	}
	values := []string{}
	if v, ok := p.term(); ok {
		values = append(values, v)
		for {
			mark := p.pos
			if !p.literal(",") {
				p.pos = mark
				break
			}
			v, ok := p.term()
			if !ok {
				p.pos = mark
				break
			}
			values = append(values, v)
		}
	}
	if !p.literal(")") {
		return requirement{}, false
	}
	return requirement{key: key, op: op, values: values}, true
}

func (p *selectorParser) equalitySelector() (requirement, bool) {
	key, ok := p.term()
	if !ok {
		return requirement{}, false
	}
	op, ok := p.oneOf("==", "!=")
	if !ok {
		return requirement{}, false
	}
	value, ok := p.term()
	if !ok {
		return requirement{}, false
	}
	return requirement{key: key, op: op, values: []string{value}}, true
}

// term reads `(\\.|[-A-Za-z0-9_.])+` and drops the escaping backslashes.
func (p *selectorParser) term() (string, bool) {
	p.skipSpace()
	var b strings.Builder
	i := p.pos
	for i < len(p.in) {
		c := p.in[i]
		if c == '\\' && i+1 < len(p.in) {
			r, size := utf8.DecodeRuneInString(p.in[i+1:])
			if !javaLineTerminator(r) {
				b.WriteString(p.in[i+1 : i+1+size])
				i += 1 + size
				continue
			}
		}
		if !termChar(c) {
			break
		}
		b.WriteByte(c)
		i++
	}
	if i == p.pos {
		p.furthest = max(p.furthest, p.pos)
		return "", false
	}
	p.pos = i
	return b.String(), true
}

// oneOf reads the first of the literals that follows, like the regex alternation `(a|b)` does.
func (p *selectorParser) oneOf(lits ...string) (string, bool) {
	for _, l := range lits {
		mark := p.pos
		if p.literal(l) {
			return l, true
		}
		p.pos = mark
	}
	return "", false
}

func (p *selectorParser) literal(l string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.in[p.pos:], l) {
		p.pos += len(l)
		return true
	}
	p.furthest = max(p.furthest, p.pos)
	return false
}

// skipSpace skips what Java's `\s` matches, RegexParsers' default whiteSpace.
func (p *selectorParser) skipSpace() {
	for p.pos < len(p.in) && strings.IndexByte(" \t\n\x0b\f\r", p.in[p.pos]) >= 0 {
		p.pos++
	}
}

func termChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// javaLineTerminator reports the characters that Java's `.` does not match.
func javaLineTerminator(r rune) bool {
	return r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029'
}
