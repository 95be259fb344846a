// Package entry turns a chunk's events into log entries, the unit both
// destinations encode: it reads raw CRI lines that a router without a parser
// leaves in `log`, and joins a container's partial lines (P ... F) within a
// chunk into one entry.
package entry

import (
	"github.com/kubeship/kubeship/internal/event"
	"github.com/kubeship/kubeship/internal/record"
)

// Entry is one log entry. Its slices alias the chunk or the Reader's buffer:
// valid until the next call to Next.
type Entry struct {
	Time int64  // Unix nanoseconds
	Body []byte // raw msgpack map of the (first) record
	// Log replaces the body's `log` value when not nil: the message of a
	// raw CRI line, or the joined parts of a split line.
	Log []byte
	// Stream is the body's `stream`, or the CRI line's.
	Stream []byte
	// Kubernetes is the raw msgpack of the body's `kubernetes` map, nil
	// when there is none.
	Kubernetes []byte
	// Fields are the body's top-level keys and raw values, in order, so
	// encoders need not walk the body again.
	Fields []Field

	message []byte // Log, else the body's `log` text
	level   []byte // a level field of the body
}

// Field is one top-level key of a record and its raw msgpack value.
type Field struct {
	Key, Value []byte
}

// Message is the entry's log text: Log, else the body's `log` string.
func (e Entry) Message() []byte { return e.message }

// Reader reads a chunk's entries. The zero value is ready after Reset.
type Reader struct {
	events event.Reader
	cur    Entry
	buf    []byte // joined parts
	parts  int
	joined int
	fields []Field // the current record's, reused
	first  []Field // the first part's of a split line
	known  []byte  // the chunk's first kubernetes map, see record.SkipKnown
}

// Reset starts reading chunk.
func (r *Reader) Reset(chunk []byte) {
	r.events.Reset(chunk)
	r.parts, r.joined, r.known = 0, 0, nil
}

// Next advances to the next entry.
func (r *Reader) Next() bool {
	var first Entry
	r.buf = r.buf[:0]
	r.parts = 0
	for r.events.Next() {
		e, partial := read(r.events.Event(), r.fields[:0], r.known)
		r.fields = e.Fields
		if e.Kubernetes != nil && r.known == nil {
			// The next records of the chunk most likely repeat this map.
			r.known = e.Kubernetes
			r.events.Known(e.Kubernetes)
		}
		if r.parts == 0 && !partial {
			r.cur = e
			return true
		}
		if r.parts == 0 {
			// Keep the first part's fields while the next parts are read.
			r.first, r.fields = r.fields, r.first
			first = e
		}
		r.buf = append(r.buf, e.message...)
		r.parts++
		if partial {
			continue
		}
		// The final part closes the line: one entry with the first part's
		// time and metadata and the whole message.
		r.joined += r.parts - 1
		first.Log, first.message = r.buf, r.buf
		r.cur = first
		return true
	}
	if r.parts > 0 {
		// The chunk ended inside a split line: send what is here (the rest
		// arrives with the next chunk as its own entry).
		r.joined += r.parts - 1
		first.Log, first.message = r.buf, r.buf
		r.cur, r.parts = first, 0
		return true
	}
	return false
}

// Entry returns the current entry.
func (r *Reader) Entry() Entry { return r.cur }

// Err reports a malformed chunk (see event.Reader.Err).
func (r *Reader) Err() error { return r.events.Err() }

// Skipped counts records whose body is not a map.
func (r *Reader) Skipped() int { return r.events.Skipped() }

// Joined counts partial lines merged into the entry before them.
func (r *Reader) Joined() int { return r.joined }

// read makes an entry of an event and reports whether it is a partial
// line. It walks the body's top-level keys once: a record is read by every
// destination, and each lookup by key would walk it again.
func read(ev event.Event, fields []Field, known []byte) (Entry, bool) {
	e := Entry{Time: ev.Time, Body: ev.Body}
	var timestamp, logtag []byte
	bestLevel := len(levelKeys)
	_ = record.EachKnown(ev.Body, known, func(k, v []byte) bool {
		fields = append(fields, Field{k, v})
		switch string(k) {
		case "log":
			e.message, _ = record.Text(v)
		case "stream":
			e.Stream, _ = record.Text(v)
		case "kubernetes":
			if record.Type(v) == record.Map {
				e.Kubernetes = v
			}
		case "logtag":
			logtag, _ = record.Text(v)
		case "@timestamp":
			timestamp, _ = record.Text(v)
		default:
			if r := levelRank(k); r < bestLevel {
				if t, ok := record.Text(v); ok && len(t) > 0 {
					e.level, bestLevel = t, r
				}
			}
		}
		return true
	})
	e.Fields = fields
	// Through an aggregator (router `es` output → `elasticsearch` input) the
	// event time is when the aggregator received the record; the original
	// time travels as the Elasticsearch `@timestamp` field.
	if ns, ok := parseRFC3339(timestamp); ok {
		e.Time = ns
	}
	if e.Stream == nil && e.message != nil {
		if l, ok := ParseCRI(e.message); ok {
			e.Time, e.Stream, e.Log, e.message = l.Time, l.Stream, l.Message, l.Message
			return e, l.Partial
		}
	}
	// The router's CRI regex parser keeps the P/F flag as `logtag`.
	return e, len(logtag) > 0 && logtag[0] == 'P'
}
