// Package freelist keeps a few values of reusable memory between uses.
package freelist

// List keeps up to a few values for reuse. Unlike sync.Pool, the garbage
// collector never empties it: a batch holds megabytes of buffers grown to
// the chunks' size, and losing it at a collection made the next flushes
// grow new ones. In a real Fluent Bit that was 60 to 150 MB allocated per
// 500,000 records, and the collections that it caused (allocs profile
// through KUBESHIP_CPUPROFILE's hook).
type List[T any] struct{ c chan *T }

// PerFlush is how many values a list of per-flush memory keeps: one per
// concurrent flush for up to 4 workers; more concurrent flushes allocate
// and drop theirs.
const PerFlush = 4

// New returns a list that keeps at most n values.
func New[T any](n int) List[T] { return List[T]{c: make(chan *T, n)} }

// Get returns a kept value, or a new one when none is kept.
func (l List[T]) Get() *T {
	select {
	case v := <-l.c:
		return v
	default:
		return new(T)
	}
}

// Put keeps v if there is room, else drops it for the collector.
func (l List[T]) Put(v *T) {
	select {
	case l.c <- v:
	default:
	}
}
