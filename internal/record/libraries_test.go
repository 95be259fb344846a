package record_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/tinylib/msgp/msgp"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/record"
)

// FuzzAppendJSONString compares AppendJSONString with encoding/json
// (without HTML escaping, the one difference on purpose) byte for byte:
// both escape U+2028 and U+2029 and replace each byte of invalid UTF-8
// with \ufffd. The string is cut from a larger buffer, as a record's
// strings are, since AppendJSONString reads whole words past its end.
func FuzzAppendJSONString(f *testing.F) {
	f.Add([]byte("plain text of a log line"), uint8(3))
	f.Add([]byte("a\u2028b\u2029c \xff\xc3 \"q\" \\ <>& \x00\x1f\x7f é日本🙂"), uint8(0))
	f.Add([]byte("0123456789abcdef\"0123456789abcdef\xe6\x97"), uint8(9))
	f.Fuzz(func(t *testing.T, buf []byte, cut uint8) {
		s := buf[:len(buf)-min(int(cut), len(buf))]
		got := record.AppendJSONString([]byte("pre:"), s)
		if want := encodingJSON(string(s)); string(got[4:]) != want {
			t.Fatalf("%q:\n got %s\nwant %s (encoding/json)", s, got[4:], want)
		}
	})
}

// FuzzAppendJSONLibraries compares AppendJSON with msgp's decoder and
// encoding/json: a msgpack value decoded by msgp.ReadIntfBytes and encoded
// by encoding/json reads back as the same JSON value as AppendJSON's
// output. Left out, as AppendJSON's doc says why: extensions (Fluent Bit's
// time becomes a number of seconds, others null), NaN and infinities
// (null), map keys that are not a str or bin (msgp refuses them,
// AppendJSON writes their text), and bin, which AppendJSON takes as text
// where encoding/json writes base64 (it is turned into a string first).
func FuzzAppendJSONLibraries(f *testing.F) {
	f.Add(mp(eventtest.FargateBody(0)))
	f.Add(mp(eventtest.FargateBody(3)))
	f.Add(mp(map[string]any{"a": []any{int64(-1), uint64(math.MaxUint64), 1.5, float32(2.5), 1e21, 1e-7, nil, true, []byte("\xff"), "\u2028\"\\\x00<>"}}))
	f.Add([]byte{0x82, 0xa1, 'k', 0x01, 0xa1, 'k', 0x02}) // a repeated key
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := record.AppendJSON(nil, in)
		v, _, msgpErr := msgp.ReadIntfBytes(in)
		if err != nil {
			if msgpErr == nil && !errors.Is(err, record.ErrTooDeep) {
				t.Fatalf("AppendJSON failed where msgp.ReadIntfBytes reads %v: %v", v, err)
			}
			return
		}
		if msgpErr != nil || !alike(&v) {
			return
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		ours, theirs := decodeJSON(t, out), decodeJSON(t, buf.Bytes())
		if !reflect.DeepEqual(ours, theirs) {
			t.Fatalf("AppendJSON %s\nmsgp + encoding/json %s", out, buf.Bytes())
		}
	})
}

// alike reports whether v holds only what AppendJSON and encoding/json
// write alike, turning bin into strings on the way.
func alike(v *any) bool {
	switch x := (*v).(type) {
	case []byte:
		*v = string(x)
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case float32:
		return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0)
	case nil, bool, int64, uint64, string:
	case []any:
		for i := range x {
			if !alike(&x[i]) {
				return false
			}
		}
	case map[string]any:
		for k, e := range x {
			if !alike(&e) {
				return false
			}
			x[k] = e
		}
	default: // extensions
		return false
	}
	return true
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // numbers compared as written
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

// BenchmarkAppendJSONLibraries is what AppendJSON and AppendJSONString
// would cost through the libraries: a record decoded by msgp and encoded
// by encoding/json, a log line by encoding/json.
func BenchmarkAppendJSONLibraries(b *testing.B) {
	body := mp(eventtest.FargateBody(1))
	b.Run("record_msgp_encoding_json", func(b *testing.B) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			v, _, err := msgp.ReadIntfBytes(body)
			if err != nil {
				b.Fatal(err)
			}
			if err := enc.Encode(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	v, _ := record.Get(body, "log")
	s, _ := record.Text(v)
	b.Run("string_encoding_json", func(b *testing.B) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		b.SetBytes(int64(len(s)))
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(string(s)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
