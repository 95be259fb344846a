package record

// Skip returns the bytes after the msgpack value at the start of v, checking
// that the value is complete. It does what msgp.Skip does, iteratively
// (faster: see BenchmarkSkip), and places no limit on nesting. On error, rest
// starts at the value that could not be read.
func Skip(v []byte) (rest []byte, err error) { return SkipKnown(v, nil) }

// SkipKnown is Skip that steps over known, a complete value seen before,
// wherever it recurs, by comparing bytes instead of parsing: msgpack is
// self-delimiting, so bytes that start with a whole value are that value.
// Every record of a chunk carries the same kubernetes map, the largest part
// of the record, and parsing it twice per record (to find the event, then
// its fields) was a sixth of BenchmarkEncode.
func SkipKnown(v, known []byte) (rest []byte, err error) {
	b := v
	k0 := byte(0xc1) // never used by msgpack: no byte matches when known is empty
	if len(known) > 0 {
		k0 = known[0]
	}
	for pending := 1; pending > 0; pending-- {
		if len(b) == 0 {
			return b, ErrTruncated
		}
		c := b[0]
		if c == k0 && len(known) > 0 && len(b) >= len(known) && string(b[:len(known)]) == string(known) {
			b = b[len(known):]
			continue
		}
		if c < 0xc0 {
			switch {
			case c <= 0x7f: // positive fixint
				b = b[1:]
			case c <= 0x8f: // fixmap
				pending += 2 * int(c&0x0f)
				b = b[1:]
			case c <= 0x9f: // fixarray
				pending += int(c & 0x0f)
				b = b[1:]
			default: // fixstr
				n := 1 + int(c&0x1f)
				if len(b) < n {
					return b, ErrTruncated
				}
				b = b[n:]
			}
			continue
		}
		if c >= 0xe0 { // negative fixint
			b = b[1:]
			continue
		}
		l := leads[c-0xc0]
		h := int(l.size)
		if len(b) < h {
			return b, ErrTruncated
		}
		switch l.kind {
		case fixed:
			b = b[h:]
			continue
		case invalid:
			return b, ErrInvalid
		}
		var n int
		switch l.width {
		case 1:
			n = int(b[1])
		case 2:
			n = int(b[1])<<8 | int(b[2])
		default:
			n = int(uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4]))
		}
		switch l.kind {
		case payload:
			if len(b)-h < n {
				return b, ErrTruncated
			}
			b = b[h+n:]
		case array:
			pending += n
			b = b[h:]
		case mapping:
			pending += 2 * n
			b = b[h:]
		}
		if pending-1 > len(b) { // every value takes at least one byte
			return b, ErrTruncated
		}
	}
	return b, nil
}

type leadKind uint8

const (
	invalid leadKind = iota
	fixed            // size is the whole encoding
	payload          // size is the header; a length of width bytes at b[1] gives the payload
	array            // size is the header; a count of width bytes at b[1] gives the elements
	mapping          // as array, for entries
)

// leads describes the lead bytes 0xc0 to 0xdf.
var leads = [32]struct {
	kind  leadKind
	size  uint8
	width uint8
}{
	0x00: {fixed, 1, 0},   // nil
	0x01: {invalid, 1, 0}, // never used
	0x02: {fixed, 1, 0},   // false
	0x03: {fixed, 1, 0},   // true
	0x04: {payload, 2, 1}, // bin 8
	0x05: {payload, 3, 2}, // bin 16
	0x06: {payload, 5, 4}, // bin 32
	0x07: {payload, 3, 1}, // ext 8: length, type
	0x08: {payload, 4, 2}, // ext 16
	0x09: {payload, 6, 4}, // ext 32
	0x0a: {fixed, 5, 0},   // float 32
	0x0b: {fixed, 9, 0},   // float 64
	0x0c: {fixed, 2, 0},   // uint 8
	0x0d: {fixed, 3, 0},   // uint 16
	0x0e: {fixed, 5, 0},   // uint 32
	0x0f: {fixed, 9, 0},   // uint 64
	0x10: {fixed, 2, 0},   // int 8
	0x11: {fixed, 3, 0},   // int 16
	0x12: {fixed, 5, 0},   // int 32
	0x13: {fixed, 9, 0},   // int 64
	0x14: {fixed, 3, 0},   // fixext 1
	0x15: {fixed, 4, 0},   // fixext 2
	0x16: {fixed, 6, 0},   // fixext 4
	0x17: {fixed, 10, 0},  // fixext 8
	0x18: {fixed, 18, 0},  // fixext 16
	0x19: {payload, 2, 1}, // str 8
	0x1a: {payload, 3, 2}, // str 16
	0x1b: {payload, 5, 4}, // str 32
	0x1c: {array, 3, 2},   // array 16
	0x1d: {array, 5, 4},   // array 32
	0x1e: {mapping, 3, 2}, // map 16
	0x1f: {mapping, 5, 4}, // map 32
}
