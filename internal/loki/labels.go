package loki

import (
	"bytes"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Loki's default validation limits (limits_config), each answered with a
// 400 that would reject the whole entry.
const (
	maxLabelNames       = 15   // max_label_names_per_series; service_name is not counted
	maxLabelNameLength  = 1024 // max_label_name_length
	maxLabelValueLength = 2048 // max_label_value_length
	maxMetadataEntries  = 128
	maxMetadataBytes    = 64 << 10 // structured metadata per line
)

// pair is one label or structured metadata entry under construction.
type pair struct {
	name, value []byte
}

// appendLabelName appends name sanitized to Prometheus label name rules
// ([a-zA-Z_][a-zA-Z0-9_]*): every other byte becomes '_', as Fluent Bit's
// loki output does, and a leading digit gets a '_' prefix.
func appendLabelName(dst, name []byte) []byte {
	if len(name) > maxLabelNameLength {
		name = name[:maxLabelNameLength]
	}
	if len(name) > 0 && name[0] >= '0' && name[0] <= '9' {
		dst = append(dst, '_')
	}
	for _, c := range name {
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			dst = append(dst, c)
		} else {
			dst = append(dst, '_')
		}
	}
	return dst
}

// labelName returns name sanitized, without copying when it is valid.
func labelName(name []byte) []byte {
	if len(name) == 0 || len(name) > maxLabelNameLength || name[0] >= '0' && name[0] <= '9' {
		return appendLabelName(nil, name)
	}
	for _, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return appendLabelName(nil, name)
		}
	}
	return name
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s []byte, n int) []byte {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// appendLabels appends the stream selector {a="x", b="y"} for pairs, sorted
// by name. Values are quoted with Go's rules, which Loki's parser undoes, so
// no value can close the quote or add a label.
func appendLabels(dst []byte, pairs []pair) []byte {
	slices.SortFunc(pairs, func(a, b pair) int { return bytes.Compare(a.name, b.name) })
	dst = append(dst, '{')
	for i, p := range pairs {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, p.name...)
		dst = append(dst, '=')
		dst = strconv.AppendQuote(dst, labelText(p.value))
	}
	return append(dst, '}')
}

// labelText returns a label value as text Loki accepts: invalid UTF-8 and
// U+FFFD become '?', because Loki re-parses stream selectors and rejects
// the whole push when one holds U+FFFD, even escaped. A valid value is
// returned without a copy: it is only read, while the selector is built.
func labelText(s []byte) string {
	if utf8.Valid(s) && !bytes.Contains(s, replacementChar) {
		return unsafe.String(unsafe.SliceData(s), len(s))
	}
	out := make([]byte, 0, len(s))
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		if r == utf8.RuneError {
			out = append(out, '?')
		} else {
			out = append(out, s[:size]...)
		}
		s = s[size:]
	}
	return string(out)
}

var replacementChar = []byte("\uFFFD")

// toValidUTF8 returns s with invalid bytes replaced by U+FFFD.
func toValidUTF8(s []byte) []byte {
	if utf8.Valid(s) {
		return s
	}
	return bytes.ToValidUTF8(s, replacementChar)
}
