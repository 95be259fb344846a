package record

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendString appends the text form of the value v to dst: a str or bin as
// is; an integer in decimal; a float as JSON would print it; true or false;
// nothing for nil; a map or array as its JSON ([AppendJSON]). It returns dst
// unchanged and false for an extension (including Fluent Bit time) or a
// malformed value.
func AppendString(dst, v []byte) ([]byte, bool) {
	if len(v) == 0 {
		return dst, false
	}
	c := v[0]
	switch {
	case c <= 0x7f:
		return strconv.AppendInt(dst, int64(c), 10), true
	case c >= 0xe0:
		return strconv.AppendInt(dst, int64(int8(c)), 10), true
	case c >= 0xa0 && c <= 0xbf:
		s, _, ok := readText(v)
		return append(dst, s...), ok
	}
	switch c {
	case 0xc0:
		return dst, true
	case 0xc2:
		return append(dst, "false"...), true
	case 0xc3:
		return append(dst, "true"...), true
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb:
		s, _, ok := readText(v)
		return append(dst, s...), ok
	case 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3:
		out, _, err := appendScalar(dst, v, false)
		return out, err == nil
	}
	if c <= 0x9f || c == 0xdc || c == 0xdd || c == 0xde || c == 0xdf {
		out, err := AppendJSON(dst, v)
		return out, err == nil
	}
	return dst, false // ext, 0xc1
}

// AppendJSON appends the value v as JSON to dst: str and bin as JSON strings
// (bin bytes are taken as text, as Fluent Bit does; invalid UTF-8 becomes
// U+FFFD), integers and floats as numbers (NaN and infinities as null), bool,
// nil as null, maps and arrays recursively (a key that is not a str or bin is
// turned into a string: see [Each]), ext type 0 (Fluent Bit time) as a number
// of seconds with up to 9 decimals, other extensions as null. HTML characters
// are not escaped. On malformed input it returns dst unchanged and an error
// wrapping [ErrTruncated], [ErrInvalid] or [ErrTooDeep].
//
// It is not msgp.UnmarshalAsJSON because that renders a record otherwise:
// bin as base64; Fluent Bit's time (ext type 0) as
// {"type":0,"data":"<base64>"}; floats always in plain notation (1e21 as
// 1000000000000000000000) and NaN and infinities as NaN and +Inf, which are
// not JSON; <, > and & escaped as \u003c, \u003e and \u0026. It fails on a
// map key other than a str or an integer (a bin key included), leaves what
// it wrote so far on malformed input, and writes to an io.Writer where this
// appends to dst without allocating. Decoding with msgp and encoding with
// encoding/json instead gives the same JSON values (FuzzAppendJSONLibraries)
// for 7 times the instructions and 112 allocations per Fargate record
// (BenchmarkAppendJSON, BenchmarkAppendJSONLibraries: 12,071 and 89,823).
func AppendJSON(dst, v []byte) ([]byte, error) {
	out, rest, err := appendJSON(dst, v, 0)
	if err != nil {
		return dst, fmt.Errorf("at byte %d: %w", len(v)-len(rest), err)
	}
	return out, nil
}

// appendJSON appends the value at the start of b. On error, rest is where the
// fault was found.
func appendJSON(dst, b []byte, depth int) (out, rest []byte, err error) {
	if len(b) == 0 {
		return dst, b, ErrTruncated
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return strconv.AppendInt(dst, int64(c), 10), b[1:], nil
	case c >= 0xe0:
		return strconv.AppendInt(dst, int64(int8(c)), 10), b[1:], nil
	case c <= 0x8f:
		return appendMap(dst, b, b[1:], int(c&0x0f), depth)
	case c <= 0x9f:
		return appendArray(dst, b, b[1:], int(c&0x0f), depth)
	}
	switch c {
	case 0xc0:
		return append(dst, "null"...), b[1:], nil
	case 0xc2:
		return append(dst, "false"...), b[1:], nil
	case 0xc3:
		return append(dst, "true"...), b[1:], nil
	case 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3:
		return appendScalar(dst, b, true)
	case 0xdc, 0xdd, 0xde, 0xdf:
		k, h, n, ok := Header(b)
		if !ok {
			return dst, b, ErrTruncated
		}
		if k == Array {
			return appendArray(dst, b, b[h:], n, depth)
		}
		return appendMap(dst, b, b[h:], n, depth)
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		typ, data, rest, err := readExt(b)
		if err != nil {
			return dst, b, err
		}
		if typ == 0 && len(data) == 8 {
			return appendTime(dst, be32(data), be32(data[4:])), rest, nil
		}
		return append(dst, "null"...), rest, nil
	case 0xc1:
		return dst, b, ErrInvalid
	}
	// str and bin
	s, rest, ok := readText(b)
	if !ok {
		return dst, b, ErrTruncated
	}
	return AppendJSONString(dst, s), rest, nil
}

