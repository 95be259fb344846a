// Package entry turns a chunk's events into log entries, the unit both
// destinations encode: it reads raw CRI lines that a router without a parser
// leaves in `log`, and joins the partial lines (P ... F) of a container's
// stream within a chunk into one entry.
//
// A pod controls every byte of its log lines, and with the kubernetes
// filter's Merge_Log On a JSON line's fields become top-level keys of its
// record, next to the keys Fluent Bit wrote. An entry is made of Fluent
// Bit's copies only (record.CopyOf says which they are), and of the parts of
// one container's line only.
package entry

import (
	"github.com/kubeship/kubeship/internal/event"
	"github.com/kubeship/kubeship/internal/kube"
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
	// Stream is the body's `stream` (the parser's, its first copy), or the
	// CRI line's.
	Stream []byte
	// Kubernetes is the raw msgpack of the body's `kubernetes` map (the
	// filter's, its last copy that is a map), nil when there is none.
	Kubernetes []byte
	// Fields are the body's top-level keys and raw values, in order, so
	// encoders need not walk the body again.
	Fields []Field

	message     []byte  // Log, else the body's `log` text
	ctx         Context // the body's context fields, see Context
	keys        *Keys
	ctxComplete bool // the body had every context field
	spanWeak    bool // ctx's span id is a traceparent's: a span field wins
}

// Field is one top-level key of a record and its raw msgpack value.
type Field struct {
	Key, Value []byte
}

// Message is the entry's log text: Log, else the body's `log` string (its
// first copy).
func (e Entry) Message() []byte { return e.message }

// Reader reads a chunk's entries. The zero value is ready after Reset.
type Reader struct {
	// Keys are the context fields read (see Entry.Context); nil reads
	// the level alone.
	Keys *Keys
	// Join joins the lines of multi-line records (stack traces) within
	// the chunk, see Joining; nil joins none.
	Join *Joining

	events  event.Reader
	cur     Entry
	pending []split // reused; a slot is free when its parts are 0
	order   int     // records read, to send waiting lines in the order they began
	joined  int
	fields  []Field   // the current record's, reused
	known   []byte    // the chunk's first kubernetes map, see record.SkipKnown
	ids     [16]mapID // the container ids of the last maps read, see containerID
	nextID  int       // the slot of ids to fill next
	// lastSplit: the line read last is a split line's, joined in its
	// slot's buffers, which the next split line reuses.
	lastSplit bool
	join      joiner // with Join
}

// mapID is a kubernetes map and its container id.
type mapID struct{ k8s, id []byte }

// split is a line whose parts are being joined. containerd writes stdout and
// stderr to one file, so a part's next parts are those of its own stream,
// with the other stream's lines, split or not, between them; and one tag can
// cover several containers (a router's wildcard path; an aggregator, where a
// pod's line can even set the tag), so they are those of its own container,
// with other containers' lines between them. See Reader.waiting.
type split struct {
	first  Entry   // the first part, with the time and metadata the line keeps
	buf    []byte  // the parts' messages so far
	fields []Field // the first part's fields
	parts  int
	order  int    // the Reader's order at the first part
	id     []byte // first's container id, once idRead
	idRead bool
}

// Reset starts reading chunk.
func (r *Reader) Reset(chunk []byte) {
	r.events.Reset(chunk)
	r.order, r.joined, r.known = 0, 0, nil
	clear(r.ids[:])
	// The last entry and its fields alias the last chunk: a pooled reader
	// would keep that chunk alive.
	r.cur = Entry{}
	clear(r.fields[:cap(r.fields)])
	for i := range r.pending {
		// A chunk left mid-way must not lend its parts to the next one, nor
		// be kept alive by them.
		r.pending[i].parts, r.pending[i].first, r.pending[i].id = 0, Entry{}, nil
		clear(r.pending[i].fields[:cap(r.pending[i].fields)])
	}
	r.join.reset()
}

// Next advances to the next entry.
func (r *Reader) Next() bool {
	if r.Join != nil {
		return r.nextJoined()
	}
	return r.nextLine()
}

