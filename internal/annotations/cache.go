package annotations

import (
	"container/list"
	"sync"
)

// The bounds of the compiled annotations kept for the whole process: a
// cluster's containers with Datadog annotations (test/perf's scale run has
// 2,000 containers), and memory for them. An entry is sized by its key (the
// annotations, at most 3 × maxAnnotationBytes) and its rules' programs
// (see Container.size): a typical container takes a few KB, the largest
// about 350 KB, so the bytes bound holds at least 90 of those.
const (
	maxCachedContainers = 4096
	maxCachedBytes      = 32 << 20
)

// store keeps read annotations across batches, flushes and destinations,
// so that a container's rules are compiled once, not once per flush: it is
// safe for concurrent use and evicts the least recently used entries one by
// one when full, never all at once (a batch of more containers than it holds
// then recompiles only those it evicted, not everyone's).
type store struct {
	maxEntries, maxBytes int

	mu    sync.Mutex
	m     map[string]*list.Element // of *storeEntry
	lru   list.List                // most recently used first
	bytes int
}

type storeEntry struct {
	key  string
	c    *Container
	size int
}

var shared = newStore(maxCachedContainers, maxCachedBytes)

func newStore(maxEntries, maxBytes int) *store {
	return &store{maxEntries: maxEntries, maxBytes: maxBytes, m: map[string]*list.Element{}}
}

// get returns the container read from the annotations of key, if kept.
func (s *store) get(key []byte) (*Container, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.m[string(key)]
	if !ok {
		return nil, false
	}
	s.lru.MoveToFront(el)
	return el.Value.(*storeEntry).c, true
}

// put keeps c under key, evicting the least recently used entries while
// over a bound, and returns the container kept under key: c, or the one
// another flush put first (so that the same annotations give the same
// pointer).
func (s *store) put(key []byte, c *Container) *Container {
	size := len(key) + c.size
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.m[string(key)]; ok {
		s.lru.MoveToFront(el)
		return el.Value.(*storeEntry).c
	}
	if size > s.maxBytes {
		return c // larger than the whole cache: not kept
	}
	e := &storeEntry{key: string(key), c: c, size: size}
	s.m[e.key] = s.lru.PushFront(e)
	s.bytes += size
	for s.lru.Len() > s.maxEntries || s.bytes > s.maxBytes {
		old := s.lru.Back()
		oe := old.Value.(*storeEntry)
		s.lru.Remove(old)
		delete(s.m, oe.key)
		s.bytes -= oe.size
	}
	return c
}

// len returns the entries and bytes kept.
func (s *store) len() (entries, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len(), s.bytes
}
