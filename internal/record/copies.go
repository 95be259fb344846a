package record

import (
	"fmt"

	"github.com/tinylib/msgp/msgp"
)

// Copy says which copy of a key a lookup takes from a map that holds the
// key more than once.
//
// A record's keys repeat when a log line is merged into it: with the
// kubernetes filter's Merge_Log On, a JSON line's fields become top-level
// keys, and a pod controls every byte of its line. Fluent Bit writes the
// keys of a record in a known order, so which copy is Fluent Bit's and
// which the line's follows from the key (see [CopyOf]).
type Copy uint8

const (
	// Last is the last copy, as Fluent Bit's record accessor reads a map:
	// src/flb_ra_key.c (ra_key_val_id) searches it from its end.
	Last Copy = iota
	// First is the first copy.
	First
	// LastMap is the last copy whose value is a map; none when no copy is
	// one.
	LastMap
)

var copyNames = [...]string{Last: "last", First: "first", LastMap: "last map"}

func (c Copy) String() string {
	if int(c) < len(copyNames) {
		return copyNames[c]
	}
	return fmt.Sprintf("Copy(%d)", uint8(c))
}

// CopyOf says which copy of a record's top-level key is the one Fluent Bit
// wrote, not a merged line; every reader of a record's metadata (the
// entry reader, record accessors) asks it, so they all read the same copy.
//
//   - log, stream, logtag, time: the first copy. The kubernetes filter
//     (plugins/filter_kubernetes/kubernetes.c, merge_meta) writes the
//     original record's keys, those of the CRI or docker parser, first,
//     then the merged line's fields.
//   - @timestamp, flb_tag: the first copy. Through an aggregator, the es
//     output (plugins/out_es/es.c, elasticsearch_format) writes its time
//     key first and its tag key second, before the record's keys; the
//     aggregator's elasticsearch input keeps duplicate keys in order.
//   - kubernetes, kubernetes_namespace: the last copy that is a map. The
//     filter writes its maps after the merged line's fields; a copy that
//     is not a map is never the filter's, and must not hide it.
//   - any other key: the last copy, as Fluent Bit's record accessor reads
//     it, so kubeship and Fluent Bit's outputs pick the same value.
//
// A line can therefore shadow Fluent Bit's keys only with copies that are
// not read. A key Fluent Bit did not write is the line's own: `log` when
// Keep_Log Off dropped the parser's, `@timestamp` without an aggregator.
func CopyOf[K string | []byte](key K) Copy {
	switch string(key) {
	case "log", "stream", "logtag", "time", "@timestamp", "flb_tag":
		return First
	case "kubernetes", "kubernetes_namespace":
		return LastMap
	}
	return Last
}

// Takes reports whether a lookup that reads copy c takes v, the value of
// the key's copy just found, over the value kept from an earlier copy
// (kept says whether there is one).
func (c Copy) Takes(v []byte, kept bool) bool {
	if c == LastMap {
		return len(v) > 0 && kinds[v[0]] == Map // Type(v) == Map, inlined
	}
	return c == Last || !kept
}

// GetLast is [Get] with the last match winning, as Fluent Bit's record
// accessor reads a map. It returns false when m is malformed anywhere: the
// last copy could be past the fault.
func GetLast(m []byte, key string) (val []byte, ok bool) { return lookup(m, key, Last) }

// Field returns the raw msgpack of a record's top-level key: of its copies,
// the one [CopyOf] says Fluent Bit wrote.
func Field(body []byte, key string) (val []byte, ok bool) {
	return lookup(body, key, CopyOf(key))
}

// lookup returns the copy c of key's value in the msgpack map m. Keys may be
// str or bin; keys of other types never match. For First it stops at the
// first match, as Get; otherwise it reads the whole map, and returns false
// when the map is malformed.
func lookup(m []byte, key string, c Copy) (val []byte, ok bool) {
	n, b, err := msgp.ReadMapHeaderBytes(m)
	if err != nil {
		return nil, false
	}
	for ; n > 0; n-- {
		k, rest, isText := readText(b)
		if !isText {
			if rest, err = Skip(b); err != nil {
				return nil, false
			}
		}
		end, err := Skip(rest)
		if err != nil {
			return nil, false
		}
		if isText && string(k) == key {
			v := rest[:len(rest)-len(end)]
			if c == First {
				return v, true
			}
			if c.Takes(v, ok) {
				val, ok = v, true
			}
		}
		b = end
	}
	return val, ok
}
