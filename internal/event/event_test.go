package event_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/kubeship/kubeship/internal/event"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/record"
)

var t0 = time.Date(2024, 5, 1, 12, 34, 56, 123456789, time.UTC)

type got struct {
	time int64
	meta string // raw msgpack
	body string // raw msgpack
}

func readAll(t *testing.T, chunk []byte) (evs []got, r *event.Reader) {
	t.Helper()
	r = new(event.Reader)
	r.Reset(chunk)
	for r.Next() {
		e := r.Event()
		evs = append(evs, got{e.Time, string(e.Metadata), string(e.Body)})
	}
	return evs, r
}

func body(v any) string { return string(eventtest.Marshal(v)) }

func TestReader(t *testing.T) {
	b1 := map[string]any{"log": "hello", "n": int64(1)}
	b2 := map[string]any{"log": "world", "k": map[string]any{"a": []any{"x", nil}}}
	meta := map[string]any{"otlp": map[string]any{"severity": "info"}}
	emptyMap := body(map[string]any{})
	raw := func(b ...byte) []byte { return b }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		chunk   []byte
		want    []got
		skipped int
	}{
		{
			name:  "empty_chunk_gives_no_events",
			chunk: nil,
		},
		{
			name:  "v2_ext_time_keeps_nanoseconds_and_metadata",
			chunk: eventtest.Chunk(true, eventtest.Event{Time: t0, Meta: meta, Body: b1}, eventtest.Event{Time: t0.Add(time.Nanosecond), Body: b2}),
			want:  []got{{t0.UnixNano(), body(meta), body(b1)}, {t0.UnixNano() + 1, emptyMap, body(b2)}},
		},
		{
			name:  "v1_ext_time_has_nil_metadata",
			chunk: eventtest.Chunk(false, eventtest.Event{Time: t0, Body: b1}, eventtest.Event{Time: t0, Body: b2}),
			want:  []got{{t0.UnixNano(), "", body(b1)}, {t0.UnixNano(), "", body(b2)}},
		},
		{
			name:  "ext8_form_of_ext_time",
			chunk: eventtest.Chunk(true, eventtest.Event{Time: t0, TimeAs: eventtest.Ext8, Body: b1}),
			want:  []got{{t0.UnixNano(), emptyMap, body(b1)}},
		},
		{
			name: "int_and_uint_seconds",
			chunk: eventtest.Chunk(false,
				eventtest.Event{Time: t0, TimeAs: eventtest.Int, Body: b1},
				eventtest.Event{Time: t0, TimeAs: eventtest.Uint, Body: b1},
				eventtest.Event{RawTime: msgp.AppendInt64(nil, 5), Body: b1},
				eventtest.Event{RawTime: msgp.AppendUint8(nil, 200), Body: b1},
				eventtest.Event{RawTime: msgp.AppendInt64(nil, -100), Body: b1}),
			want: []got{
				{t0.Unix() * 1e9, "", body(b1)},
				{t0.Unix() * 1e9, "", body(b1)},
				{5e9, "", body(b1)},
				{200e9, "", body(b1)},
				{-100e9, "", body(b1)},
			},
		},
		{
			name: "float_seconds_round_to_the_decimal_the_producer_wrote",
			chunk: eventtest.Chunk(false,
				eventtest.Event{RawTime: msgp.AppendFloat64(nil, 1700000000.123), Body: b1},
				eventtest.Event{RawTime: msgp.AppendFloat64(nil, 1700000000.5), Body: b1},
				eventtest.Event{RawTime: msgp.AppendFloat64(nil, 1.123456789), Body: b1},
				eventtest.Event{RawTime: msgp.AppendFloat64(nil, 0.0000000004), Body: b1},
				eventtest.Event{RawTime: msgp.AppendFloat64(nil, 0.0000000006), Body: b1},
				eventtest.Event{RawTime: msgp.AppendFloat64(nil, -1.5), Body: b1},
				eventtest.Event{RawTime: msgp.AppendFloat32(nil, 2.25), Body: b1},
				eventtest.Event{Time: time.Unix(1700000000, 250_000_000), TimeAs: eventtest.Float, Body: b1}),
			want: []got{
				{1700000000_123000000, "", body(b1)},
				{1700000000_500000000, "", body(b1)},
				{1_123456789, "", body(b1)},
				{0, "", body(b1)},
				{1, "", body(b1)},
				{-1_500000000, "", body(b1)},
				{2_250000000, "", body(b1)},
				{1700000000_250000000, "", body(b1)},
			},
		},
		{
			name: "group_markers_are_skipped_not_counted",
			chunk: eventtest.Chunk(true,
				eventtest.GroupStart(map[string]any{"resource": "r"}),
				eventtest.Event{Time: t0, Body: b1},
				eventtest.GroupEnd(),
				eventtest.Event{Time: t0, Body: b2}),
			// The markers' bodies are maps: only their timestamps (-1, -2) keep them out.
			want: []got{{t0.UnixNano(), emptyMap, body(b1)}, {t0.UnixNano(), emptyMap, body(b2)}},
		},
		{
			name: "v1_negative_one_is_a_time_not_a_marker",
			chunk: eventtest.Chunk(false,
				eventtest.Event{RawTime: msgp.AppendInt64(nil, -1), Body: b1}),
			want: []got{{-1e9, "", body(b1)}},
		},
		{
			name: "non_map_bodies_are_skipped_and_counted",
			chunk: eventtest.Chunk(true,
				eventtest.Event{Time: t0, Body: "a string"},
				eventtest.Event{Time: t0, Body: nil},
				eventtest.Event{Time: t0, Body: b1},
				eventtest.Event{Time: t0, Body: []any{"x", int64(1)}},
				eventtest.Event{Time: t0, Body: int64(7)}),
			want:    []got{{t0.UnixNano(), emptyMap, body(b1)}},
			skipped: 4,
		},
		{
			name: "extra_trailing_elements_are_tolerated",
			chunk: cat(
				// [[t, meta, "extra"], body, "x", {"y":1}]
				raw(0x94, 0x93), eventtest.AppendTime(nil, t0, eventtest.Ext), eventtest.Marshal(meta), eventtest.Marshal("extra"),
				eventtest.Marshal(b1), eventtest.Marshal("x"), eventtest.Marshal(map[string]any{"y": int64(1)}),
				eventtest.Chunk(true, eventtest.Event{Time: t0, Body: b2})),
			want: []got{{t0.UnixNano(), body(meta), body(b1)}, {t0.UnixNano(), emptyMap, body(b2)}},
		},
		{
			name: "array16_and_map16_headers",
			chunk: cat(
				raw(0xdc, 0, 2, 0xdc, 0, 2), eventtest.AppendTime(nil, t0, eventtest.Ext), raw(0xde, 0, 0),
				raw(0xde, 0, 1, 0xa1, 'k', 0xa1, 'v')),
			want: []got{{t0.UnixNano(), string(raw(0xde, 0, 0)), string(raw(0xde, 0, 1, 0xa1, 'k', 0xa1, 'v'))}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, r := readAll(t, tt.chunk)
			if err := r.Err(); err != nil {
				t.Fatalf("Err() = %v", err)
			}
			if len(evs) != len(tt.want) {
				t.Fatalf("got %d events, want %d: %+v", len(evs), len(tt.want), evs)
			}
			for i := range evs {
				if evs[i] != tt.want[i] {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, evs[i], tt.want[i])
				}
			}
			if r.Skipped() != tt.skipped {
				t.Errorf("Skipped() = %d, want %d", r.Skipped(), tt.skipped)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	good := eventtest.Chunk(true, eventtest.Event{Time: t0, Body: map[string]any{"log": "hello"}})
	goodV1 := eventtest.Chunk(false, eventtest.Event{Time: t0, Body: map[string]any{"log": "hello"}})
	n := len(good)
	raw := func(b ...byte) []byte { return b }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	ts := eventtest.AppendTime(nil, t0, eventtest.Ext)
	tests := []struct {
		name      string
		chunk     []byte
		events    int    // events returned before the error
		wantErr   string // exact message
		truncated bool
	}{
		{
			name:      "truncated_body_names_index_and_offset",
			chunk:     cat(good, good[:n-3]),
			events:    1,
			wantErr:   "event 1 at byte 24: body: truncated: the chunk ends inside it",
			truncated: true,
		},
		{
			name:      "truncated_timestamp",
			chunk:     cat(good, good, good[:5]),
			events:    2,
			wantErr:   "event 2 at byte 48: timestamp: truncated: the chunk ends inside it",
			truncated: true,
		},
		{
			name:      "truncated_array_header",
			chunk:     cat(good, raw(0xdc, 0)),
			events:    1,
			wantErr:   "event 1 at byte 24: truncated: the chunk ends inside it",
			truncated: true,
		},
		{
			name:      "truncated_metadata",
			chunk:     cat(raw(0x92, 0x92), ts, raw(0x81, 0xa1)),
			wantErr:   "event 0 at byte 0: metadata: truncated: the chunk ends inside it",
			truncated: true,
		},
		{
			name:    "event_not_an_array",
			chunk:   cat(good, eventtest.Marshal(map[string]any{"log": "x"})),
			events:  1,
			wantErr: "event 1 at byte 24: want an array [header, body], got map",
		},
		{
			name:    "event_array_of_one",
			chunk:   cat(raw(0x91), ts),
			wantErr: "event 0 at byte 0: want an array [header, body] of 2 elements, got 1",
		},
		{
			name:    "header_array_of_one",
			chunk:   cat(raw(0x92, 0x91), ts, eventtest.Marshal(map[string]any{})),
			wantErr: "event 0 at byte 0: header: want an array [timestamp, metadata] of 2 elements, got 1",
		},
		{
			name:    "timestamp_is_a_string",
			chunk:   cat(goodV1, goodV1, goodV1, raw(0x92, 0xa1, 'x', 0x80)),
			events:  3,
			wantErr: "event 3 at byte 66: timestamp: want ext type 0 or a number, got str",
		},
		{
			name:    "timestamp_is_nil_in_v2",
			chunk:   cat(raw(0x92, 0x92, 0xc0, 0x80, 0x80)),
			wantErr: "event 0 at byte 0: timestamp: want ext type 0 or a number, got nil",
		},
		{
			name:    "timestamp_is_another_ext_type",
			chunk:   cat(raw(0x92, 0xd7, 0x05), ts[2:], raw(0x80)),
			wantErr: "event 0 at byte 0: timestamp: want ext type 0 or a number, got ext type 5",
		},
		{
			name:    "timestamp_ext_type_0_of_4_bytes",
			chunk:   cat(raw(0x92, 0xd6, 0x00, 1, 2, 3, 4, 0x80)),
			wantErr: "event 0 at byte 0: timestamp: want ext type 0 or a number with 8 bytes, got ext type 0 with 4 bytes",
		},
		{
			name:    "timestamp_out_of_range",
			chunk:   cat(raw(0x92), msgp.AppendInt64(nil, 1<<40), raw(0x80)),
			wantErr: "event 0 at byte 0: timestamp: 1099511627776 seconds is out of range",
		},
		{
			name:    "float_timestamp_out_of_range",
			chunk:   cat(raw(0x92), msgp.AppendFloat64(nil, 1e300), raw(0x80)),
			wantErr: "event 0 at byte 0: timestamp: 1e+300 seconds is out of range",
		},
		{
			name:    "metadata_not_a_map",
			chunk:   cat(good, raw(0x92, 0x92), ts, raw(0xa1, 'm', 0x80)),
			events:  1,
			wantErr: "event 1 at byte 24: metadata: want a map, got str",
		},
		{
			name:    "invalid_byte_in_body",
			chunk:   cat(raw(0x92), ts, raw(0x81, 0xa1, 'k', 0xc1)),
			wantErr: "event 0 at byte 0: body: invalid msgpack byte 0xc1 inside it",
		},
		{
			name:    "invalid_byte_as_event",
			chunk:   cat(good, raw(0xc1)),
			events:  1,
			wantErr: "event 1 at byte 24: invalid msgpack byte 0xc1",
		},
		{
			name:      "truncated_extra_element",
			chunk:     cat(raw(0x93), ts, raw(0x80, 0xa5, 'a')),
			wantErr:   "event 0 at byte 0: extra element: truncated: the chunk ends inside it",
			truncated: true,
		},
		{
			name:    "iteration_stops_at_first_malformed_event",
			chunk:   cat(good, raw(0x92, 0xc0, 0x80), good, good),
			events:  1,
			wantErr: "event 1 at byte 24: timestamp: want ext type 0 or a number, got nil",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, r := readAll(t, tt.chunk)
			err := r.Err()
			if err == nil {
				t.Fatalf("Err() = nil after %d events, want %q", len(evs), tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Err() = %q\n           want %q", err, tt.wantErr)
			}
			if len(evs) != tt.events {
				t.Errorf("got %d events before the error, want %d", len(evs), tt.events)
			}
			var e *event.Error
			if !errors.As(err, &e) {
				t.Fatalf("Err() is %T, want *event.Error", err)
			}
			if e.Index != tt.events {
				t.Errorf("Index = %d, want %d", e.Index, tt.events)
			}
			if got := errors.Is(err, event.ErrTruncated); got != tt.truncated {
				t.Errorf("errors.Is(err, ErrTruncated) = %v, want %v", got, tt.truncated)
			}
			if r.Next() {
				t.Error("Next() = true after an error")
			}
			if e := r.Event(); e.Body != nil || e.Metadata != nil {
				t.Errorf("Event() = %+v after an error, want zero", e)
			}
		})
	}
}

func TestReaderResetReuses(t *testing.T) {
	a := eventtest.Chunk(true, eventtest.GroupStart(nil), eventtest.Event{Time: t0, Body: "skipped"},
		eventtest.Event{Time: t0, Body: map[string]any{"a": "1"}})
	bad := append([]byte{}, a[:len(a)-1]...)
	b := eventtest.Chunk(false, eventtest.Event{Time: t0.Add(time.Second), Body: map[string]any{"b": "2"}})

	var r event.Reader
	if r.Next() || r.Err() != nil {
		t.Fatal("zero Reader: want no events and no error")
	}
	for _, chunk := range [][]byte{a, bad, b, a} {
		r.Reset(chunk)
		for r.Next() {
		}
	}
	if r.Err() != nil || r.Skipped() != 1 {
		t.Fatalf("after reuse: Err=%v Skipped=%d, want nil 1", r.Err(), r.Skipped())
	}
	r.Reset(b)
	if !r.Next() || r.Event().Time != t0.Add(time.Second).UnixNano() || r.Err() != nil || r.Skipped() != 0 {
		t.Fatalf("Reset did not clear state: %+v err=%v", r.Event(), r.Err())
	}
	if r.Next() {
		t.Fatal("want one event")
	}
}

func fargateChunk(n int) []byte {
	events := make([]eventtest.Event, n)
	for i := range events {
		events[i] = eventtest.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Body: eventtest.FargateBody(i)}
	}
	return eventtest.Chunk(true, events...)
}

func TestReaderAllocatesNothing(t *testing.T) {
	var mixed []eventtest.Event
	for i, as := range []eventtest.TimeAs{eventtest.Ext, eventtest.Ext8, eventtest.Int, eventtest.Uint, eventtest.Float} {
		mixed = append(mixed,
			eventtest.Event{Time: t0, TimeAs: as, Meta: map[string]any{"m": int64(i)}, Body: eventtest.FargateBody(i)},
			eventtest.GroupStart(nil), eventtest.Event{Time: t0, Body: "not a map"}, eventtest.GroupEnd())
	}
	tests := []struct {
		name  string
		chunk []byte
		want  int
	}{
		{"fargate_chunk_of_1000", fargateChunk(1000), 1000},
		{"every_timestamp_form_markers_and_skips", eventtest.Chunk(true, mixed...), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r event.Reader
			count := 0
			allocs := testing.AllocsPerRun(20, func() {
				r.Reset(tt.chunk)
				count = 0
				for r.Next() {
					count++
				}
			})
			if count != tt.want || r.Err() != nil {
				t.Fatalf("read %d events, err %v; want %d", count, r.Err(), tt.want)
			}
			if allocs != 0 {
				t.Errorf("%v allocations per chunk, want 0", allocs)
			}
		})
	}
}

