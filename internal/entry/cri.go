package entry

import "bytes"

// CRILine is a line in the CRI log format, as containerd writes it and as
// the Fargate router's tail input reads it when no parser is configured:
// <RFC3339Nano time> <stdout|stderr> <P|F> <message>.
type CRILine struct {
	Time    int64 // Unix nanoseconds
	Stream  []byte
	Partial bool // P: the runtime split a long line; more parts follow
	Message []byte
}

// ParseCRI recognizes a CRI line. It is hand-written rather than a regexp
// and time.Parse because it runs on every record of a router without a
// parser, and it allocates nothing; FuzzParseCRI checks it against time.Parse.
func ParseCRI(b []byte) (CRILine, bool) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return CRILine{}, false
	}
	t, ok := parseRFC3339(b[:sp])
	if !ok {
		return CRILine{}, false
	}
	rest := b[sp+1:]
	var stream []byte
	switch {
	case bytes.HasPrefix(rest, []byte("stdout ")):
		stream, rest = rest[:6], rest[7:]
	case bytes.HasPrefix(rest, []byte("stderr ")):
		stream, rest = rest[:6], rest[7:]
	default:
		return CRILine{}, false
	}
	// The tag is P or F, possibly followed by ':'-separated extra flags.
	sp = bytes.IndexByte(rest, ' ')
	tag := rest
	msg := []byte{}
	if sp >= 0 {
		tag, msg = rest[:sp], rest[sp+1:]
	}
	if len(tag) == 0 || (tag[0] != 'P' && tag[0] != 'F') || (len(tag) > 1 && tag[1] != ':') {
		return CRILine{}, false
	}
	return CRILine{Time: t, Stream: stream, Partial: tag[0] == 'P', Message: msg}, true
}

// parseRFC3339 parses YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM) to Unix nanoseconds.
func parseRFC3339(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	// Years outside 1970..2261 are no runtime's clock, and beyond 2262 do
	// not fit Unix nanoseconds.
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || year < 1970 || year > 2261 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	rest := b[19:]
	var nanos int64
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		scale := int64(100_000_000)
		for ; n < len(rest) && rest[n] >= '0' && rest[n] <= '9'; n++ {
			nanos += int64(rest[n]-'0') * scale
			scale /= 10
		}
		if n == 1 || n > 10 {
			return 0, false
		}
		rest = rest[n:]
	}
	var offset int64
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	secs := daysSinceEpoch(year, month, day)*86400 + hour*3600 + minute*60 + sec - offset
	return secs*1e9 + nanos, true
}

func digits(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if isLeap(year) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch is days_from_civil (Howard Hinnant's algorithm), for years from 1970.
func daysSinceEpoch(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
