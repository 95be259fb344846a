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
	// Stream is the CRI line's stream when the body has no `stream` key.
	Stream []byte
}

// Reader reads a chunk's entries. The zero value is ready after Reset.
type Reader struct {
	events event.Reader
	cur    Entry
	buf    []byte // joined parts
	parts  int
	joined int
}

// Reset starts reading chunk.
func (r *Reader) Reset(chunk []byte) {
	r.events.Reset(chunk)
	r.parts, r.joined = 0, 0
}

// Next advances to the next entry.
func (r *Reader) Next() bool {
	var first Entry
	r.buf = r.buf[:0]
	r.parts = 0
	for r.events.Next() {
		e, partial := read(r.events.Event())
		if r.parts == 0 && !partial {
			r.cur = e
			return true
		}
		if r.parts == 0 {
			first = e
		}
		r.buf = append(r.buf, logText(e)...)
		r.parts++
		if partial {
			continue
		}
		// The final part closes the line: one entry with the first part's
		// time and metadata and the whole message.
		r.joined += r.parts - 1
		first.Log = r.buf
		r.cur = first
		return true
	}
	if r.parts > 0 {
		// The chunk ended inside a split line: send what is here (the rest
		// arrives with the next chunk as its own entry).
		r.joined += r.parts - 1
		first.Log = r.buf
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

// read makes an entry of an event and reports whether it is a partial line.
func read(ev event.Event) (Entry, bool) {
	e := Entry{Time: ev.Time, Body: ev.Body}
	// Through an aggregator (router `es` output → `elasticsearch` input) the
	// event time is when the aggregator received the record; the original
	// time travels as the Elasticsearch `@timestamp` field.
	if ts, ok := record.Get(ev.Body, "@timestamp"); ok {
		if t, ok := record.Text(ts); ok {
			if ns, ok := parseRFC3339(t); ok {
				e.Time = ns
			}
		}
	}
	log, _ := record.Get(ev.Body, "log")
	text, ok := record.Text(log)
	if ok {
		if _, hasStream := record.Get(ev.Body, "stream"); !hasStream {
			if l, ok := ParseCRI(text); ok {
				e.Time, e.Stream, e.Log = l.Time, l.Stream, l.Message
				return e, l.Partial
			}
		}
	}
	// The router's CRI regex parser keeps the P/F flag as `logtag`.
	tag, _ := record.Get(ev.Body, "logtag")
	if t, ok := record.Text(tag); ok && len(t) > 0 && t[0] == 'P' {
		return e, true
	}
	return e, false
}

// logText is the entry's message: Log, else the body's `log` text.
func logText(e Entry) []byte {
	if e.Log != nil {
		return e.Log
	}
	v, _ := record.Get(e.Body, "log")
	t, _ := record.Text(v)
	return t
}
