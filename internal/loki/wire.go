package loki

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/golang/snappy"

	"github.com/kubeship/kubeship/internal/delivery"
	"github.com/kubeship/kubeship/internal/freelist"
)

// Loki's push protobuf (push.proto of github.com/grafana/loki/pkg/push) is
// written by hand, straight from the chunk's bytes into each stream's
// buffer as records arrive. Building push.Entry values first cost a string
// per line and per metadata value, and gogo's Size/Marshal pair walked them
// twice more: together about half of BenchmarkEncode's time. The messages:
//
//	PushRequest      { repeated StreamAdapter streams = 1; }
//	StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; }
//	EntryAdapter     { Timestamp timestamp = 1; string line = 2;
//	                   repeated LabelPairAdapter structuredMetadata = 3; }
//	LabelPairAdapter { string name = 1; string value = 2; }
//	Timestamp        { int64 seconds = 1; int32 nanos = 2; }
//
// Every test decodes what this writes with pkg/push's own Unmarshal.

const (
	wireVarint = 0
	wireBytes  = 2
)

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// fieldLen is the size of a length-delimited field of n bytes.
func fieldLen(n int) int { return 1 + varintLen(uint64(n)) + n }

func appendTag(b []byte, field, wire int) []byte { return append(b, byte(field<<3|wire)) }

