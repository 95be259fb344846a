package entry

import "bytes"

// levelKeys are the fields applications and logging libraries name their
// severity with, in order of preference.
var levelKeys = []string{"level", "severity", "lvl", "loglevel", "log.level"}

// DefaultTraceKeys and DefaultSpanKeys are the fields OpenTelemetry,
// logging libraries and Datadog's tracers name trace and span ids with, in
// order of preference (trace_id_keys, span_id_keys).
var (
	DefaultTraceKeys = []string{"trace_id", "traceId", "traceID", "dd.trace_id", "traceparent"}
	DefaultSpanKeys  = []string{"span_id", "spanId", "spanID", "dd.span_id"}
)

// Keys are the fields an entry's context is read from: its level always,
// and the trace and span ids when the keys name some.
type Keys struct {
	trace, span []string
	// byFirst lists the names by their first byte: most fields of a record
	// are rejected on their first byte, and the others compared with one
	// or two names instead of every name of every kind (which cost Loki's
	// BenchmarkEncode 8%).
	byFirst [256][]name
}

// name is one field name of a kind, with its rank among that kind's.
type name struct {
	name string
	kind kind
	rank int
}

type kind uint8

const (
	levelKind kind = iota
	traceKind
	spanKind
)

// NewKeys returns the keys that read trace ids from the fields named by
// trace and span ids from those named by span, each best first. A
// `traceparent` among trace is read as a W3C traceparent, which gives a
// span id too (below any span field).
func NewKeys(trace, span []string) *Keys {
	k := &Keys{trace: trace, span: span}
	for kd, names := range [][]string{levelKeys, trace, span} {
		for r, n := range names {
			if n != "" {
				k.byFirst[n[0]] = append(k.byFirst[n[0]], name{n, kind(kd), r})
			}
		}
	}
	return k
}

// levelOnly reads the level alone (a Reader without Keys).
var levelOnly = NewKeys(nil, nil)

// Context is what an application wrote about a line beyond its text.
type Context struct {
	Level, TraceID, SpanID []byte
	// TraceKey is the field the trace id came from ("" when none):
	// Datadog's tracers write dd.trace_id in Datadog's own form.
	TraceKey string
}

// Context returns the entry's level and trace context: fields of the
// record (the kubernetes filter's Merge_Log lifts JSON fields into it),
// else of the JSON object in the message. The message is scanned at most
// once, for all that the record lacks.
func (e Entry) Context() Context {
	c := e.ctx
	if len(e.message) < 2 || e.message[0] != '{' || e.ctxComplete {
		return c
	}
	j := scanJSON(e.message, e.keys)
	if c.Level == nil {
		c.Level = j.Level
	}
	if c.TraceID == nil {
		c.TraceID, c.TraceKey = j.TraceID, j.TraceKey
	}
	if c.SpanID == nil || e.spanWeak && j.SpanID != nil {
		c.SpanID = j.SpanID
	}
	return c
}

// found keeps the best-ranked value of each kind of field seen so far.
type found struct {
	Context
	keys                *Keys
	level, trace, span  int // ranks of the values kept; len(names) when none
	spanFromTraceparent bool
}

func newFound(keys *Keys) found {
	if keys == nil {
		keys = levelOnly
	}
	return found{keys: keys, level: len(levelKeys), trace: len(keys.trace), span: len(keys.span) + 1}
}

// complete reports whether no field could improve on what was found.
func (f *found) complete() bool {
	return f.Level != nil && (len(f.keys.trace) == 0 || f.TraceID != nil) && (len(f.keys.span) == 0 || f.SpanID != nil && !f.spanFromTraceparent)
}

// candidate reports whether a field named key may be a context field: a
// cheap test before reading its value.
func (k *Keys) candidate(key []byte) bool { return len(key) > 0 && k.byFirst[key[0]] != nil }

// consider takes key's text value v if key ranks better than what was found.
func (f *found) consider(key, v []byte) {
	if len(key) == 0 || len(v) == 0 {
		return
	}
	for _, n := range f.keys.byFirst[key[0]] {
		if string(key) != n.name {
			continue
		}
		switch {
		case n.kind == levelKind && n.rank < f.level:
			f.Level, f.level = v, n.rank
		case n.kind == traceKind && n.rank < f.trace && n.name == "traceparent":
			trace, span, ok := traceparent(v)
			if !ok {
				return
			}
			f.TraceID, f.trace, f.TraceKey = trace, n.rank, n.name
			if f.span > len(f.keys.span) {
				f.SpanID, f.span, f.spanFromTraceparent = span, len(f.keys.span), true
			}
		case n.kind == traceKind && n.rank < f.trace:
			f.TraceID, f.trace, f.TraceKey = v, n.rank, n.name
		case n.kind == spanKind && n.rank < f.span:
			f.SpanID, f.span, f.spanFromTraceparent = v, n.rank, false
		}
		return
	}
}

// traceparent reads a W3C traceparent, version-traceid-parentid-flags:
// 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.
func traceparent(v []byte) (trace, span []byte, ok bool) {
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || !IsHex(v[3:35]) || !IsHex(v[36:52]) {
		return nil, nil, false
	}
	return v[3:35], v[36:52], true
}

// IsHex reports whether b is lower- or upper-case hexadecimal digits.
func IsHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return len(b) > 0
}

// scanJSON finds the context fields among the top-level fields with string
// values of a JSON object. It is a hand-written scanner, not a JSON
// library, because it runs on every JSON line and must allocate nothing
// (jsoniter's object walk made a string per key: a third of
// BenchmarkEncode's allocations); it only tracks strings and nesting, and
// FuzzJSONContext checks it against encoding/json. Keys and values with
// escapes are ignored: no level name or id has one.
func scanJSON(obj []byte, keys *Keys) Context {
	f := newFound(keys)
	depth := 0
	expectKey := false // at depth 1, the next string is a key
	var key []byte
	keyEscaped := false
	for i := 0; i < len(obj); i++ {
		switch c := obj[i]; c {
		case '{', '[':
			depth++
			expectKey = c == '{' && depth == 1
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		case '"':
			end, escaped := stringEnd(obj, i+1)
			if end < 0 {
				return f.Context
			}
			s := obj[i+1 : end]
			switch {
			case depth == 1 && expectKey:
				key, keyEscaped, expectKey = s, escaped, false
			case depth == 1 && key != nil:
				if !escaped && !keyEscaped {
					f.consider(key, s)
				}
				key = nil
			}
			i = end
		case ':':
		default:
			if depth == 1 && !expectKey && c > ' ' {
				key = nil // a non-string value
			}
		}
	}
	return f.Context
}

// stringEnd returns the index of the quote that closes the string starting
// at i, and whether it holds escapes; -1 when it is not closed. It searches
// with bytes.IndexByte, not IndexAny over `"\`, which the profile of
// BenchmarkEncode showed building its byte set on every call: a quote closes
// the string unless an odd run of backslashes comes right before it.
func stringEnd(b []byte, i int) (int, bool) {
	for at := i; ; {
		j := bytes.IndexByte(b[at:], '"')
		if j < 0 {
			return -1, bytes.IndexByte(b[i:], '\\') >= 0
		}
		q := at + j
		n := 0
		for q-n > i && b[q-n-1] == '\\' {
			n++
		}
		if n%2 == 0 {
			return q, bytes.IndexByte(b[i:q], '\\') >= 0
		}
		at = q + 1
	}
}
