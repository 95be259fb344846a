package sink

import "testing"

func TestFreeListKeepsABoundedFew(t *testing.T) {
	f := newFreeList[int]()
	kept := map[*int]bool{}
	for range batchesKept + 2 {
		v := f.get() // empty: new values
		kept[v] = true
	}
	if len(kept) != batchesKept+2 {
		t.Fatalf("an empty list gave the same value twice")
	}
	for v := range kept {
		f.put(v)
	}
	if n := len(f.c); n != batchesKept {
		t.Errorf("%d values kept, want at most %d", n, batchesKept)
	}
	for range batchesKept {
		if v := f.get(); !kept[v] {
			t.Errorf("get returned a new value while the list held %d", batchesKept)
		}
	}
}
