// Package accessor parses and evaluates Fluent Bit record accessors such as
// $kubernetes['labels']['app'], $log or $TAG[2], the syntax the built-in
// loki output uses for labels, label_keys, remove_keys and tenant_id_key.
// Lookups read the raw msgpack of a record without decoding it.
package accessor

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kubeship/kubeship/internal/record"
)

// Path is a parsed record accessor.
type Path struct {
	pattern string
	steps   []step
	tag     bool // $TAG or $TAG[n]
	tagPart int  // -1 for the whole tag
}

type step struct {
	key     string
	index   int
	isIndex bool
}

// Parse parses a record accessor. The leading '$' is required; a bare key
// such as "log" is accepted by Fields callers that allow it (see Key).
func Parse(s string) (Path, error) {
	p := Path{pattern: s, tagPart: -1}
	if !strings.HasPrefix(s, "$") || len(s) < 2 {
		return Path{}, fmt.Errorf("record accessor %q: must start with '$' followed by a key, e.g. $kubernetes['pod_name']", s)
	}
	rest := s[1:]
	n := strings.IndexByte(rest, '[')
	if n < 0 {
		n = len(rest)
	}
	first := rest[:n]
	if first == "" {
		return Path{}, fmt.Errorf("record accessor %q: missing key name after '$'", s)
	}
	if strings.ContainsAny(first, "]'\" \t") {
		return Path{}, fmt.Errorf("record accessor %q: invalid key name %q", s, first)
	}
	if first[0] >= '0' && first[0] <= '9' {
		return Path{}, fmt.Errorf("record accessor %q: key name cannot start with a digit", s)
	}
	rest = rest[n:]
	if first == "TAG" {
		p.tag = true
		if rest == "" {
			return p, nil
		}
		st, tail, err := parseBracket(s, rest)
		if err != nil {
			return Path{}, err
		}
		if !st.isIndex || tail != "" {
			return Path{}, fmt.Errorf("record accessor %q: $TAG takes only one numeric part, e.g. $TAG[1]", s)
		}
		p.tagPart = st.index
		return p, nil
	}
	p.steps = append(p.steps, step{key: first})
	for rest != "" {
		st, tail, err := parseBracket(s, rest)
		if err != nil {
			return Path{}, err
		}
		p.steps = append(p.steps, st)
		rest = tail
	}
	return p, nil
}

// Key parses s as a record accessor, accepting a bare top-level key name
// ("log") as Fluent Bit's remove_keys and grafana-loki's LabelKeys do.
func Key(s string) (Path, error) {
	if !strings.HasPrefix(s, "$") {
		s = "$" + s
	}
	return Parse(s)
}

// parseBracket reads one ['key'], ["key"] or [N] element from the front of rest.
func parseBracket(pattern, rest string) (step, string, error) {
	bad := func(why string) (step, string, error) {
		return step{}, "", fmt.Errorf("record accessor %q: %s", pattern, why)
	}
	if rest[0] != '[' {
		return bad("expected '[' after a key, got " + strconv.Quote(rest[:1]))
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return bad("missing ']'")
	}
	inner := rest[1:end]
	if len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') {
		q := inner[0]
		// A quoted key may itself contain ']' (e.g. ['a]b']): find the closing quote.
		closeQ := strings.IndexByte(rest[2:], q)
		if closeQ < 0 {
			return bad("unterminated quote")
		}
		key := rest[2 : 2+closeQ]
		after := rest[2+closeQ+1:]
		if after == "" || after[0] != ']' {
			return bad("expected ']' after the quoted key " + strconv.Quote(key))
		}
		if key == "" {
			return bad("empty key")
		}
		return step{key: key}, after[1:], nil
	}
	idx, err := strconv.Atoi(inner)
	if err != nil || idx < 0 {
		return bad("subscript must be a quoted key or a non-negative index, got " + strconv.Quote("["+inner+"]"))
	}
	return step{index: idx, isIndex: true}, rest[end+1:], nil
}

// String returns the pattern as written.
func (p Path) String() string { return p.pattern }

// IsTag reports whether the accessor reads the tag ($TAG, $TAG[n]).
func (p Path) IsTag() bool { return p.tag }

// Root is the record key the path starts at, "" for the tag.
func (p Path) Root() string {
	if p.tag || len(p.steps) == 0 {
		return ""
	}
	return p.steps[0].key
}

// Keys returns the map keys of the path, and false if any step is an array index.
func (p Path) Keys() ([]string, bool) {
	keys := make([]string, 0, len(p.steps))
	for _, s := range p.steps {
		if s.isIndex {
			return nil, false
		}
		keys = append(keys, s.key)
	}
	return keys, !p.tag
}

// Name is the label name Fluent Bit's loki output derives from an accessor
// used without an explicit name: its parts joined with '_'
// ($kubernetes['labels']['app'] → kubernetes_labels_app). Callers sanitize it.
func (p Path) Name() string {
	if p.tag {
		if p.tagPart >= 0 {
			return "TAG_" + strconv.Itoa(p.tagPart)
		}
		return "TAG"
	}
	var b strings.Builder
	for i, s := range p.steps {
		if i > 0 {
			b.WriteByte('_')
		}
		if s.isIndex {
			b.WriteString(strconv.Itoa(s.index))
		} else {
			b.WriteString(s.key)
		}
	}
	return b.String()
}

// Lookup returns the raw msgpack value the path selects in body (a msgpack
// map). Tag accessors select nothing here; use AppendValue.
//
// Of a key a map holds more than once, it reads the copy Fluent Bit wrote:
// at the top level the one record.CopyOf names (a merged log line's fields
// come after the parser's keys and before the kubernetes filter's map, so
// a line cannot pick another team's tenant or labels), and in nested maps
// the last, as Fluent Bit's own record accessor does.
func (p Path) Lookup(body []byte) ([]byte, bool) {
	if p.tag || len(p.steps) == 0 {
		return nil, false
	}
	v := body
	for i, s := range p.steps {
		var ok bool
		switch {
		case s.isIndex:
			v, ok = record.Index(v, s.index)
		case i == 0:
			v, ok = record.Field(v, s.key)
		default:
			v, ok = record.GetLast(v, s.key)
		}
		if !ok {
			return nil, false
		}
	}
	return v, true
}

// AppendValue appends the text of the selected value (strings as they are,
// numbers and booleans formatted, maps and arrays as JSON) and reports
// whether the path selected a value.
func (p Path) AppendValue(dst []byte, tag string, body []byte) ([]byte, bool) {
	if p.tag {
		if p.tagPart < 0 {
			return append(dst, tag...), tag != ""
		}
		part, ok := tagPart(tag, p.tagPart)
		return append(dst, part...), ok
	}
	v, ok := p.Lookup(body)
	if !ok {
		return dst, false
	}
	return record.AppendString(dst, v)
}

func tagPart(tag string, n int) (string, bool) {
	for i := 0; ; i++ {
		dot := strings.IndexByte(tag, '.')
		if i == n {
			if dot < 0 {
				return tag, true
			}
			return tag[:dot], true
		}
		if dot < 0 {
			return "", false
		}
		tag = tag[dot+1:]
	}
}
