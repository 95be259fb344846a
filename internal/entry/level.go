package entry

import "bytes"

// levelKeys are the fields applications and logging libraries name their
// severity with, in order of preference.
var levelKeys = []string{"level", "severity", "lvl", "loglevel", "log.level"}

// levelRank is k's position in levelKeys, len(levelKeys) when absent.
func levelRank(k []byte) int {
	for i, l := range levelKeys {
		if string(k) == l {
			return i
		}
	}
	return len(levelKeys)
}

// Level returns the severity an application wrote in a JSON line: a level
// field of the record (the kubernetes filter's Merge_Log lifts JSON fields
// into it) or of the JSON object in `log`. nil when there is none.
func (e Entry) Level() []byte {
	if e.level != nil {
		return e.level
	}
	if len(e.message) < 2 || e.message[0] != '{' {
		return nil
	}
	return jsonLevel(e.message)
}

// jsonLevel finds a top-level level field with a string value in a JSON
// object. It is a hand-written scanner, not a JSON library, because it runs
// on every JSON line and must allocate nothing (jsoniter's object walk made
// a string per key: a third of BenchmarkEncode's allocations); it only
// tracks strings and nesting, and FuzzJSONLevel checks it against
// encoding/json. A value with escapes is ignored: no level name has one.
func jsonLevel(obj []byte) []byte {
	var found []byte
	best := len(levelKeys)
	depth := 0
	expectKey := false // at depth 1, the next string is a key
	var key []byte
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
				return found
			}
			s := obj[i+1 : end]
			switch {
			case depth == 1 && expectKey:
				key, expectKey = s, false
			case depth == 1 && key != nil:
				if r := levelRank(key); r < best && !escaped && len(s) > 0 {
					found, best = s, r
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
	return found
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