func appendArray(dst, at, b []byte, n, depth int) ([]byte, []byte, error) {
	if depth >= MaxDepth {
		return dst, at, ErrTooDeep
	}
	if n > len(b) { // every element takes at least one byte
		return dst, at, ErrTruncated
	}
	dst = append(dst, '[')
	var err error
	for i := 0; i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, b, err = appendJSON(dst, b, depth+1); err != nil {
			return dst, b, err
		}
	}
	return append(dst, ']'), b, nil
}

func appendMap(dst, at, b []byte, n, depth int) ([]byte, []byte, error) {
	if depth >= MaxDepth {
		return dst, at, ErrTooDeep
	}
	if n > len(b)/2 { // every key and value takes at least one byte
		return dst, at, ErrTruncated
	}
	dst = append(dst, '{')
	var err error
	for i := 0; i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		if k, rest, ok := shortStr(b); ok {
			dst = AppendJSONString(dst, k)
			b = rest
		} else if k, rest, ok := readText(b); ok {
			dst = AppendJSONString(dst, k)
			b = rest
		} else if dst, b, err = appendKey(dst, b, depth+1); err != nil {
			return dst, b, err
		}
		dst = append(dst, ':')
		if v, rest, ok := shortStr(b); ok { // the common case, without a call
			dst = AppendJSONString(dst, v)
			b = rest
		} else if dst, b, err = appendJSON(dst, b, depth+1); err != nil {
			return dst, b, err
		}
	}
	return append(dst, '}'), b, nil
}

// shortStr is readText for fixstr and str 8 only, small enough to inline
// (FuzzHeader checks that it reads what readText reads).
func shortStr(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, nil, false
	}
	n, h := int(b[0]&0x1f), 1
	if b[0]&0xe0 != 0xa0 {
		if b[0] != 0xd9 || len(b) < 2 {
			return nil, nil, false
		}
		n, h = int(b[1]), 2
	}
	if len(b)-h < n {
		return nil, nil, false
	}
	return b[h : h+n], b[h+n:], true
}

// appendKey appends a map key that is not a str or bin as a JSON string of
// its text: see appendKeyText.
func appendKey(dst, b []byte, depth int) ([]byte, []byte, error) {
	switch Type(b) {
	case Nil:
		return append(dst, `""`...), b[1:], nil
	case Bool, Int, Uint, Float:
		var tmp [32]byte
		text, rest, err := appendScalar(tmp[:0], b, false)
		if err != nil {
			return dst, b, err
		}
		return AppendJSONString(dst, text), rest, nil
	}
	// map, array, ext: quote its JSON. Rare: Fluent Bit writes str keys.
	js, rest, err := appendJSON(nil, b, depth)
	if err != nil {
		return dst, rest, err
	}
	return AppendJSONString(dst, js), rest, nil
}

// appendKeyText appends the text of a map key that is not a str or bin, as
// [Each] passes it: its AppendString form, or its JSON for an extension.
func appendKeyText(dst, k []byte) ([]byte, error) {
	if out, ok := AppendString(dst, k); ok {
		return out, nil
	}
	return AppendJSON(dst, k)
}

// appendScalar appends the int, uint, float or bool at the start of b. json
// selects null for NaN and infinities (JSON has no such numbers) instead of
// strconv's NaN, +Inf, -Inf.
func appendScalar(dst, b []byte, json bool) ([]byte, []byte, error) {
	n := int(heads[b[0]].size) // the whole encoding of a scalar
	if len(b) < n {
		return dst, b, ErrTruncated
	}
	p := b[1:n]
	switch c := b[0]; c {
	case 0xc2:
		dst = append(dst, "false"...)
	case 0xc3:
		dst = append(dst, "true"...)
	case 0xcc:
		dst = strconv.AppendUint(dst, uint64(p[0]), 10)
	case 0xcd:
		dst = strconv.AppendUint(dst, uint64(be16(p)), 10)
	case 0xce:
		dst = strconv.AppendUint(dst, uint64(be32(p)), 10)
	case 0xcf:
		dst = strconv.AppendUint(dst, be64(p), 10)
	case 0xd0:
		dst = strconv.AppendInt(dst, int64(int8(p[0])), 10)
	case 0xd1:
		dst = strconv.AppendInt(dst, int64(int16(be16(p))), 10)
	case 0xd2:
		dst = strconv.AppendInt(dst, int64(int32(be32(p))), 10)
	case 0xd3:
		dst = strconv.AppendInt(dst, int64(be64(p)), 10)
	case 0xca:
		dst = appendFloat(dst, float64(math.Float32frombits(be32(p))), 32, json)
	case 0xcb:
		dst = appendFloat(dst, math.Float64frombits(be64(p)), 64, json)
	default:
		switch {
		case c <= 0x7f:
			dst = strconv.AppendInt(dst, int64(c), 10)
		case c >= 0xe0:
			dst = strconv.AppendInt(dst, int64(int8(c)), 10)
		default:
			return dst, b, ErrInvalid
		}
	}
	return dst, b[n:], nil
}

