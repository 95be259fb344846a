package sink

// freeList keeps up to a few values for reuse. Unlike sync.Pool, the
// garbage collector never empties it: a batch holds megabytes of buffers
// grown to the chunks' size, and losing it at a collection made the next
// flushes grow new ones. In a real Fluent Bit that was 60 to 150 MB
// allocated per 500,000 records, and the collections that it caused
// (allocs profile through KUBESHIP_CPUPROFILE's hook).
type freeList[T any] struct{ c chan *T }

// batchesKept bounds the batches kept: one per concurrent flush for up to
// that many workers; more concurrent flushes allocate and drop theirs.
const batchesKept = 4

func newFreeList[T any]() freeList[T] { return freeList[T]{c: make(chan *T, batchesKept)} }

func (f freeList[T]) get() *T {
	select {
	case v := <-f.c:
		return v
	default:
		return new(T)
	}
}

func (f freeList[T]) put(v *T) {
	select {
	case f.c <- v:
	default:
	}
}
