package record

// Header reads the header of the msgpack value at the start of b: its kind
// (Ext for any extension, Time included), the header's length h, and n: how
// many bytes follow the header for a str, bin or extension (whose type is
// the header's last byte, b[h-1]), the elements of an array, the entries of
// a map, and 0 for nil, bool and numbers, whose header is their whole
// encoding. It checks that the header is complete, not what follows it.
// ok is false when b is empty or ends inside the header, and for 0xc1,
// which starts no value (kind Invalid).
//
// It is the one reader of msgpack headers here: Text, AppendJSON and the
// event reader's timestamps read values through it, Skip through its
// tables (written out in its loop), and FuzzHeader checks it and them
// against msgp's readers (ReadMapKeyZC, ReadExtensionBytes,
// ReadArrayHeaderBytes, ReadMapHeaderBytes, Skip). They are written out
// rather than msgp's because they run on every value of every record:
// stepping over a Fargate record takes 1,930 instructions here against
// msgp.Skip's 3,615 (BenchmarkSkip: 144 ns against 174 at best on a busy
// machine); framing an event takes the event reader about 2,400
// instructions and no allocation, and visiting every field of it as well
// 4,860, where fluent-bit-go's decoder takes 125,000 and 193 allocations
// (BenchmarkReader and BenchmarkReaderFluentBitGo in internal/event;
// instructions counted by valgrind's cachegrind, which a busy machine does
// not move).
func Header(b []byte) (k Kind, h, n int, ok bool) {
	if len(b) == 0 {
		return Invalid, 0, 0, false
	}
	hd := heads[b[0]]
	if hd.width == 0 && len(b) >= int(hd.size) { // a fix type or a scalar: one lookup
		return hd.kind, int(hd.size), int(hd.n), true
	}
	return longHeader(b, hd)
}

// longHeader is Header for a length or count after the lead byte, a
// truncated header or 0xc1.
func longHeader(b []byte, hd head) (k Kind, h, n int, ok bool) {
	h = int(hd.size)
	if hd.kind == Invalid || len(b) < h {
		return hd.kind, h, 0, false
	}
	switch hd.width {
	case 1:
		n = int(b[1])
	case 2:
		n = int(b[1])<<8 | int(b[2])
	case 4:
		n = int(uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4]))
	default:
		n = int(hd.n)
	}
	return hd.kind, h, n, true
}

// head is what a lead byte says about its value.
type head struct {
	kind  Kind  // Ext for every extension
	size  uint8 // the header's length
	width uint8 // bytes of the length or count after the lead byte: 0, 1, 2 or 4 (invalidWidth for 0xc1)
	n     uint8 // the length or count when width is 0
}

// invalidWidth keeps 0xc1 off Header's one-lookup case.
const invalidWidth = 0xff

// heads describes every lead byte.
var heads = func() (t [256]head) {
	for c := range t {
		switch {
		case c <= 0x7f || c >= 0xe0: // positive and negative fixint
			t[c] = head{kind: Int, size: 1}
		case c <= 0x8f:
			t[c] = head{kind: Map, size: 1, n: uint8(c & 0x0f)}
		case c <= 0x9f:
			t[c] = head{kind: Array, size: 1, n: uint8(c & 0x0f)}
		case c <= 0xbf:
			t[c] = head{kind: Str, size: 1, n: uint8(c & 0x1f)}
		default:
			t[c] = longHeads[c-0xc0]
		}
	}
	return t
}()

// longHeads describes the lead bytes 0xc0 to 0xdf.
var longHeads = [32]head{
	{kind: Nil, size: 1},                          // nil
	{kind: Invalid, size: 1, width: invalidWidth}, // never used
	{kind: Bool, size: 1},                         // false
	{kind: Bool, size: 1},                         // true
	{kind: Bin, size: 2, width: 1},                // bin 8
	{kind: Bin, size: 3, width: 2},                // bin 16
	{kind: Bin, size: 5, width: 4},                // bin 32
	{kind: Ext, size: 3, width: 1},                // ext 8: length, type
	{kind: Ext, size: 4, width: 2},                // ext 16
	{kind: Ext, size: 6, width: 4},                // ext 32
	{kind: Float, size: 5},                        // float 32
	{kind: Float, size: 9},                        // float 64
	{kind: Uint, size: 2},                         // uint 8
	{kind: Uint, size: 3},                         // uint 16
	{kind: Uint, size: 5},                         // uint 32
	{kind: Uint, size: 9},                         // uint 64
	{kind: Int, size: 2},                          // int 8
	{kind: Int, size: 3},                          // int 16
	{kind: Int, size: 5},                          // int 32
	{kind: Int, size: 9},                          // int 64
	{kind: Ext, size: 2, n: 1},                    // fixext 1: type
	{kind: Ext, size: 2, n: 2},                    // fixext 2
	{kind: Ext, size: 2, n: 4},                    // fixext 4
	{kind: Ext, size: 2, n: 8},                    // fixext 8
	{kind: Ext, size: 2, n: 16},                   // fixext 16
	{kind: Str, size: 2, width: 1},                // str 8
	{kind: Str, size: 3, width: 2},                // str 16
	{kind: Str, size: 5, width: 4},                // str 32
	{kind: Array, size: 3, width: 2},              // array 16
	{kind: Array, size: 5, width: 4},              // array 32
	{kind: Map, size: 3, width: 2},                // map 16
	{kind: Map, size: 5, width: 4},                // map 32
}
