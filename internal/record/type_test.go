package record

import "testing"

// Type's table by first byte answers as msgp's reading (kindOf) does, for
// every first byte, whatever follows it.
func TestTypeTableMatchesKindOf(t *testing.T) {
	if Type(nil) != kindOf(nil) {
		t.Errorf("Type(nil) = %v, kindOf = %v", Type(nil), kindOf(nil))
	}
	tails := [][]byte{nil, {0}, {8, 0}, {8, 0, 1, 2, 3, 4, 5, 6, 7, 8}, {0, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8}, {1, 5, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}}
	for c := 0; c < 256; c++ {
		for _, tail := range tails {
			v := append([]byte{byte(c)}, tail...)
			if got, want := Type(v), kindOf(v); got != want {
				t.Errorf("Type(% x) = %v, kindOf = %v", v, got, want)
			}
		}
	}
}
