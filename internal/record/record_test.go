package record_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/record"
)

func mp(v any) []byte { return eventtest.Marshal(v) }

func raw(b ...byte) msgp.Raw { return msgp.Raw(b) }

// timeExt is Fluent Bit's event time 1700000000.5 as ext type 0.
var timeExt = msgp.Raw(eventtest.AppendTime(nil, time.Unix(1700000000, 500_000_000), eventtest.Ext))

func TestType(t *testing.T) {
	tests := []struct {
		name string
		v    []byte
		want record.Kind
	}{
		{"empty_is_invalid", nil, record.Invalid},
		{"c1_is_invalid", []byte{0xc1}, record.Invalid},
		{"nil", mp(nil), record.Nil},
		{"bool", mp(true), record.Bool},
		{"fixint", mp(int64(5)), record.Int},
		{"negative_int", mp(int64(-500)), record.Int},
		{"uint64", mp(uint64(math.MaxUint64)), record.Uint},
		{"float64", mp(1.5), record.Float},
		{"float32", mp(float32(1.5)), record.Float},
		{"str", mp("s"), record.Str},
		{"bin", mp([]byte("b")), record.Bin},
		{"array", mp([]any{}), record.Array},
		{"map", mp(map[string]any{}), record.Map},
		{"fluent_bit_time", timeExt, record.Time},
		{"ext_type_0_of_4_bytes", []byte{0xd6, 0, 1, 2, 3, 4}, record.Ext},
		{"msgpack_timestamp_ext", mp(raw(0xd6, 0xff, 1, 2, 3, 4)), record.Ext},
		{"other_ext", []byte{0xd4, 7, 1}, record.Ext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := record.Type(tt.v); got != tt.want {
				t.Errorf("Type(% x) = %v, want %v", tt.v, got, tt.want)
			}
		})
	}
}