func TestFargateBodyIsAboutOneKB(t *testing.T) {
	for i := range 50 {
		n := len(eventtest.Marshal(eventtest.FargateBody(i)))
		if n < 800 || n > 1300 {
			t.Errorf("FargateBody(%d) encodes to %d bytes, want about 1 KB", i, n)
		}
	}
	if !bytes.Equal(eventtest.Marshal(eventtest.FargateBody(3)), eventtest.Marshal(eventtest.FargateBody(3))) {
		t.Error("FargateBody is not deterministic")
	}
}

func BenchmarkReader(b *testing.B) {
	const n = 1000
	chunk := fargateChunk(n)
	var r event.Reader
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(chunk)
		for r.Next() {
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

func FuzzReader(f *testing.F) {
	f.Add(fargateChunk(2))
	f.Add(eventtest.Chunk(false, eventtest.Event{Time: t0, Body: map[string]any{"a": []any{int64(1), 2.5, nil, true}}}))
	f.Add(eventtest.Chunk(true, eventtest.GroupStart(map[string]any{"g": "x"}), eventtest.Event{Time: t0, TimeAs: eventtest.Float, Body: "not a map"},
		eventtest.Event{Time: t0, TimeAs: eventtest.Uint, Meta: map[string]any{"m": []byte("bin")}, Body: map[string]any{"k": map[string]any{"n": int64(-5)}}}, eventtest.GroupEnd()))
	f.Add(eventtest.Chunk(true, eventtest.Event{Time: t0, TimeAs: eventtest.Ext8, Body: map[string]any{}}))
	f.Add([]byte{0x92, 0xc0, 0x80})
	f.Fuzz(func(t *testing.T, chunk []byte) {
		var r event.Reader
		r.Reset(chunk)
		for r.Next() {
			e := r.Event()
			if record.Type(e.Body) != record.Map {
				t.Fatalf("Body is a %s, want a map", record.Type(e.Body))
			}
			if rest, err := msgp.Skip(e.Body); err != nil || len(rest) != 0 {
				t.Fatalf("Body is not exactly one msgpack value: rest %d, err %v", len(rest), err)
			}
			if err := record.Each(e.Body, func(k, v []byte) bool { return true }); err != nil {
				t.Fatalf("record.Each(Body): %v", err)
			}
			if e.Metadata != nil {
				if err := record.Each(e.Metadata, func(k, v []byte) bool { return true }); err != nil {
					t.Fatalf("record.Each(Metadata): %v", err)
				}
			}
		}
		if err := r.Err(); err != nil && !strings.HasPrefix(err.Error(), "event ") {
			t.Fatalf("error %q does not name the event", err)
		}
	})
}