// nextLine advances to the next line: a record, or a split line's parts
// joined.
func (r *Reader) nextLine() bool {
	r.lastSplit = false
	for r.events.Next() {
		e, partial := read(r.events.Event(), r.fields[:0], r.known, r.Keys)
		r.fields = e.Fields
		if e.Kubernetes != nil && r.known == nil {
			// The next records of the chunk most likely repeat this map.
			r.known = e.Kubernetes
			r.events.Known(e.Kubernetes)
		}
		r.order++
		s := r.waiting(e.Stream, e.Kubernetes)
		if s == nil && !partial {
			r.cur = e
			return true
		}
		if s == nil {
			s = r.free()
			// Keep the first part's fields while the next records are read.
			s.fields, r.fields = r.fields, s.fields
			s.first, s.buf, s.order, s.id, s.idRead = e, s.buf[:0], r.order, nil, false
		}
		s.buf = append(s.buf, e.message...)
		s.parts++
		if partial {
			continue
		}
		// The final part closes the line: one entry with the first part's
		// time and metadata and the whole message.
		r.send(s)
		return true
	}
	// The chunk ended inside split lines: send what is here, the earliest
	// begun first (the rest arrives with the next chunk as its own entry).
	var s *split
	for i := range r.pending {
		if p := &r.pending[i]; p.parts > 0 && (s == nil || p.order < s.order) {
			s = p
		}
	}
	if s != nil {
		r.send(s)
		return true
	}
	return false
}

// waiting returns the split line with parts waiting that a record of
// stream and kubernetes map k8s continues, or nil: the line of the same
// stream of the same container. A record of another container never joins
// it, or a pod's line would end up in another pod's entry, tenant and
// labels. The container is the map's docker_id, else the map itself; the
// records without a map are one container (a router's tail of one file).
func (r *Reader) waiting(stream, k8s []byte) *split {
	// A container's records carry byte for byte the same map: compare the
	// maps before reading any.
	other := false // a line of another map waits on stream
	for i := range r.pending {
		p := &r.pending[i]
		if p.parts == 0 || string(p.first.Stream) != string(stream) {
			continue
		}
		if string(p.first.Kubernetes) == string(k8s) {
			return p
		}
		other = other || p.first.Kubernetes != nil
	}
	if !other || k8s == nil {
		return nil
	}
	// Maps differ when the filter's view of a pod changed (its labels,
	// annotations) between two parts: the container id says.
	id := r.containerID(k8s)
	if len(id) == 0 {
		return nil
	}
	for i := range r.pending {
		p := &r.pending[i]
		if p.parts == 0 || p.first.Kubernetes == nil || string(p.first.Stream) != string(stream) {
			continue
		}
		if !p.idRead {
			p.id, p.idRead = r.containerID(p.first.Kubernetes), true
		}
		if string(id) == string(p.id) {
			return p
		}
	}
	return nil
}

// containerID returns the docker_id of the kubernetes map k8s. Reading it
// walks the map, so the ids of the last maps are kept: a chunk of a few
// containers repeats their maps, byte for byte, and comparing bytes with
// a kept map costs less than the walk.
func (r *Reader) containerID(k8s []byte) []byte {
	for i := range r.ids {
		if m := &r.ids[i]; string(m.k8s) == string(k8s) {
			return m.id
		}
	}
	id := kube.ContainerID(k8s)
	r.ids[r.nextID] = mapID{k8s, id}
	r.nextID = (r.nextID + 1) % len(r.ids)
	return id
}

// free returns a slot for a new split line, reusing one and its buffers
// when it can: the entry sent from it last is no longer valid.
func (r *Reader) free() *split {
	for i := range r.pending {
		if r.pending[i].parts == 0 {
			return &r.pending[i]
		}
	}
	r.pending = append(r.pending, split{})
	return &r.pending[len(r.pending)-1]
}

// send makes s's line the current entry and frees its slot; the entry's Log
// and Fields stay s's buffers until the next call to Next.
func (r *Reader) send(s *split) {
	r.lastSplit = true
	r.joined += s.parts - 1
	r.cur = s.first
	r.cur.Log, r.cur.message = s.buf, s.buf
	s.parts, s.first, s.id = 0, Entry{}, nil
}

