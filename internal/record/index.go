package record

import "github.com/tinylib/msgp/msgp"

// Index returns the raw msgpack of element i of the msgpack array a.
func Index(a []byte, i int) ([]byte, bool) {
	n, rest, err := msgp.ReadArrayHeaderBytes(a)
	if err != nil || i < 0 || uint32(i) >= n {
		return nil, false
	}
	for ; i > 0; i-- {
		if rest, err = msgp.Skip(rest); err != nil {
			return nil, false
		}
	}
	return rest, len(rest) > 0
}
