package datadog

import (
	"bytes"
	"fmt"
	"io"

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

// newGzip returns a gzip writer at gzipLevel. Each holds about 1 MB of
// compression state, so a batch keeps its own across flushes.
func newGzip() *gzip.Writer {
	w, err := gzip.NewWriterLevel(nil, gzipLevel)
	if err != nil {
		panic(err) // the level is a valid constant
	}
	return w
}

// The requests' headers, shared and never written to.
var (
	jsonHeader = map[string]string{"Content-Type": "application/json"}
	gzipHeader = map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}
)

// requestBuf is where a request's body is written, kept by the batch so
// that its memory serves flush after flush: allocating each compressed
// body fed the garbage collector about a tenth of a Datadog flush's CPU in
// a real Fluent Bit (KUBESHIP_CPUPROFILE).
type requestBuf struct {
	body   []byte
	starts []int32 // see request
}

// Requests encodes the batch as intake requests: JSON arrays of at most
// MaxEntries logs and MaxBatchBytes bytes, in record order. The split
// depends only on the chunk and the options, so a chunk that returns after
// FLB_RETRY yields the same requests. Their bodies live in the batch until
// its next Reset.
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
		if len(reqs) == len(b.reqBufs) {
			b.reqBufs = append(b.reqBufs, requestBuf{})
		}
		if e.o.Compress && b.gz == nil {
			b.gz = newGzip()
		}
		reqs = append(reqs, e.request(&b.reqBufs[len(reqs)], b.gz, end-first, func(i int) []byte { return obj(first + i) }))
		first = end
	}
	return reqs
}

// request encodes n objects as one request into buf, compressed with w
// when the options say so.
func (e *Encoder) request(buf *requestBuf, w *gzip.Writer, n int, obj func(int) []byte) delivery.Request {
	// starts[i] is where object i begins in the JSON array; it ends one
	// byte before starts[i+1] (at its ',' or the closing ']'). Split uses
	// them.
	starts := buf.starts[:0]
	at := int32(1)
	for i := range n {
		starts = append(starts, at)
		at += int32(len(obj(i))) + 1
	}
	starts = append(starts, at)
	buf.starts = starts

	r := delivery.Request{Records: n, Header: jsonHeader}
	if e.o.Compress {
		// The objects go straight into the compressor, never copied into
		// one array first.
		out := bytes.NewBuffer(buf.body[:0])
		w.Reset(out)
		for i := range n {
			sep := sepComma
			if i == 0 {
				sep = sepOpen
			}
			mustWrite(w.Write(sep))
			mustWrite(w.Write(obj(i)))
		}
		mustWrite(w.Write(sepClose))
		mustWrite(0, w.Close())
		buf.body = out.Bytes()
		r.Header = gzipHeader
	} else {
		raw := append(buf.body[:0], '[')
		for i := range n {
			if i > 0 {
				raw = append(raw, ',')
			}
			raw = append(raw, obj(i)...)
		}
		buf.body = append(raw, ']')
	}
	r.Body = buf.body
	if n > 1 {
		body := r.Body
		r.Split = func() []delivery.Request { return e.split(body, starts) }
	}
	return r
}

var sepOpen, sepComma, sepClose = []byte("["), []byte(","), []byte("]")

// mustWrite checks a write into a bytes.Buffer, which never fails, and
// neither can a gzip writer over one.
func mustWrite(_ int, err error) {
	if err != nil {
		panic(fmt.Sprintf("datadog: gzip: %v", err))
	}
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
	var w *gzip.Writer
	if e.o.Compress {
		w = newGzip()
	}
	return []delivery.Request{
		e.request(&requestBuf{}, w, half, obj),
		e.request(&requestBuf{}, w, n-half, func(i int) []byte { return obj(half + i) }),
	}
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

// Retained is about how many bytes of buffers the batch keeps for reuse.
func (b *Batch) Retained() int {
	n := cap(b.buf) + cap(b.ends)*8 + cap(b.msg) + cap(b.status) + b.reader.Retained()
	for _, r := range b.reqBufs[:cap(b.reqBufs)] {
		n += cap(r.body) + cap(r.starts)*4
	}
	return n
}
