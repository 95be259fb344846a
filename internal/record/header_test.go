package record

import (
	"bytes"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// Every lead byte's kind in heads is Type's, an extension's Ext (Type
// tells Time from Ext by its data).
func TestHeadsMatchType(t *testing.T) {
	for c := range 256 {
		want := Type([]byte{byte(c)})
		if want == Time {
			want = Ext
		}
		if k := heads[c].kind; k != want {
			t.Errorf("lead byte %#02x: kind %s, Type says %s", c, k, want)
		}
	}
}

// FuzzHeader reads the value at the start of random bytes with Header and
// the readers built on it (readText, shortStr, readExt, Skip) and with
// msgp's: ReadMapKeyZC for a str or bin, ReadExtensionBytes for an
// extension, ReadArrayHeaderBytes and ReadMapHeaderBytes, Skip for the
// rest. They agree on whether it reads, what it holds and where it ends.
func FuzzHeader(f *testing.F) {
	for _, b := range [][]byte{
		{0xa3, 'a', 'b', 'c'}, {0xd9, 2, 'h', 'i'}, {0xda, 0, 1, 'x'}, {0xdb, 0, 0, 0, 1, 'y'},
		{0xc4, 1, 0xff}, {0xc5, 0, 0}, {0xc6, 0, 0, 0, 2, 1, 2},
		{0xd7, 0, 1, 2, 3, 4, 5, 6, 7, 8}, {0xc7, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8}, {0xc7, 0, 5}, {0xc8, 0, 1, 9, 0}, {0xc9, 0, 0, 0, 1, 0xff, 7}, {0xd4, 1, 2},
		{0x92, 0x01, 0x02}, {0xdc, 0, 1, 0xc0}, {0xdd, 0, 0, 0, 0}, {0x81, 0xa1, 'k', 0x01}, {0xde, 0, 0}, {0xdf, 0, 0, 0, 1, 0xa0, 0xc3},
		{0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, {0xcf, 1}, {0xc1}, {0xe0}, {},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, h, n, ok := Header(b)
		if ok && (h < 1 || h > len(b) || n < 0) {
			t.Fatalf("% x: header %d bytes, n %d", b, h, n)
		}
		switch msgp.NextType(b) {
		case msgp.StrType, msgp.BinType:
			s, rest, textOK := readText(b)
			want, wantRest, err := msgp.ReadMapKeyZC(b)
			if textOK != (err == nil) || textOK && (!bytes.Equal(s, want) || len(rest) != len(wantRest)) {
				t.Fatalf("% x: readText %q, %d left, %v; msgp.ReadMapKeyZC %q, %d left, %v", b, s, len(rest), textOK, want, len(wantRest), err)
			}
			if ok && textOK != (len(b)-h >= n) || !ok && textOK {
				t.Fatalf("% x: Header %s %d %d %v; readText %v", b, k, h, n, ok, textOK)
			}
			if s2, rest2, ok2 := shortStr(b); ok2 && (!textOK || !bytes.Equal(s2, s) || len(rest2) != len(rest)) {
				t.Fatalf("% x: shortStr %q, readText %q", b, s2, s)
			}
		case msgp.ExtensionType, msgp.TimeType, msgp.Complex64Type, msgp.Complex128Type:
			typ, data, rest, err := readExt(b)
			e := &msgp.RawExtension{}
			if ok {
				e.Type = int8(b[h-1])
			}
			wantRest, wantErr := msgp.ReadExtensionBytes(b, e)
			if (err == nil) != (wantErr == nil) || err == nil && (typ != e.Type || !bytes.Equal(data, e.Data) || len(rest) != len(wantRest)) {
				t.Fatalf("% x: readExt type %d, % x, %d left, %v; msgp.ReadExtensionBytes type %d, % x, %d left, %v",
					b, typ, data, len(rest), err, e.Type, e.Data, len(wantRest), wantErr)
			}
			if k != Ext || err == nil && (!ok || n != len(data)) {
				t.Fatalf("% x: Header %s %d %d %v; readExt % x", b, k, h, n, ok, data)
			}
		case msgp.ArrayType:
			sz, rest, err := msgp.ReadArrayHeaderBytes(b)
			if k != Array || ok != (err == nil) || ok && (n != int(sz) || len(b)-h != len(rest)) {
				t.Fatalf("% x: Header %s %d %d %v; msgp.ReadArrayHeaderBytes %d, %d left, %v", b, k, h, n, ok, sz, len(rest), err)
			}
		case msgp.MapType:
			sz, rest, err := msgp.ReadMapHeaderBytes(b)
			if k != Map || ok != (err == nil) || ok && (n != int(sz) || len(b)-h != len(rest)) {
				t.Fatalf("% x: Header %s %d %d %v; msgp.ReadMapHeaderBytes %d, %d left, %v", b, k, h, n, ok, sz, len(rest), err)
			}
		case msgp.InvalidType:
			if ok {
				t.Fatalf("% x: Header read %s where msgp reads nothing", b, k)
			}
		default: // nil, bool, numbers: the header is the value
			rest, err := msgp.Skip(b)
			if ok != (err == nil) || ok && (n != 0 || len(b)-h != len(rest)) {
				t.Fatalf("% x: Header %s %d %d %v; msgp.Skip %d left, %v", b, k, h, n, ok, len(rest), err)
			}
		}
		rest, err := Skip(b)
		wantRest, wantErr := msgp.Skip(b)
		if (err == nil) != (wantErr == nil) || err == nil && len(rest) != len(wantRest) {
			t.Fatalf("% x: Skip %d left, %v; msgp.Skip %d left, %v", b, len(rest), err, len(wantRest), wantErr)
		}
	})
}
