// Package record reads raw msgpack values in place, without decoding them
// into Go values: it finds map entries, walks maps and renders values as text
// or JSON. Every function works on the caller's bytes (zero copy) and, apart
// from growing the destination slice of the Append functions, allocates
// nothing.
//
// A value is the msgpack encoding of one object at the start of a byte slice;
// bytes after it are ignored.
package record

import (
	"errors"
	"fmt"

	"github.com/tinylib/msgp/msgp"
)

// Kind is the msgpack type of a value, as reported by [Type].
type Kind uint8

// The kinds of msgpack values.
const (
	Invalid Kind = iota // empty input or a byte that starts no msgpack value
	Nil
	Bool
	Int   // a signed integer encoding (including positive and negative fixint)
	Uint  // an unsigned integer encoding (uint8 to uint64)
	Float // float32 or float64
	Str
	Bin
	Array
	Map
	Time // ext type 0 with 8 bytes of data: Fluent Bit's event time
	Ext  // any other extension
)

var kindNames = [...]string{
	Invalid: "invalid",
	Nil:     "nil",
	Bool:    "bool",
	Int:     "int",
	Uint:    "uint",
	Float:   "float",
	Str:     "str",
	Bin:     "bin",
	Array:   "array",
	Map:     "map",
	Time:    "time",
	Ext:     "ext",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Type reports the msgpack type of the value at the start of v. It looks at
// the leading bytes only: it does not check that the value is complete. It is
// small enough to be inlined: the event reader asks it two or three times for
// every record.
func Type(v []byte) Kind {
	if len(v) > 0 && kinds[v[0]] != Ext {
		return kinds[v[0]]
	}
	return kindOf(v)
}

// kinds is the Kind of a value by its first byte; Ext for an extension,
// which kindOf tells from a Time.
var kinds = func() (k [256]Kind) {
	for c := range k {
		k[c] = kindOf([]byte{byte(c)})
	}
	return k
}()

// kindOf is Type by msgp's reading of v's leading bytes.
func kindOf(v []byte) Kind {
	switch msgp.NextType(v) {
	case msgp.NilType:
		return Nil
	case msgp.BoolType:
		return Bool
	case msgp.IntType:
		return Int
	case msgp.UintType:
		return Uint
	case msgp.Float32Type, msgp.Float64Type:
		return Float
	case msgp.StrType:
		return Str
	case msgp.BinType:
		return Bin
	case msgp.ArrayType:
		return Array
	case msgp.MapType:
		return Map
	case msgp.ExtensionType, msgp.TimeType, msgp.Complex64Type, msgp.Complex128Type:
		if typ, data, _, err := readExt(v); err == nil && typ == 0 && len(data) == 8 {
			return Time
		}
		return Ext
	}
	return Invalid
}

// Errors for malformed msgpack. Functions that return an error wrap one of
// these.
var (
	// ErrTruncated means the input ends inside a value.
	ErrTruncated = errors.New("msgpack: input ends inside a value")
	// ErrInvalid means the input holds a byte that starts no msgpack value
	// (0xc1) or is otherwise not msgpack.
	ErrInvalid = errors.New("msgpack: invalid encoding")
	// ErrTooDeep means maps and arrays are nested deeper than [MaxDepth].
	ErrTooDeep = errors.New("msgpack: maps and arrays nested too deep")
)

// MaxDepth is how deeply maps and arrays may nest in [AppendJSON] and
// [AppendString] before they give up with [ErrTooDeep].
const MaxDepth = 1000

// Get returns the raw msgpack of the value stored under key in the msgpack map
// m. Keys may be str or bin; keys of other types never match. The first match
// wins. It returns false when the key is absent or m is not a well-formed map
// up to the match.
//
// Fluent Bit's record accessor takes the last match: a record's metadata is
// read with [Field] (top-level keys) and [GetLast] (nested maps), which
// agree with it; Get is for maps whose keys do not repeat.
func Get(m []byte, key string) (val []byte, ok bool) { return lookup(m, key, First) }

// Each calls fn for every entry of the msgpack map m, in order, until fn
// returns false. key is the text of a str or bin key (zero copy); a key of
// another type (Fluent Bit writes none) is passed in its [AppendString] form,
// or its JSON form for an extension. val is the raw msgpack of the value,
// checked to be complete. Each returns an error when m is not a map or is
// malformed; entries before the fault have been passed to fn.
func Each(m []byte, fn func(key, val []byte) bool) error { return EachKnown(m, nil, fn) }

// EachKnown is Each with values skipped by [SkipKnown]. A value that is
// known, byte for byte, is passed as known itself: callers then compare
// such values with each other by address, not by their bytes.
func EachKnown(m, known []byte, fn func(key, val []byte) bool) error {
	n, b, err := msgp.ReadMapHeaderBytes(m)
	if err != nil {
		return mapError(m, err)
	}
	var scratch []byte // for keys that are not str or bin; rare
	for i := uint32(0); i < n; i++ {
		k, rest, isText := readText(b)
		if !isText {
			if rest, err = Skip(b); err != nil {
				return fmt.Errorf("map key %d: %w", i, err)
			}
			if scratch, err = appendKeyText(scratch[:0], b); err != nil {
				return fmt.Errorf("map key %d: %w", i, err)
			}
			k = scratch
		}
		if len(known) > 0 && len(rest) >= len(known) && rest[0] == known[0] && string(rest[:len(known)]) == string(known) {
			if !fn(k, known) {
				return nil
			}
			b = rest[len(known):]
			continue
		}
		end, err := SkipKnown(rest, known)
		if err != nil {
			return fmt.Errorf("map value %d: %w", i, err)
		}
		if !fn(k, rest[:len(rest)-len(end)]) {
			return nil
		}
		b = end
	}
	return nil
}

func mapError(m []byte, err error) error {
	if len(m) > 0 && Type(m) != Map {
		return fmt.Errorf("want a map, got %s: %w", Type(m), ErrInvalid)
	}
	return wrapMsgp(err)
}

// wrapMsgp turns msgp's errors into this package's.
func wrapMsgp(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, msgp.ErrShortBytes):
		return ErrTruncated
	case errors.Is(err, msgp.ErrRecursion):
		return ErrTooDeep
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

// Text returns the payload of a str or bin value, zero copy. It returns false
// for any other type or a truncated value.
func Text(v []byte) ([]byte, bool) {
	s, _, ok := readText(v)
	return s, ok
}

// readText reads a str or bin value at the start of b.
func readText(b []byte) (s, rest []byte, ok bool) {
	if s, rest, ok := shortStr(b); ok { // most keys and values, inlined
		return s, rest, true
	}
	k, h, n, ok := Header(b)
	if !ok || k != Str && k != Bin || len(b)-h < n {
		return nil, b, false
	}
	return b[h : h+n], b[h+n:], true
}

// readExt reads an extension value at the start of b.
func readExt(b []byte) (typ int8, data, rest []byte, err error) {
	k, h, n, ok := Header(b)
	switch {
	case len(b) == 0:
		return 0, nil, b, ErrTruncated
	case k != Ext:
		return 0, nil, b, ErrInvalid
	case !ok || len(b)-h < n:
		return 0, nil, b, ErrTruncated
	}
	return int8(b[h-1]), b[h : h+n], b[h+n:], nil
}
