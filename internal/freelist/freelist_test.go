package freelist

import "testing"

func TestListKeepsABoundedFew(t *testing.T) {
	const n = 4
	l := New[int](n)
	kept := map[*int]bool{}
	for range n + 2 {
		v := l.Get() // empty: new values
		kept[v] = true
	}
	if len(kept) != n+2 {
		t.Fatalf("an empty list gave the same value twice")
	}
	for v := range kept {
		l.Put(v)
	}
	if got := len(l.c); got != n {
		t.Errorf("%d values kept, want at most %d", got, n)
	}
	for range n {
		if v := l.Get(); !kept[v] {
			t.Errorf("Get returned a new value while the list held %d", n)
		}
	}
}

func TestBoundedListDropsLargeValues(t *testing.T) {
	l := NewBounded(4, 1024, func(b *[]byte) int { return cap(*b) })
	small, large := make([]byte, 0, 1024), make([]byte, 0, 1025)
	l.Put(&large)
	l.Put(&small)
	if got := len(l.c); got != 1 {
		t.Fatalf("%d values kept, want only the small one", got)
	}
	if v := l.Get(); cap(*v) != 1024 {
		t.Errorf("kept a value of %d bytes", cap(*v))
	}
}
