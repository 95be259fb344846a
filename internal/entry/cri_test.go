package entry

import (
	"math/rand/v2"
	"testing"
	"time"
)

// handRFC3339 is the hand-written RFC 3339 parser parseRFC3339 replaced,
// kept as the reference for what it accepts and the value it reads.
func handRFC3339(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := handDigits(b[0:4])
	month, ok2 := handDigits(b[5:7])
	day, ok3 := handDigits(b[8:10])
	hour, ok4 := handDigits(b[11:13])
	minute, ok5 := handDigits(b[14:16])
	sec, ok6 := handDigits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || year < 1970 || year > 2261 || month < 1 || month > 12 || day < 1 || day > handDaysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
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
		oh, ok1 := handDigits(rest[1:3])
		om, ok2 := handDigits(rest[4:6])
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
	// days_from_civil (Howard Hinnant's algorithm)
	y, m := year, month
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	doy := (153*((m+9)%12)+2)/5 + day - 1
	days := era*146097 + yoe*365 + yoe/4 - yoe/100 + doy - 719468
	return (days*86400+hour*3600+minute*60+sec-offset)*1e9 + nanos, true
}

func handDigits(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func handDaysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// outsideCRITimes reports whether s is one of the times time.Parse reads
// that parseRFC3339 refuses on purpose: a year before 1970 or after 2261,
// more than nine fractional digits, a comma before them, a one-digit hour,
// or an offset of 24 hours or 60 minutes.
func outsideCRITimes(s string, t time.Time) bool {
	if len(s) < 20 || s[4] != '-' || s[13] != ':' || s[16] != ':' || s[19] == ',' {
		return true
	}
	if y := s[:4]; y < "1970" || y > "2261" {
		return true
	}
	if rest := s[19:]; rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n > 10 {
			return true
		}
	}
	if z := s[len(s)-6:]; s[len(s)-1] != 'Z' && (z[1:3] > "23" || z[4:] > "59") {
		return true
	}
	return false
}

// FuzzParseRFC3339 reads random bytes with parseRFC3339, the hand-written
// parser it replaced and time.Parse: parseRFC3339 accepts exactly what the
// hand-written one accepted, with the same value; what it accepts,
// time.Parse reads as the same time; what time.Parse reads and it refuses
// is outside the CRI times it takes on purpose (outsideCRITimes).
func FuzzParseRFC3339(f *testing.F) {
	for _, s := range []string{"2026-11-22T10:00:00.123456789Z", "1999-12-31T23:59:59-07:30", "0001-01-01T00:00:00Z",
		"2024-02-29T00:00:00+23:59", "2023-02-29T00:00:00Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00,5Z",
		"2026-01-01T00:00:00.1234567891Z", "2026-01-01T00:00:00+24:00", "2261-12-31T23:59:59.999999999Z", "2026-01-01T1:00:00.00Z",
		"2026-01-01T00:00:00.1+01:00Z", "2026-01-01T00:00:00.1Z3Z", "2026-01-01T00:00:00.1a3Z", "2026-01-01T00:00:00+1a:00", "20x6-01-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC3339([]byte(s))
		want, wantOK := handRFC3339([]byte(s))
		if ok != wantOK || got != want {
			t.Fatalf("%q: %d, %v; the hand-written parser said %d, %v", s, got, ok, want, wantOK)
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		switch {
		case ok && err != nil:
			t.Fatalf("accepted %q that time.Parse refuses: %v", s, err)
		case ok && tm.UnixNano() != got:
			t.Fatalf("%q: %d, time.Parse says %d", s, got, tm.UnixNano())
		case !ok && err == nil && !outsideCRITimes(s, tm):
			t.Fatalf("refused %q that time.Parse reads as %s", s, tm.Format(time.RFC3339Nano))
		}
	})
}

// FuzzFormatRFC3339 formats random times from 1970 to 2261, in UTC and at
// random offsets, with time.Format(time.RFC3339Nano) and reads them back.
func FuzzFormatRFC3339(f *testing.F) {
	f.Add(int64(1_790_000_000_123_456_789), int16(0))
	f.Add(int64(0), int16(-1439))
	f.Add(int64(9_214_646_399_999_999_999), int16(1439))
	f.Fuzz(func(t *testing.T, ns int64, offsetMin int16) {
		const last = 9_214_646_399_999_999_999 // 2261-12-31T23:59:59.999999999Z
		if ns < 0 || ns > last {
			ns = int64(uint64(ns) % (last + 1))
		}
		tm := time.Unix(0, ns).UTC()
		if m := int(offsetMin) % 1440; m != 0 {
			tm = tm.In(time.FixedZone("", m*60))
		}
		s := tm.Format(time.RFC3339Nano)
		got, ok := parseRFC3339([]byte(s))
		if y := s[:4]; y < "1970" || y > "2261" { // local year outside the range
			if ok {
				t.Fatalf("accepted %q", s)
			}
			return
		}
		if !ok || got != ns {
			t.Fatalf("%q: %d, %v; want %d", s, got, ok, ns)
		}
	})
}

// containerd's times (UTC, up to 30 bytes) are read without allocating.
func TestParseRFC3339AllocatesNothing(t *testing.T) {
	for _, s := range []string{"2026-11-22T10:00:00.123456789Z", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00.123+02:00"} {
		b := []byte(s)
		if n := testing.AllocsPerRun(100, func() { parseRFC3339(b) }); n != 0 {
			t.Errorf("%s: %v allocations, want 0", s, n)
		}
	}
}

func BenchmarkParseRFC3339(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var in [64][]byte
	for i := range in {
		tm := time.Unix(1_700_000_000+rng.Int64N(1e8), rng.Int64N(1e9)).UTC()
		in[i] = []byte(tm.Format(time.RFC3339Nano))
	}
	for _, bc := range []struct {
		name  string
		parse func([]byte) (int64, bool)
	}{
		{"parseRFC3339", parseRFC3339},
		{"hand_written", handRFC3339},
		{"time.Parse", func(b []byte) (int64, bool) {
			t, err := time.Parse(time.RFC3339Nano, string(b))
			return t.UnixNano(), err == nil
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := bc.parse(in[i%len(in)]); !ok {
					b.Fatal("refused")
				}
				i++
			}
		})
	}
}