// appendFloat formats f as encoding/json does: the shortest representation
// that reads back to the same float32 or float64, in plain notation for
// 1e-6 <= |f| < 1e21 and exponent notation otherwise.
func appendFloat(dst []byte, f float64, bits int, json bool) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if json {
			return append(dst, "null"...)
		}
		return strconv.AppendFloat(dst, f, 'g', -1, bits)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendTime appends a Fluent Bit event time as exact decimal seconds.
func appendTime(dst []byte, sec, nsec uint32) []byte {
	s := uint64(sec) + uint64(nsec/1e9)
	frac := nsec % 1e9
	dst = strconv.AppendUint(dst, s, 10)
	if frac == 0 {
		return dst
	}
	var digits [10]byte
	digits[0] = '.'
	for i := 9; i >= 1; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 10
	for digits[n-1] == '0' {
		n--
	}
	return append(dst, digits[:n]...)
}

const hexDigits = "0123456789abcdef"

// safeASCII marks the ASCII bytes that go into a JSON string as they are.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Word-at-a-time constants for spotting bytes that need attention.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special8 returns a mask whose lowest set bit is the high bit of the first
// byte of x (little-endian) that is a control character, '"', '\\' or not
// ASCII; 0 when there is none. Bits above the lowest may be false alarms.
//
// For a byte below 0x80, b-0x20 wraps to have its high bit set only when b <
// 0x20, and b^'"'-1 only when b == '"'; a byte at or above 0x80 is flagged by
// its own high bit. Borrows only travel upwards from a flagged byte, so the
// lowest flag is exact.
func special8(x uint64) uint64 {
	return ((x - 0x20*lsb) | (x ^ '"'*lsb - lsb) | (x ^ '\\'*lsb - lsb) | x) & msb
}

// AppendJSONString appends s as a JSON string literal: quotes, backslash and
// control characters escaped (\n, \r, \t, \b, \f or \u00XX), U+2028 and U+2029
// escaped, invalid UTF-8 replaced by \ufffd; HTML characters are left alone.
// The output is what encoding/json produces with SetEscapeHTML(false)
// (FuzzAppendJSONString compares them byte for byte); leaving <, > and &
// alone is the one difference from encoding/json's default, on purpose:
// log lines are not HTML. It is written out because every line of every
// record goes through it: a Fargate log line takes 855 instructions and no
// allocation here, 3,836 and two allocations through an encoding/json
// Encoder (BenchmarkAppendJSONString, BenchmarkAppendJSONLibraries).
func AppendJSONString(dst []byte, s []byte) []byte {
	// Find the first byte that needs escaping, a word at a time.
	i := 0
	for ; i+16 <= len(s); i += 16 { // two independent words per step
		m0, m1 := special8(le64(s[i:])), special8(le64(s[i+8:]))
		if m0|m1 != 0 {
			if m0 != 0 {
				return appendEscaped(dst, s, i+bits.TrailingZeros64(m0)>>3)
			}
			return appendEscaped(dst, s, i+8+bits.TrailingZeros64(m1)>>3)
		}
	}
	if i+8 <= len(s) {
		if m := special8(le64(s[i:])); m != 0 {
			return appendEscaped(dst, s, i+bits.TrailingZeros64(m)>>3)
		}
		i += 8
	}
	if r := len(s) - i; r > 0 {
		if cap(s)-i >= 8 {
			// Read the last r bytes as a word together with bytes past the
			// end of s (s is usually a slice of a larger buffer), replaced
			// by the harmless 'A'.
			keep := uint64(1)<<(8*r) - 1
			x := le64(s[i : i+8 : i+8])
			if m := special8(x&keep | 0x4141414141414141&^keep); m != 0 {
				return appendEscaped(dst, s, i+bits.TrailingZeros64(m)>>3)
			}
		} else {
			for ; i < len(s); i++ {
				if c := s[i]; c >= utf8.RuneSelf || !safeASCII[c] {
					return appendEscaped(dst, s, i)
				}
			}
		}
	}
	// The common case: nothing to escape.
	n := len(dst)
	dst = slices.Grow(dst, len(s)+2)[:n+len(s)+2]
	dst[n] = '"'
	copy(dst[n+1:], s)
	dst[n+1+len(s)] = '"'
	return dst
}

// appendEscaped appends s as a JSON string whose first byte that needs
// escaping is s[i].
func appendEscaped(dst, s []byte, i int) []byte {
	dst = append(dst, '"')
	start := 0
	for i < len(s) {
		if i+8 <= len(s) {
			m := special8(le64(s[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
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
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func be64(b []byte) uint64 { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
