package manifests

import (
	"strconv"
	"strings"
	"time"
)

// section is one [SECTION] of a classic Fluent Bit configuration: its kind
// (SERVICE, INPUT, FILTER, OUTPUT, PARSER) and its keys, lower-cased, each
// with its values in order (a key may repeat).
type section struct {
	kind string
	keys map[string][]string
}

func (s section) get(key string) string {
	if v := s.keys[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// parseClassic reads a classic configuration as the shipped files write it:
// one `key value` a line, # comments, sections in brackets.
func parseClassic(text string) []section {
	var out []section
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			out = append(out, section{kind: strings.ToUpper(strings.Trim(line, "[]")), keys: map[string][]string{}})
			continue
		}
		if len(out) == 0 {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		k = strings.ToLower(k)
		out[len(out)-1].keys[k] = append(out[len(out)-1].keys[k], strings.TrimSpace(v))
	}
	return out
}

func sectionsOf(secs []section, kind, name string) []section {
	var out []section
	for _, s := range secs {
		if s.kind == kind && (name == "" || strings.EqualFold(s.get("name"), name)) {
			out = append(out, s)
		}
	}
	return out
}

// seconds reads a Fluent Bit or kubeship duration: "4s", "200ms", "14".
func seconds(v string) (float64, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return n, true
	}
	d, err := time.ParseDuration(v)
	return d.Seconds(), err == nil
}

// bytesOf reads a Fluent Bit size ("1G", "512M", "8MB") in bytes: K, M
// and G are powers of 1000, as flb_utils_size_to_bytes reads them.
func bytesOf(v string) (int64, bool) {
	v = strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(v)), "B")
	mult := int64(1)
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 'K':
			mult = 1e3
		case 'M':
			mult = 1e6
		case 'G':
			mult = 1e9
		}
		if mult > 1 {
			v = v[:n-1]
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n * mult, err == nil
}