// Entry returns the current entry.
func (r *Reader) Entry() Entry { return r.cur }

// Err reports a malformed chunk (see event.Reader.Err).
func (r *Reader) Err() error { return r.events.Err() }

// Skipped counts records whose body is not a map.
func (r *Reader) Skipped() int { return r.events.Skipped() }

// Joined counts the parts merged into the first part of their line.
func (r *Reader) Joined() int { return r.joined }

// Multiline counts what Join did: the lines joined into the multi-line
// record they continue, the records cut at their bound, and the records
// split across chunks (a chunk's first line of a container stream that
// continues a record).
func (r *Reader) Multiline() (joined, cut, split int) {
	return r.join.joined, r.join.cut, r.join.split
}

// Counts is what every destination counts of a chunk's records, whatever
// it makes of them.
type Counts struct {
	Records   int // records encoded
	Skipped   int // bodies that are not maps
	Joined    int // partial lines joined to the line they continue
	Malformed int // records whose body could not be read
	Filtered  int // records their pod's log processing rules excluded
	// With Reader.Join: lines joined into the multi-line record they
	// continue, records cut at Joining.MaxBytes or MaxLines, and records
	// split across chunks.
	MultilineJoined, MultilineCut, MultilineSplit int
}

// Read adds what the reader counted of its chunk: call it once the chunk is read.
func (c *Counts) Read(r *Reader) {
	c.Skipped += r.Skipped()
	c.Joined += r.Joined()
	c.MultilineJoined += r.join.joined
	c.MultilineCut += r.join.cut
	c.MultilineSplit += r.join.split
}

// read makes an entry of an event and reports whether it is a partial
// line. It walks the body's top-level keys once: a record is read by every
// destination, and each lookup by key would walk it again. Of a key a
// merged line repeats, it reads the copy record.CopyOf names, as record
// accessors do: the parser's log, stream and logtag (so a line cannot
// claim to be split, or end another's split line) and the filter's
// kubernetes map.
func read(ev event.Event, fields []Field, known []byte, keys *Keys) (Entry, bool) {
	e := Entry{Time: ev.Time, Body: ev.Body}
	var timestamp, logtag []byte
	var hasLog, hasStream, hasLogtag bool // a copy was read
	f := newFound(keys)
	_ = record.EachKnown(ev.Body, known, func(k, v []byte) bool {
		fields = append(fields, Field{k, v})
		switch string(k) {
		case "log":
			if record.CopyOf(k).Takes(v, hasLog) {
				e.message, _ = record.Text(v)
				hasLog = true
			}
		case "stream":
			if record.CopyOf(k).Takes(v, hasStream) {
				e.Stream, _ = record.Text(v)
				hasStream = true
			}
		case "kubernetes":
			if record.CopyOf(k).Takes(v, e.Kubernetes != nil) {
				e.Kubernetes = v
			}
		case "logtag":
			if record.CopyOf(k).Takes(v, hasLogtag) {
				logtag, _ = record.Text(v)
				hasLogtag = true
			}
		case "@timestamp":
			// Only the body's first key, where the es output writes its
			// time key (out_es/es.c, elasticsearch_format), so the first
			// copy: the kubernetes filter writes a merged line's fields
			// after the parser's keys, so a line's @timestamp is never
			// first and never overrides the time of its CRI line. The
			// elasticsearch input writes the bulk action before the body,
			// as @meta (in_elasticsearch_bulk_prot.c).
			if len(fields) == 1 || len(fields) == 2 && string(fields[0].Key) == "@meta" {
				timestamp, _ = record.Text(v)
			}
		default:
			if f.keys.candidate(k) {
				if t, ok := record.Text(v); ok {
					f.consider(k, t)
				}
			}
		}
		return true
	})
	e.Fields = fields
	e.ctx, e.keys, e.ctxComplete, e.spanWeak = f.Context, f.keys, f.complete(), f.spanFromTraceparent
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

// Retained is about how many bytes of buffers the reader keeps for reuse:
// its split lines' joined text.
func (r *Reader) Retained() int {
	n := 0
	for _, s := range r.pending {
		n += cap(s.buf)
	}
	return n + r.join.retained()
}
