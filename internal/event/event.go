// Package event decodes the records of a Fluent Bit chunk in place.
//
// A chunk is a concatenation of msgpack arrays, one per event. Fluent Bit 2.1
// and later write [[timestamp, metadata], body]; older versions write
// [timestamp, body]. The timestamp is msgpack ext type 0 holding big-endian
// uint32 seconds and uint32 nanoseconds, or, from older producers, an integer
// or float number of seconds. Events whose v2 timestamp is the integer -1 or
// -2 mark the start and end of a group (OpenTelemetry inputs) and carry no log
// record.
//
// [Reader] walks a chunk without copying or allocating: an [Event]'s slices
// point into the chunk. It is not fluent-bit-go's decoder, which decodes
// every record into Go maps by reflection: 125,000 instructions and 193
// allocations per Fargate-shaped event, against 2,400 and none to frame it
// here and 4,860 to visit its fields too (BenchmarkReader,
// BenchmarkReaderFluentBitGo); TestReaderMatchesFluentBitGo checks that the
// two read the same events.
package event

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/tinylib/msgp/msgp"

	"github.com/kubeship/kubeship/internal/record"
)

// Event is one record of a chunk. Its slices alias the chunk: valid only
// during the flush.
type Event struct {
	Time     int64  // event time, Unix nanoseconds
	Metadata []byte // raw msgpack map of the v2 metadata; nil for v1 events
	Body     []byte // raw msgpack of the body map
}

// Reader iterates over the events of a chunk. The zero value is an empty
// reader; Reset gives it a chunk. A Reader can be reused for many chunks.
//
//	var r event.Reader
//	r.Reset(chunk)
//	for r.Next() {
//		e := r.Event()
//		...
//	}
//	if err := r.Err(); err != nil { ... }
type Reader struct {
	chunk   []byte
	off     int // byte offset of the next event
	index   int // index of the next event, from 0
	ev      Event
	err     error
	skipped int
	known   []byte // see Known
}

// Reset makes r read chunk from its start and clears the counts and error.
func (r *Reader) Reset(chunk []byte) {
	*r = Reader{chunk: chunk}
}

// Next advances to the next event that carries a record and reports whether
// there is one. It skips group markers and events whose body is not a map. It
// returns false at the end of the chunk or at the first malformed event: the
// events after a malformed one cannot be framed, so iteration stops there and
// Err reports it.
func (r *Reader) Next() bool {
	for r.err == nil && r.off < len(r.chunk) {
		start := r.off
		ev, n, kind, err := decode(r.chunk[start:], r.known)
		if err != nil {
			r.err = &Error{Index: r.index, Offset: start, Err: err}
			r.ev = Event{}
			return false
		}
		r.off += n
		r.index++
		switch kind {
		case kindRecord:
			r.ev = ev
			return true
		case kindNotMap:
			r.skipped++
		}
	}
	r.ev = Event{}
	return false
}

// Known tells the reader a complete msgpack value that later events are
// likely to repeat (a chunk's records share their kubernetes map), so it
// can step over it without parsing it. It must alias the chunk or outlive
// the reading.
func (r *Reader) Known(v []byte) { r.known = v }

// Event returns the current event: the one found by the last call to Next
// that returned true.
func (r *Reader) Event() Event { return r.ev }

// Err returns nil when the chunk was read to its end, or an [*Error] naming
// the first malformed event.
func (r *Reader) Err() error { return r.err }

// Skipped returns how many events of the chunk so far were skipped because
// their body is not a map. They are counted, not errors.
func (r *Reader) Skipped() int { return r.skipped }

// Error describes a malformed event in a chunk.
type Error struct {
	Index  int   // index of the event in the chunk, from 0, markers and skipped events included
	Offset int   // byte offset of the event's start in the chunk
	Err    error // what was wrong; wraps ErrTruncated when the chunk ends inside the event
}