func TestGet(t *testing.T) {
	nested := map[string]any{"labels": map[string]any{"app": "web"}, "n": int64(1)}
	m := mp(map[string]any{"log": "hello", "kubernetes": nested, "zero": nil})
	// {"a": 1, <bin "b">: 2, 7: "int key", "a": 3}
	mixed := []byte{0x84, 0xa1, 'a', 0x01, 0xc4, 1, 'b', 0x02, 0x07, 0xa7, 'i', 'n', 't', ' ', 'k', 'e', 'y', 0xa1, 'a', 0x03}
	tests := []struct {
		name   string
		m      []byte
		key    string
		want   []byte
		wantOK bool
	}{
		{"present_str_value", m, "log", mp("hello"), true},
		{"nested_map_value_returned_raw", m, "kubernetes", mp(nested), true},
		{"nil_value_is_present", m, "zero", mp(nil), true},
		{"absent_key", m, "nope", nil, false},
		{"key_prefix_does_not_match", m, "lo", nil, false},
		{"bin_key_matches", mixed, "b", []byte{0x02}, true},
		{"first_match_wins", mixed, "a", []byte{0x01}, true},
		{"int_key_never_matches", mixed, "7", nil, false},
		{"empty_map", mp(map[string]any{}), "log", nil, false},
		{"not_a_map", mp("log"), "log", nil, false},
		{"empty_input", nil, "log", nil, false},
		{"truncated_before_match", m[:len(m)/2], "zero", nil, false},
		{"truncated_matching_value", []byte{0x81, 0xa1, 'k', 0xa5, 'a'}, "k", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := record.Get(tt.m, tt.key)
			if ok != tt.wantOK || !bytes.Equal(got, tt.want) {
				t.Errorf("Get(%q) = % x, %v; want % x, %v", tt.key, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestEach(t *testing.T) {
	type kv struct{ k, v string }
	collect := func(m []byte, stopAfter int) ([]kv, error) {
		var out []kv
		err := record.Each(m, func(k, v []byte) bool {
			out = append(out, kv{string(k), string(v)})
			return len(out) != stopAfter
		})
		return out, err
	}
	m := mp(map[string]any{"a": "1", "b": map[string]any{"c": []any{int64(1)}}, "d": nil})
	t.Run("visits_every_entry_in_order_with_raw_values", func(t *testing.T) {
		got, err := collect(m, -1)
		want := []kv{{"a", string(mp("1"))}, {"b", string(mp(map[string]any{"c": []any{int64(1)}}))}, {"d", string(mp(nil))}}
		if err != nil || len(got) != len(want) {
			t.Fatalf("got %q, %v", got, err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("entry %d = %q, want %q", i, got[i], want[i])
			}
		}
	})
	t.Run("stops_when_fn_returns_false", func(t *testing.T) {
		got, err := collect(m, 2)
		if err != nil || len(got) != 2 {
			t.Fatalf("got %d entries, err %v; want 2, nil", len(got), err)
		}
	})
	t.Run("stops_early_without_reading_malformed_rest", func(t *testing.T) {
		bad := []byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0xc1}
		if got, err := collect(bad, 1); err != nil || len(got) != 1 {
			t.Fatalf("got %d entries, err %v", len(got), err)
		}
	})
	t.Run("bin_and_non_string_keys_as_text", func(t *testing.T) {
		// {<bin "k">: 1, 7: 2, -1: 3, true: 4, nil: 5, 1.5: 6, [1]: 7}
		in := []byte{0x87, 0xc4, 1, 'k', 1, 0x07, 2, 0xff, 3, 0xc3, 4, 0xc0, 5, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 6, 0x91, 0x01, 7}
		got, err := collect(in, -1)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, e := range got {
			keys = append(keys, e.k)
		}
		if want := "k 7 -1 true  1.5 [1]"; strings.Join(keys, " ") != want {
			t.Errorf("keys %q, want %q", strings.Join(keys, " "), want)
		}
	})
	for _, tt := range []struct {
		name, in, wantErr string
	}{
		{"not_a_map_is_an_error", string(mp("x")), "want a map, got str"},
		{"empty_input_is_an_error", "", "msgpack: input ends inside a value"},
		{"truncated_value_is_an_error", "\x82\xa1a\x01\xa1b\xa5ab", "map value 1: msgpack: input ends inside a value"},
		{"invalid_byte_is_an_error", "\x81\xa1a\xc1", "map value 0: msgpack: invalid encoding"},
		{"truncated_key_is_an_error", "\x81\xa5ab", "map key 0: msgpack: input ends inside a value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := collect([]byte(tt.in), -1)
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want prefix %q", err, tt.wantErr)
			}
		})
	}
}

func TestText(t *testing.T) {
	long := strings.Repeat("x", 70000)
	tests := []struct {
		name   string
		v      []byte
		want   string
		wantOK bool
	}{
		{"fixstr", mp("hello"), "hello", true},
		{"str8", mp(strings.Repeat("y", 40)), strings.Repeat("y", 40), true},
		{"str32", mp(long), long, true},
		{"empty_str", mp(""), "", true},
		{"bin", mp([]byte("bytes")), "bytes", true},
		{"int_is_not_text", mp(int64(1)), "", false},
		{"nil_is_not_text", mp(nil), "", false},
		{"map_is_not_text", mp(map[string]any{}), "", false},
		{"truncated_str", mp("hello")[:3], "", false},
		{"empty", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := record.Text(tt.v)
			if ok != tt.wantOK || string(got) != tt.want {
				t.Errorf("Text = %.20q, %v; want %.20q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
	t.Run("zero_copy", func(t *testing.T) {
		v := mp("hello")
		got, _ := record.Text(v)
		if &got[0] != &v[1] {
			t.Error("Text copied the bytes")
		}
	})
}

func TestAppendString(t *testing.T) {
	tests := []struct {
		name   string
		v      []byte
		want   string
		wantOK bool
	}{
		{"str_as_is", mp("a \"quoted\"\n"), "a \"quoted\"\n", true},
		{"bin_as_is", mp([]byte{'b', 0xff}), "b\xff", true},
		{"positive_fixint", mp(int64(7)), "7", true},
		{"negative_fixint", mp(int64(-7)), "-7", true},
		{"int8", []byte{0xd0, 0x80}, "-128", true},
		{"int16", mp(int64(-30000)), "-30000", true},
		{"int32", mp(int64(-2000000000)), "-2000000000", true},
		{"int64", mp(int64(math.MinInt64)), "-9223372036854775808", true},
		{"uint8", []byte{0xcc, 200}, "200", true},
		{"uint16", []byte{0xcd, 0xff, 0xff}, "65535", true},
		{"uint32", []byte{0xce, 0xff, 0xff, 0xff, 0xff}, "4294967295", true},
		{"uint64", mp(uint64(math.MaxUint64)), "18446744073709551615", true},
		{"float64", mp(3.25), "3.25", true},
		{"float64_integral", mp(100.0), "100", true},
		{"float64_large_uses_exponent", mp(1e21), "1e+21", true},
		{"float64_small_uses_exponent", mp(1e-7), "1e-7", true},
		{"float32_shortest", mp(float32(0.1)), "0.1", true},
		{"nan", mp(math.NaN()), "NaN", true},
		{"true", mp(true), "true", true},
		{"false", mp(false), "false", true},
		{"nil_is_empty", mp(nil), "", true},
		{"map_as_json", mp(map[string]any{"a": []any{int64(1), "x"}}), `{"a":[1,"x"]}`, true},
		{"array_as_json", mp([]any{nil, true}), `[null,true]`, true},
		{"fluent_bit_time_ext_is_not_text", timeExt, "", false},
		{"other_ext_is_not_text", []byte{0xd4, 7, 1}, "", false},
		{"truncated", mp("hello")[:2], "", false},
		{"truncated_number", []byte{0xcb, 0}, "", false},
		{"malformed_map", []byte{0x81, 0xc1, 0x01}, "", false},
		{"empty", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := record.AppendString([]byte("pre:"), tt.v)
			want := "pre:" + tt.want
			if ok != tt.wantOK || string(got) != want {
				t.Errorf("AppendString = %q, %v; want %q, %v", got, ok, want, tt.wantOK)
			}
		})
	}
}

func TestAppendJSON(t *testing.T) {
	otherExt := raw(0xd4, 7, 1)
	tests := []struct {
		name string
		v    any // encoded with eventtest.AppendValue
		want string
	}{
		{"nested_map_and_array", map[string]any{
			"kubernetes": map[string]any{"labels": map[string]any{"app": "web"}, "pod_name": "p-1"},
			"list":       []any{int64(1), -2.5, "x", nil, true, false, []any{}, map[string]any{}},
		}, `{"kubernetes":{"labels":{"app":"web"},"pod_name":"p-1"},"list":[1,-2.5,"x",null,true,false,[],{}]}`},
		{"str", "plain", `"plain"`},
		{"bin_as_text", []byte("bin \"text\""), `"bin \"text\""`},
		{"bin_invalid_utf8_replaced", []byte{'a', 0xff, 'b'}, `"a\ufffdb"`},
		{"no_html_escaping", "<a href='x'>&</a>", `"<a href='x'>&</a>"`},
		{"integers", []any{int64(0), int64(-1), int64(math.MaxInt64), uint64(math.MaxUint64), int64(math.MinInt64)},
			`[0,-1,9223372036854775807,18446744073709551615,-9223372036854775808]`},
		{"floats_like_encoding_json", []any{0.0, 1.0, -0.5, 1e20, 1e21, 1.5e-6, 1e-7, 123456789.125, float32(3.14), math.SmallestNonzeroFloat64},
			`[0,1,-0.5,100000000000000000000,1e+21,0.0000015,1e-7,123456789.125,3.14,5e-324]`},
		{"nan_and_inf_become_null", []any{math.NaN(), math.Inf(1), math.Inf(-1)}, `[null,null,null]`},
		{"fluent_bit_time_as_seconds", []any{timeExt, time.Unix(1700000000, 0), time.Unix(1, 123456789), time.Unix(0, 1000)},
			`[1700000000.5,1700000000,1.123456789,0.000001]`},
		{"other_ext_is_null", map[string]any{"e": otherExt}, `{"e":null}`},
		{"non_string_keys_stringified", raw(0x85, 0x07, 0xa1, 'a', 0xff, 0x01, 0xc3, 0x02, 0xc0, 0x03, 0x91, 0xa1, '"', 0x04),
			`{"7":"a","-1":1,"true":2,"":3,"[\"\\\"\"]":4}`},
		{"bin_key", raw(0x81, 0xc4, 1, 'k', 0x01), `{"k":1}`},
		{"time_key", append(msgp.Raw{0x81}, append(timeExt, 0x01)...), `{"1700000000.5":1}`},
		{"duplicate_keys_kept", raw(0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02), `{"a":1,"a":2}`},
		{"map16_array16", raw(0xde, 0, 1, 0xa1, 'a', 0xdc, 0, 2, 0x01, 0x02), `{"a":[1,2]}`},
		{"map32_array32", raw(0xdf, 0, 0, 0, 1, 0xa1, 'a', 0xdd, 0, 0, 0, 1, 0x01), `{"a":[1]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mp(tt.v)
			got, err := record.AppendJSON([]byte("pre:"), in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "pre:"+tt.want {
				t.Errorf("AppendJSON =\n%s\nwant\n%s", got[4:], tt.want)
			}
			if !json.Valid(got[4:]) {
				t.Errorf("invalid JSON %s", got[4:])
			}
		})
	}
}

func TestAppendJSONFloatsMatchEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.1, 0.2 + 0.1, 1.0 / 3, 2.5e-7, 9.999999e-7, 1e-6, 123.456, 1e20, 9.99e20, 1e21, 1.7976931348623157e308, -4.9e-324, 1700000000.123} {
		want, _ := json.Marshal(f)
		got, err := record.AppendJSON(nil, mp(f))
		if err != nil || string(got) != string(want) {
			t.Errorf("float64 %v: got %s, %v; want %s", f, got, err, want)
		}
		f32 := float32(f)
		if math.IsInf(float64(f32), 0) {
			continue
		}
		want, _ = json.Marshal(f32)
		got, err = record.AppendJSON(nil, mp(f32))
		if err != nil || string(got) != string(want) {
			t.Errorf("float32 %v: got %s, %v; want %s", f32, got, err, want)
		}
	}
}

func TestAppendJSONErrors(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, record.MaxDepth+1)
	deep = append(deep, 0x01)
	tests := []struct {
		name    string
		in      []byte
		wantErr error
		msg     string
	}{
		{"empty", nil, record.ErrTruncated, "at byte 0: msgpack: input ends inside a value"},
		{"truncated_str", mp("hello")[:3], record.ErrTruncated, "at byte 0: msgpack: input ends inside a value"},
		{"truncated_in_map", []byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'b'}, record.ErrTruncated, "at byte 6: msgpack: input ends inside a value"},
		{"map_count_beyond_input", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01}, record.ErrTruncated, "at byte 0: msgpack: input ends inside a value"},
		{"invalid_byte", []byte{0x92, 0x01, 0xc1}, record.ErrInvalid, "at byte 2: msgpack: invalid encoding"},
		{"truncated_float", []byte{0xcb, 1, 2}, record.ErrTruncated, "at byte 0: msgpack: input ends inside a value"},
		{"truncated_ext", []byte{0xd7, 0, 1}, record.ErrTruncated, "at byte 0: msgpack: input ends inside a value"},
		{"truncated_non_string_key", []byte{0x82, 0xa1, 'a', 0x01, 0x92, 0x01}, record.ErrTruncated, "at byte 4: msgpack: input ends inside a value"},
		{"too_deep", deep, record.ErrTooDeep, "at byte 1000: msgpack: maps and arrays nested too deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := record.AppendJSON([]byte("keep"), tt.in)
			if !errors.Is(err, tt.wantErr) || err.Error() != tt.msg {
				t.Errorf("err = %v, want %q", err, tt.msg)
			}
			if string(got) != "keep" {
				t.Errorf("dst = %q after error, want it unchanged", got)
			}
		})
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "hello world", `"hello world"`},
		{"empty", "", `""`},
		{"quotes_and_backslash", `say "hi" \ bye`, `"say \"hi\" \\ bye"`},
		{"short_control_escapes", "a\nb\rc\td\be\ff", `"a\nb\rc\td\be\ff"`},
		{"other_control_chars", "\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"nul_in_long_text", "0123456789\x00abcdefghij", `"0123456789\u0000abcdefghij"`},
		{"invalid_utf8_replaced", "a\xffb\xc3", `"a\ufffdb\ufffd"`},
		{"truncated_multibyte_replaced_per_byte", "\xe6\x97", `"\ufffd\ufffd"`},
		{"valid_multibyte_kept", "é日本🙂", `"é日本🙂"`},
		{"line_and_paragraph_separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"no_html_escaping", "<>&", `"<>&"`},
		{"escape_after_long_safe_run", strings.Repeat("abcdefgh", 5) + "\"" + strings.Repeat("x", 9), `"` + strings.Repeat("abcdefgh", 5) + `\"` + strings.Repeat("x", 9) + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := record.AppendJSONString([]byte("pre:"), []byte(tt.in))
			if string(got) != "pre:"+tt.want {
				t.Errorf("got  %s\nwant %s", got[4:], tt.want)
			}
			if want := encodingJSON(tt.in); string(got[4:]) != want {
				t.Errorf("differs from encoding/json:\n got %s\nwant %s", got[4:], want)
			}
		})
	}
}

// encodingJSON is the reference: encoding/json without HTML escaping.
func encodingJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestAllocatesNothing(t *testing.T) {
	body := mp(eventtest.FargateBody(1))
	dst := make([]byte, 0, 4096)
	float := mp(1.25)
	var sink int
	tests := []struct {
		name string
		fn   func()
	}{
		{"Get", func() {
			k8s, _ := record.Get(body, "kubernetes")
			v, _ := record.Get(k8s, "container_image")
			sink += len(v)
		}},
		{"Each", func() {
			_ = record.Each(body, func(k, v []byte) bool { sink += len(k) + len(v); return true })
		}},
		{"Text", func() {
			v, _ := record.Get(body, "log")
			s, _ := record.Text(v)
			sink += len(s)
		}},
		{"AppendJSON", func() {
			out, _ := record.AppendJSON(dst[:0], body)
			sink += len(out)
		}},
		{"AppendString", func() {
			v, _ := record.Get(body, "kubernetes")
			out, _ := record.AppendString(dst[:0], v)
			sink += len(out)
			out, _ = record.AppendString(dst[:0], float)
			sink += len(out)
		}},
		{"Type", func() { sink += int(record.Type(body)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
				t.Errorf("%v allocations per call, want 0", n)
			}
		})
	}
	_ = sink
}

func BenchmarkAppendJSON(b *testing.B) {
	for _, bc := range []struct {
		name string
		i    int
	}{{"fargate_text_log", 1}, {"fargate_json_log", 3}} {
		b.Run(bc.name, func(b *testing.B) {
			body := mp(eventtest.FargateBody(bc.i))
			dst := make([]byte, 0, 4096)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				dst, _ = record.AppendJSON(dst[:0], body)
			}
		})
	}
}

func BenchmarkAppendJSONString(b *testing.B) {
	v, _ := record.Get(mp(eventtest.FargateBody(1)), "log")
	s, _ := record.Text(v)
	dst := make([]byte, 0, 4096)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		dst = record.AppendJSONString(dst[:0], s)
	}
}

func BenchmarkGet(b *testing.B) {
	body := mp(eventtest.FargateBody(3))
	b.ReportAllocs()
	for b.Loop() {
		k8s, _ := record.Get(body, "kubernetes")
		record.Get(k8s, "container_image")
	}
}

func BenchmarkEach(b *testing.B) {
	body := mp(eventtest.FargateBody(3))
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		_ = record.Each(body, func(k, v []byte) bool { n++; return true })
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add(mp(eventtest.FargateBody(0)))
	f.Add(mp(map[string]any{"a": []any{int64(-1), uint64(math.MaxUint64), 1.5, float32(2.5), nil, true, []byte("\xff"), "\u2028\"\\\x00"}}))
	f.Add([]byte(timeExt))
	f.Add([]byte{0x85, 0x07, 0xa1, 'a', 0xff, 0x01, 0xc3, 0x02, 0xc0, 0x03, 0x91, 0xa1, '"', 0x04})
	f.Add([]byte{0x81, 0xd4, 7, 1, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := record.AppendJSON(nil, in)
		if _, skipErr := msgp.Skip(in); skipErr != nil {
			if err == nil {
				// AppendJSON may accept what Skip refuses only for depth.
				t.Fatalf("AppendJSON accepted input msgp.Skip refuses: %v", skipErr)
			}
			return
		}
		if err != nil {
			if errors.Is(err, record.ErrTooDeep) {
				return
			}
			t.Fatalf("AppendJSON failed on input msgp.Skip accepts: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %q", out)
		}
		if s, ok := record.AppendString(nil, in); ok && record.Type(in) == record.Str {
			if want := encodingJSON(string(s)); !bytes.Equal(record.AppendJSONString(nil, s), []byte(want)) {
				t.Fatalf("AppendJSONString(%q) differs from encoding/json %s", s, want)
			}
		}
	})
}

func BenchmarkSkip(b *testing.B) {
	body := mp(eventtest.FargateBody(3))
	b.Run("record", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := record.Skip(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("msgp", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := msgp.Skip(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestSkip(t *testing.T) {
	values := map[string][]byte{
		"fixint":      mp(int64(5)),
		"neg_fixint":  mp(int64(-5)),
		"int8_to_64":  mp([]any{int64(-100), int64(-30000), int64(-2000000000), int64(math.MinInt64)}),
		"uint8_to_64": mp([]any{uint64(200), uint64(60000), uint64(4000000000), uint64(math.MaxUint64)}),
		"floats":      mp([]any{float32(1.5), 2.5}),
		"nil_bool":    mp([]any{nil, true, false}),
		"str_8_16_32": mp([]any{"s", strings.Repeat("a", 40), strings.Repeat("b", 300), strings.Repeat("c", 70000)}),
		"bin_8_16_32": mp([]any{[]byte("b"), bytes.Repeat([]byte("d"), 300), bytes.Repeat([]byte("e"), 70000)}),
		"fixext":      mp([]any{raw(0xd4, 1, 0), raw(0xd5, 1, 0, 0), raw(0xd6, 1, 0, 0, 0, 0), timeExt, append(raw(0xd8, 1), make([]byte, 16)...)}),
		"ext_8_16_32": mp([]any{raw(0xc7, 1, 5, 0), append(raw(0xc8, 1, 0, 5), make([]byte, 256)...), raw(0xc9, 0, 0, 0, 1, 5, 0)}),
		"nested":      mp(eventtest.FargateBody(2)),
		"map16":       raw(0xde, 0, 1, 0xa1, 'a', 0xdc, 0, 1, 0xdd, 0, 0, 0, 1, 0xdf, 0, 0, 0, 0),
		"empty_str":   mp(""),
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			in := append(append([]byte{}, v...), 0xc0, 0xc3) // followed by two more values
			rest, err := record.Skip(in)
			if err != nil || len(rest) != 2 {
				t.Fatalf("Skip: rest %d bytes, err %v; want 2, nil", len(rest), err)
			}
			for cut := 0; cut < len(v); cut += 1 + len(v)/50 {
				if _, err := record.Skip(v[:cut]); !errors.Is(err, record.ErrTruncated) {
					t.Fatalf("Skip(first %d of %d bytes): err %v, want ErrTruncated", cut, len(v), err)
				}
			}
		})
	}
	t.Run("invalid_byte", func(t *testing.T) {
		rest, err := record.Skip([]byte{0x92, 0x01, 0xc1, 0x02})
		if !errors.Is(err, record.ErrInvalid) || len(rest) != 2 {
			t.Fatalf("err %v, rest % x; want ErrInvalid at c1", err, rest)
		}
	})
	t.Run("huge_count_fails_fast", func(t *testing.T) {
		if _, err := record.Skip([]byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01}); !errors.Is(err, record.ErrTruncated) {
			t.Fatalf("err %v, want ErrTruncated", err)
		}
	})
	t.Run("deep_nesting_has_no_limit", func(t *testing.T) {
		deep := append(bytes.Repeat([]byte{0x91}, 200000), 0x01)
		if rest, err := record.Skip(deep); err != nil || len(rest) != 0 {
			t.Fatalf("rest %d, err %v", len(rest), err)
		}
	})
}

func FuzzSkip(f *testing.F) {
	f.Add(mp(eventtest.FargateBody(0)))
	f.Add([]byte{0xdf, 0, 0, 0, 1, 0xc7, 1, 5, 0, 0x93, 0xc0, 0xc1})
	f.Add([]byte{0x82, 0xa1, 'a', 0xc8, 0, 1, 5, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		rest, err := record.Skip(in)
		want, wantErr := msgp.Skip(in)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("Skip err %v, msgp.Skip err %v", err, wantErr)
		}
		if err == nil && len(rest) != len(want) {
			t.Fatalf("Skip left %d bytes, msgp.Skip %d", len(rest), len(want))
		}
	})
}

// SkipKnown ends where Skip ends, whatever the known value: one found in
// the input (so that it matches), or a value the input only begins like.
func FuzzSkipKnown(f *testing.F) {
	body := mp(eventtest.FargateBody(0))
	f.Add(body, 0)
	f.Add(append(mp(eventtest.FargateBody(1)), body...), 3)
	f.Add([]byte{0x92, 0x81, 0xa1, 'a', 0x01, 0x81, 0xa1, 'a', 0x02}, 1)
	f.Fuzz(func(t *testing.T, in []byte, at int) {
		want, wantErr := record.Skip(in)
		// known: the value that starts at offset at of the input, if any.
		if at < 0 || at >= len(in) {
			return
		}
		end, err := record.Skip(in[at:])
		if err != nil {
			return
		}
		known := in[at : len(in)-len(end)]
		got, gotErr := record.SkipKnown(in, known)
		if (gotErr == nil) != (wantErr == nil) || (gotErr == nil && len(got) != len(want)) {
			t.Fatalf("SkipKnown(known=%x) = %d bytes left, %v; Skip = %d, %v", known, len(got), gotErr, len(want), wantErr)
		}
		// EachKnown sees the same entries as Each.
		var a, b [][]byte
		errA := record.Each(in, func(k, v []byte) bool { a = append(a, k, v); return true })
		errB := record.EachKnown(in, known, func(k, v []byte) bool { b = append(b, k, v); return true })
		if (errA == nil) != (errB == nil) || len(a) != len(b) {
			t.Fatalf("EachKnown: %d parts, %v; Each: %d, %v", len(b), errB, len(a), errA)
		}
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("EachKnown part %d = %x, Each %x", i, b[i], a[i])
			}
		}
	})
}
