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
		if b[0] == k0 && len(known) > 0 && len(b) >= len(known) && string(b[:len(known)]) == string(known) {
			b = b[len(known):]
			continue
		}
		// Header, written out for this loop, which runs for every value
		// of every record: a call per value cost Skip a fifth more
		// instructions. The fix types are read from the lead byte itself,
		// the others from longHeads: looking every value up in heads put a
		// load between it and the next one, and Skip took up to 1.6 times
		// as long (BenchmarkSkip) for the same instructions.
		c := b[0]
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
		hd := longHeads[c-0xc0]
		h := int(hd.size)
		if len(b) < h {
			return b, ErrTruncated
		}
		var n int
		switch hd.width {
		case 0: // nil, bool, numbers and fixext: the header, and a fixext's n bytes
			if n = h + int(hd.n); len(b) < n {
				return b, ErrTruncated
			}
			b = b[n:]
			continue
		case 1:
			n = int(b[1])
		case 2:
			n = int(b[1])<<8 | int(b[2])
		case 4:
			n = int(uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4]))
		default: // 0xc1
			return b, ErrInvalid
		}
		switch hd.kind {
		case Array:
			pending += n
			b = b[h:]
		case Map:
			pending += 2 * n
			b = b[h:]
		default: // str, bin, ext
			if len(b)-h < n {
				return b, ErrTruncated
			}
			b = b[h+n:]
		}
		if pending-1 > len(b) { // every value takes at least one byte
			return b, ErrTruncated
		}
	}
	return b, nil
}