func (e *Error) Error() string {
	return "event " + strconv.Itoa(e.Index) + " at byte " + strconv.Itoa(e.Offset) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrTruncated is wrapped by the error for an event that the chunk ends
// inside of.
var ErrTruncated = errors.New("truncated: the chunk ends inside it")

type kind uint8

const (
	kindRecord kind = iota
	kindMarker
	kindNotMap
)

// decode frames the event at the start of b and returns it with its encoded
// length.
func decode(b, known []byte) (ev Event, n int, k kind, err error) {
	total := len(b)
	size, p, err := msgp.ReadArrayHeaderBytes(b)
	if err != nil {
		return ev, 0, 0, typeErr("", "an array [header, body]", b, err)
	}
	if size < 2 {
		return ev, 0, 0, fmt.Errorf("want an array [header, body] of 2 elements, got %d", size)
	}
	marker := false
	if record.Type(p) == record.Array { // v2: [[timestamp, metadata], body]
		hsize, q, err := msgp.ReadArrayHeaderBytes(p)
		if err != nil {
			return ev, 0, 0, typeErr("header", "an array", p, err)
		}
		if hsize < 2 {
			return ev, 0, 0, fmt.Errorf("header: want an array [timestamp, metadata] of 2 elements, got %d", hsize)
		}
		var isInt bool
		if ev.Time, isInt, q, err = readTime(q); err != nil {
			return ev, 0, 0, err
		}
		marker = isInt && (ev.Time == -1e9 || ev.Time == -2e9)
		if record.Type(q) != record.Map {
			return ev, 0, 0, typeErr("metadata", "a map", q, nil)
		}
		meta := q
		if q, err = skip("metadata", q, 1); err != nil {
			return ev, 0, 0, err
		}
		ev.Metadata = meta[:len(meta)-len(q)]
		if p, err = skip("header", q, hsize-2); err != nil {
			return ev, 0, 0, err
		}
	} else { // v1: [timestamp, body]
		if ev.Time, _, p, err = readTime(p); err != nil {
			return ev, 0, 0, err
		}
	}
	body := p
	if p, err = skipKnown("body", p, known); err != nil {
		return ev, 0, 0, err
	}
	ev.Body = body[:len(body)-len(p)]
	if p, err = skip("extra element", p, size-2); err != nil {
		return ev, 0, 0, err
	}
	switch {
	case marker:
		k = kindMarker
	case record.Type(body) != record.Map:
		k = kindNotMap
	}
	return ev, total - len(p), k, nil
}

// skip skips n values; what names them in errors.
func skip(what string, b []byte, n uint32) ([]byte, error) {
	for ; n > 0; n-- {
		var err error
		if b, err = skipKnown(what, b, nil); err != nil {
			return b, err
		}
	}
	return b, nil
}

// skipKnown skips one value, see record.SkipKnown.
func skipKnown(what string, b, known []byte) ([]byte, error) {
	rest, err := record.SkipKnown(b, known)
	if err != nil {
		if errors.Is(err, record.ErrTruncated) {
			return b, fmt.Errorf("%s: %w", what, ErrTruncated)
		}
		// rest is at the value that could not be read
		return b, fmt.Errorf("%s: invalid msgpack byte 0x%02x inside it", what, rest[0])
	}
	return rest, nil
}

// typeErr explains why the value at b could not be read as want.
func typeErr(what, want string, b []byte, err error) error {
	prefix := ""
	if what != "" {
		prefix = what + ": "
	}
	switch {
	case len(b) == 0 || errors.Is(err, msgp.ErrShortBytes):
		return fmt.Errorf("%s%w", prefix, ErrTruncated)
	case record.Type(b) == record.Invalid:
		return fmt.Errorf("%sinvalid msgpack byte 0x%02x", prefix, b[0])
	case want != "":
		return fmt.Errorf("%swant %s, got %s", prefix, want, record.Type(b))
	}
	return fmt.Errorf("%s%v", prefix, err)
}

const timeWant = "ext type 0 or a number"

// The range of whole seconds whose nanoseconds fit in an int64 (years 1678 to
// 2262).
const (
	maxSec = math.MaxInt64 / 1_000_000_000
	minSec = math.MinInt64 / 1_000_000_000
)

// readTime reads an event timestamp as Unix nanoseconds. isInt reports an
// integer timestamp (group markers are -1 and -2).
func readTime(b []byte) (ns int64, isInt bool, rest []byte, err error) {
	if len(b) == 0 {
		return 0, false, b, fmt.Errorf("timestamp: %w", ErrTruncated)
	}
	switch c := b[0]; {
	case c == 0xd7: // fixext 8: Fluent Bit's form
		if len(b) < 10 {
			return 0, false, b, fmt.Errorf("timestamp: %w", ErrTruncated)
		}
		if b[1] != 0 {
			return 0, false, b, fmt.Errorf("timestamp: want %s, got ext type %d", timeWant, int8(b[1]))
		}
		return extNanos(b[2:]), false, b[10:], nil
	case c == 0xc7 && len(b) >= 3 && b[1] == 8 && b[2] == 0: // ext 8 with 8 bytes
		if len(b) < 11 {
			return 0, false, b, fmt.Errorf("timestamp: %w", ErrTruncated)
		}
		return extNanos(b[3:]), false, b[11:], nil
	case c == 0xcc || c == 0xcd || c == 0xce || c == 0xcf: // uint
		u, rest, err := msgp.ReadUint64Bytes(b)
		if err != nil {
			return 0, false, b, fmt.Errorf("timestamp: %w", ErrTruncated)
		}
		if u > maxSec {
			return 0, false, b, fmt.Errorf("timestamp: %d seconds is out of range", u)
		}
		return int64(u) * 1e9, true, rest, nil
	case c <= 0x7f || c >= 0xe0 || c == 0xd0 || c == 0xd1 || c == 0xd2 || c == 0xd3: // int
		i, rest, err := msgp.ReadInt64Bytes(b)
		if err != nil {
			return 0, false, b, fmt.Errorf("timestamp: %w", ErrTruncated)
		}
		if i > maxSec || i < minSec {
			return 0, false, b, fmt.Errorf("timestamp: %d seconds is out of range", i)
		}
		return i * 1e9, true, rest, nil
	case c == 0xca || c == 0xcb: // float32, float64
		f, rest, err := msgp.ReadFloat64Bytes(b)
		if err != nil {
			return 0, false, b, fmt.Errorf("timestamp: %w", ErrTruncated)
		}
		ns, ok := floatNanos(f)
		if !ok {
			return 0, false, b, fmt.Errorf("timestamp: %v seconds is out of range", f)
		}
		return ns, false, rest, nil
	}
	if record.Type(b) == record.Time || record.Type(b) == record.Ext {
		// Named by type and size even when the chunk ends inside its data.
		_, h, size, ok := record.Header(b)
		if !ok {
			return 0, false, b, fmt.Errorf("timestamp: %w", ErrTruncated)
		}
		return 0, false, b, fmt.Errorf("timestamp: want %s with 8 bytes, got ext type %d with %d bytes", timeWant, int8(b[h-1]), size)
	}
	return 0, false, b, typeErr("timestamp", timeWant, b, nil)
}

// extNanos converts the 8 data bytes of a Fluent Bit time: big-endian uint32
// seconds then uint32 nanoseconds.
func extNanos(d []byte) int64 {
	_ = d[7]
	sec := uint32(d[0])<<24 | uint32(d[1])<<16 | uint32(d[2])<<8 | uint32(d[3])
	nsec := uint32(d[4])<<24 | uint32(d[5])<<16 | uint32(d[6])<<8 | uint32(d[7])
	return int64(sec)*1e9 + int64(nsec)
}

// floatNanos converts float seconds to nanoseconds. It takes the shortest
// decimal that reads back as f (what the producer most likely wrote, e.g.
// 1700000000.123 rather than the binary value's 1700000000.12299990654) and
// rounds it to the nanosecond.
func floatNanos(f float64) (int64, bool) {
	if math.IsNaN(f) || f >= maxSec || f <= minSec {
		return 0, false
	}
	var buf [40]byte
	s := strconv.AppendFloat(buf[:0], f, 'f', -1, 64)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var sec, frac int64
	i := 0
	for ; i < len(s) && s[i] != '.'; i++ {
		sec = sec*10 + int64(s[i]-'0')
	}
	if i < len(s) {
		i++ // '.'
	}
	for d := 0; d < 9; d++ {
		frac *= 10
		if i < len(s) {
			frac += int64(s[i] - '0')
			i++
		}
	}
	if i < len(s) && s[i] >= '5' {
		frac++ // round half up at the tenth decimal
	}
	ns := sec*1e9 + frac
	if neg {
		ns = -ns
	}
	return ns, true
}
