// Package freelist keeps a few values of reusable memory between uses.
package freelist

import (
	"runtime/debug"
	"sync/atomic"
	"time"
)

// List keeps up to a few values for reuse. Unlike sync.Pool, the garbage
// collector never empties it: a batch holds megabytes of buffers grown to
// the chunks' size, and losing it at a collection made the next flushes
// grow new ones. In a real Fluent Bit that was 60 to 150 MB allocated per
// 500,000 records, and the collections that it caused (allocs profile
// through KUBESHIP_CPUPROFILE's hook).
type List[T any] struct {
	c    chan *T
	size func(*T) int // bytes a value retains; nil: not measured
	max  int
}

// PerFlush is how many values a list of per-flush memory keeps: one per
// concurrent flush for up to 4 workers; more concurrent flushes allocate
// and drop theirs.
const PerFlush = 4

// New returns a list that keeps at most n values.
func New[T any](n int) List[T] { return List[T]{c: make(chan *T, n)} }

// NewBounded returns a list that keeps at most n values, each retaining at
// most max bytes by size: one huge record grows a batch's buffers to its
// size, and keeping them would hold that memory for the life of the
// process; such a value goes to the collector instead.
func NewBounded[T any](n, max int, size func(*T) int) List[T] {
	return List[T]{c: make(chan *T, n), size: size, max: max}
}

// Get returns a kept value, or a new one when none is kept.
func (l List[T]) Get() *T {
	select {
	case v := <-l.c:
		return v
	default:
		return new(T)
	}
}

// Put keeps v if there is room and it is not too large, else drops it for
// the collector.
func (l List[T]) Put(v *T) {
	if l.size != nil && l.size(v) > l.max {
		release()
		return
	}
	select {
	case l.c <- v:
	default:
	}
}

// lastRelease is when release last ran, in Unix nanoseconds.
var lastRelease atomic.Int64

// release gives the memory of a value too large to keep back to the
// system, at most once a second. Dropping it is not enough: a steady flow
// of records allocates next to nothing, so the collector may not run for
// two minutes (its forced period) and the process keeps the huge
// buffers' pages (measured with the C host: 20 MB before a 32 MB record,
// 63 MB ninety seconds after it). A full collection here costs about a
// millisecond with kubeship's small heap, and huge records are rare.
func release() {
	now := time.Now().UnixNano()
	last := lastRelease.Load()
	if now-last < int64(time.Second) || !lastRelease.CompareAndSwap(last, now) {
		return
	}
	go debug.FreeOSMemory()
}
