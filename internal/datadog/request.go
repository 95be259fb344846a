package datadog

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/kubeship/kubeship/internal/delivery"
)

// gzipLevel trades the router's CPU for bytes on the wire. On Fargate-shaped
// logs (BenchmarkGzipLevels, one 850 KB request) BestSpeed compresses 7.7x
// at about 680 MB/s, the default level (5 in klauspost/compress) 9.7x at
// about 335 MB/s: the default costs about 1.3 µs more per 1 KB log and
// sends 21% fewer bytes. Egress to Datadog is billed per GB (and per GB
// again through a NAT gateway), which outweighs that CPU: the default it
// is. BestSpeed is the choice for a router that is CPU-bound.
const gzipLevel = gzip.DefaultCompression

// Pools of gzip writers (each holds about 1 MB of compression state) and of
// the buffers request bodies are assembled in before compression.
var (
	gzipWriters = sync.Pool{New: func() any {
		w, err := gzip.NewWriterLevel(nil, gzipLevel)
		if err != nil {
			panic(err) // the level is a valid constant
		}
		return w
	}}
	rawBuffers sync.Pool // *[]byte
)

// Requests encodes the batch as intake requests: JSON arrays of at most
// MaxEntries logs and MaxBatchBytes bytes, in record order. The split
// depends only on the chunk and the options, so a chunk that returns after
// FLB_RETRY yields the same requests. The requests do not alias the batch.
func (b *Batch) Requests() []delivery.Request {
	e := b.enc
	if e == nil || len(b.ends) == 0 {
		return nil
	}
	obj := func(i int) []byte {
		start := 0
		if i > 0 {
			start = b.ends[i-1]
		}
		return b.buf[start:b.ends[i]]
	}
	var reqs []delivery.Request
	for first := 0; first < len(b.ends); {
		// A request holds at least one object; add more while they fit with
		// their comma.
		size, end := 2+len(obj(first)), first+1
		for end < len(b.ends) && end-first < e.maxEntries && size+1+len(obj(end)) <= e.maxBatch {
			size += 1 + len(obj(end))
			end++
		}
		reqs = append(reqs, e.request(end-first, func(i int) []byte { return obj(first + i) }))
		first = end
	}
	return reqs
}

// request encodes n objects as one request.
func (e *Encoder) request(n int, obj func(int) []byte) delivery.Request {
	size := 1
	for i := range n {
		size += len(obj(i)) + 1
	}
	var raw []byte
	var pooled *[]byte
	if e.o.Compress {
		if p, ok := rawBuffers.Get().(*[]byte); ok {
			pooled, raw = p, (*p)[:0]
		}
	}
	if cap(raw) < size {
		raw = make([]byte, 0, size)
	}
	// starts[i] is where object i begins in the array; it ends one byte
	// before starts[i+1] (at its ',' or the closing ']'). Split uses them.
	var starts []int32
	if n > 1 {
		starts = make([]int32, n+1)
	}
	raw = append(raw, '[')
	for i := range n {
		if i > 0 {
			raw = append(raw, ',')
		}
		if starts != nil {
			starts[i] = int32(len(raw))
		}
		raw = append(raw, obj(i)...)
	}
	raw = append(raw, ']')
	if starts != nil {
		starts[n] = int32(len(raw))
	}
	r := delivery.Request{Body: raw, Records: n, Header: map[string]string{"Content-Type": "application/json"}}
	if e.o.Compress {
		r.Body = compress(raw)
		r.Header["Content-Encoding"] = "gzip"
		if pooled == nil {
			pooled = new([]byte)
		}
		*pooled = raw
		rawBuffers.Put(pooled)
	}
	if starts != nil {
		body := r.Body
		r.Split = func() []delivery.Request { return e.split(body, starts) }
	}
	return r
}

// split halves a request's logs, for a 413 answer.
func (e *Encoder) split(body []byte, starts []int32) []delivery.Request {
	raw := body
	if e.o.Compress {
		raw = decompress(body)
	}
	n := len(starts) - 1
	half := n / 2
	obj := func(i int) []byte { return raw[starts[i] : starts[i+1]-1] }
	return []delivery.Request{
		e.request(half, obj),
		e.request(n-half, func(i int) []byte { return obj(half + i) }),
	}
}

func compress(raw []byte) []byte {
	w := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(w)
	var out bytes.Buffer
	out.Grow(len(raw)/4 + 64) // JSON logs compress about 5 to 10 times
	w.Reset(&out)
	// A bytes.Buffer never fails a write: neither can the writer.
	if _, err := w.Write(raw); err != nil {
		panic(fmt.Sprintf("datadog: gzip: %v", err))
	}
	if err := w.Close(); err != nil {
		panic(fmt.Sprintf("datadog: gzip: %v", err))
	}
	return out.Bytes()
}

// decompress reads back a body compress wrote; it runs only to split a
// request refused with 413.
func decompress(body []byte) []byte {
	r, err := gzip.NewReader(bytes.NewReader(body))
	if err == nil {
		var raw []byte
		if raw, err = io.ReadAll(r); err == nil {
			return raw
		}
	}
	// The body is this package's own gzip output.
	panic(fmt.Sprintf("datadog: gunzip own request body: %v", err))
}