func appendBytesField[T string | []byte](b []byte, field int, v T) []byte {
	b = appendTag(b, field, wireBytes)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendEntry appends an EntryAdapter message's fields (no tag or length of
// its own): pre, pairs already encoded by appendPairs, come before meta's.
// Both must fit Loki's limits already.
func appendEntry(b []byte, ns int64, line, pre []byte, meta []pair) []byte {
	sec, nsec := ns/1e9, ns%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	tsLen := 0
	if sec != 0 {
		tsLen += 1 + varintLen(uint64(sec))
	}
	if nsec != 0 {
		tsLen += 1 + varintLen(uint64(nsec))
	}
	b = appendTag(b, 1, wireBytes)
	b = appendVarint(b, uint64(tsLen))
	if sec != 0 {
		b = appendVarint(appendTag(b, 1, wireVarint), uint64(sec))
	}
	if nsec != 0 {
		b = appendVarint(appendTag(b, 2, wireVarint), uint64(nsec))
	}
	b = appendOptional(b, 2, line)
	return appendPairs(append(b, pre...), meta)
}

// appendPairs appends structured metadata as EntryAdapter's field 3.
func appendPairs(b []byte, meta []pair) []byte {
	for _, p := range meta {
		b = appendTag(b, 3, wireBytes)
		b = appendVarint(b, uint64(optionalLen(p.name)+optionalLen(p.value)))
		b = appendOptional(b, 1, p.name)
		b = appendOptional(b, 2, p.value)
	}
	return b
}

// optionalLen and appendOptional leave out an empty string, as proto3 does.
func optionalLen(v []byte) int {
	if len(v) == 0 {
		return 0
	}
	return fieldLen(len(v))
}

func appendOptional(b []byte, field int, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return appendBytesField(b, field, v)
}

// stream is one stream's entries, encoded.
type stream struct {
	labels  string
	data    []byte     // EntryAdapter messages, back to back
	entries []entryRef // where each is in data
}

type entryRef struct {
	ns       int64
	off, end int
}

// part is a run of one stream's entries in a request.
type part struct {
	s       *stream
	entries []entryRef
}

func (p part) size() int {
	n := fieldLen(len(p.s.labels))
	for _, e := range p.entries {
		n += fieldLen(e.end - e.off)
	}
	return n
}

// appendPushRequest appends a PushRequest of parts.
func appendPushRequest(b []byte, parts []part) []byte {
	for _, p := range parts {
		b = appendTag(b, 1, wireBytes)
		b = appendVarint(b, uint64(p.size()))
		b = appendBytesField(b, 1, p.s.labels)
		for _, e := range p.entries {
			b = appendBytesField(b, 2, p.s.data[e.off:e.end])
		}
	}
	return b
}

// Requests splits the batch into push requests of at most MaxBatchBytes of
// entries each, one tenant per request, entries of a stream in time order.
// The split depends only on the chunk and the config, so a chunk that
// returns after FLB_RETRY yields the same requests.
func (b *Batch) Requests() []delivery.Request {
	var reqs []delivery.Request
	for _, t := range b.tenants {
		var cur []part
		size := 0
		flush := func() {
			if len(cur) > 0 {
				reqs = append(reqs, b.request(t.tenant, cur))
				cur, size = nil, 0
			}
		}
		for i := range t.list {
			s := &t.list[i]
			slices.SortStableFunc(s.entries, func(a, b entryRef) int { return compareInt(a.ns, b.ns) })
			start := 0
			streamSize := fieldLen(len(s.labels))
			for j, e := range s.entries {
				n := fieldLen(e.end - e.off)
				if size+streamSize+n > b.maxBytes && size > 0 {
					if j > start {
						cur = append(cur, part{s, s.entries[start:j]})
						start = j
					}
					flush()
					streamSize = fieldLen(len(s.labels))
				}
				size += n
			}
			cur = append(cur, part{s, s.entries[start:]})
			size += streamSize
		}
		flush()
	}
	return reqs
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compressBuf holds a request's two transient buffers: its protobuf and
// snappy's output, sized by snappy.MaxEncodedLen (1.17x the protobuf). All
// batches share a few of them rather than each keeping its own: a batch
// waits for delivery holding only its compressed bodies, about a tenth of
// the protobuf. Kept per batch, they were ~2.5 MB more per batch in flight
// or kept for reuse, which showed in Fluent Bit's peak RSS (make bench).
type compressBuf struct{ raw, dst []byte }

// compressBufs keeps buffers for requests up to the largest batch_size
// (5 MB); a request grown larger by one huge entry lets its go.
var compressBufs = freelist.NewBounded(freelist.PerFlush, 16<<20, func(c *compressBuf) int { return cap(c.raw) + cap(c.dst) })

// request encodes parts as a snappy protobuf push request whose body lives
// in the batch's buffers (reused after Reset), so that steady flushing
// allocates no request memory.
func (b *Batch) request(tenant string, parts []part) delivery.Request {
	n := len(b.bodies)
	if n < cap(b.bodies) {
		b.bodies = b.bodies[:n+1]
	} else {
		b.bodies = append(b.bodies, nil)
	}
	c := compressBufs.Get()
	defer compressBufs.Put(c)
	c.raw = appendPushRequest(c.raw[:0], parts)
	// snappy.Encode allocates exactly what the body needs when dst is
	// short; request sizes creep up flush after flush, so that was a new
	// megabyte almost every flush. Grow with room instead.
	if need := snappy.MaxEncodedLen(len(c.raw)); cap(c.dst) < need {
		c.dst = make([]byte, need+need/4)
	}
	// golang/snappy, not klauspost/compress's snappy-compatible S2
	// encoder. S2 takes about a fifth fewer instructions (BenchmarkCompress:
	// 1.42 against 2.02 million for a 514 KB push of one container's 1,000
	// records, 178,000 against 228,000 for a push of 100), about 500 a
	// record, 5% of what the plugin spends on one; its output is 3.5%
	// smaller for the 1,000 records but 1% larger for the 100, and inside
	// Fluent Bit (make bench-scale, 2,000 containers: pushes of 100) it sent
	// 49 bytes a record against 47, at a CPU figure within the benchmark's
	// noise. Not worth more bytes to Loki.
	b.bodies[n] = append(b.bodies[n][:0], snappy.Encode(c.dst[:cap(c.dst)], c.raw)...)
	return newRequest(tenant, parts, b.bodies[n], len(c.raw))
}

// newRequest wraps a snappy protobuf body of size bytes before compression.
func newRequest(tenant string, parts []part, body []byte, size int) delivery.Request {
	records := 0
	for _, p := range parts {
		records += len(p.entries)
	}
	r := delivery.Request{
		Body:    body,
		Records: records,
		Size:    size,
		Header:  map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"},
	}
	if tenant != "" {
		r.Header["X-Scope-OrgID"] = tenant
	}
	if records > 1 {
		r.Split = func() []delivery.Request { return splitParts(tenant, parts, records) }
	}
	return r
}

// splitParts halves a request's entries, for a 413 answer.
func splitParts(tenant string, parts []part, records int) []delivery.Request {
	half := records / 2
	var a, b []part
	for _, p := range parts {
		switch n := len(p.entries); {
		case half >= n:
			a = append(a, p)
			half -= n
		case half > 0:
			a = append(a, part{p.s, p.entries[:half]})
			b = append(b, part{p.s, p.entries[half:]})
			half = 0
		default:
			b = append(b, p)
		}
	}
	encode := func(parts []part) delivery.Request {
		raw := appendPushRequest(nil, parts)
		return newRequest(tenant, parts, snappy.Encode(nil, raw), len(raw))
	}
	return []delivery.Request{encode(a), encode(b)}
}

// Retained is about how many bytes of buffers the batch keeps for reuse.
func (b *Batch) Retained() int {
	n := cap(b.scratch) + (cap(b.pairs)+cap(b.meta))*int(unsafe.Sizeof(pair{})) + b.reader.Retained()
	for _, t := range b.tenants {
		for _, s := range t.list[:cap(t.list)] {
			n += cap(s.data) + cap(s.entries)*int(unsafe.Sizeof(entryRef{}))
		}
	}
	for _, body := range b.bodies[:cap(b.bodies)] {
		n += cap(body)
	}
	return n
}

// join makes one push of requests of one tenant (see delivery.Deliverer.Join):
// a push request's only field is its repeated streams, and protobuf reads
// concatenated messages as one whose repeated fields are concatenated, so
// the join is the requests' protobuf back to back.
func join(reqs []delivery.Request) delivery.Request {
	size, records := 0, 0
	for _, r := range reqs {
		size += r.Size
		records += r.Records
	}
	raw := make([]byte, 0, size)
	for _, r := range reqs {
		var err error
		if raw, err = appendDecoded(raw, r.Body); err != nil {
			panic(fmt.Sprintf("loki: join own request: %v", err)) // the bodies are this package's snappy output
		}
	}
	j := reqs[0]
	j.Body, j.Records, j.Size, j.Split = snappy.Encode(nil, raw), records, len(raw), nil
	return j
}

// appendDecoded appends the snappy-decoded body to dst.
func appendDecoded(dst, body []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, n)
	_, err = snappy.Decode(dst[len(dst):len(dst)+n], body)
	return dst[:len(dst)+n], err
}
