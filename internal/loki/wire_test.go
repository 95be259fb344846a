package loki

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"

	"github.com/kubeship/kubeship/internal/delivery"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/loki/lokitest"
)

// wireCase builds the same push request by hand (wire.go) and as pkg/push
// values.
func wireCase(labels string, entries []push.Entry) ([]byte, push.PushRequest) {
	s := &stream{labels: labels}
	for _, e := range entries {
		var meta []pair
		for _, m := range e.StructuredMetadata {
			meta = append(meta, pair{name: []byte(m.Name), value: []byte(m.Value)})
		}
		off := len(s.data)
		s.data = appendEntry(s.data, e.Timestamp.UnixNano(), []byte(e.Line), nil, meta)
		s.entries = append(s.entries, entryRef{ns: e.Timestamp.UnixNano(), off: off, end: len(s.data)})
	}
	return appendPushRequest(nil, []part{{s, s.entries}}), push.PushRequest{Streams: []push.Stream{{Labels: labels, Entries: entries}}}
}

// The hand-written protobuf is byte for byte what pkg/push's generated
// Marshal writes, for the shapes kubeship sends and the edge cases of the
// encoding (zero seconds or nanoseconds, times before 1970, empty lines,
// long varints).
func TestWireMatchesPkgPush(t *testing.T) {
	meta := push.LabelsAdapter{{Name: "pod", Value: "web-7d9f-abcde"}, {Name: "stream", Value: "stdout"}}
	tests := []struct {
		name    string
		labels  string
		entries []push.Entry
	}{
		{"fargate_line", `{app="web", namespace="shop"}`, []push.Entry{{Timestamp: time.Unix(1700000000, 123456789), Line: "GET / 200", StructuredMetadata: meta}}},
		{"zero_nanos", `{a="b"}`, []push.Entry{{Timestamp: time.Unix(1700000000, 0), Line: "x"}}},
		{"zero_seconds", `{a="b"}`, []push.Entry{{Timestamp: time.Unix(0, 5), Line: "x"}}},
		{"epoch", `{a="b"}`, []push.Entry{{Timestamp: time.Unix(0, 0), Line: "x"}}},
		{"before_1970", `{a="b"}`, []push.Entry{{Timestamp: time.Unix(-5, 7), Line: "x"}}},
		{"empty_line", `{a="b"}`, []push.Entry{{Timestamp: time.Unix(1, 1), Line: "", StructuredMetadata: meta}}},
		{"long_line", `{a="b"}`, []push.Entry{{Timestamp: time.Unix(1, 1), Line: string(bytes.Repeat([]byte("y"), 300000))}}},
		{"many_entries", `{a="b"}`, []push.Entry{{Timestamp: time.Unix(1, 1), Line: "one"}, {Timestamp: time.Unix(2, 2), Line: "two", StructuredMetadata: meta}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, req := wireCase(tt.labels, tt.entries)
			want, err := req.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("hand-written protobuf differs from pkg/push's:\n got %x\nwant %x", head(got), head(want))
			}
		})
	}
}

func head(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// Any timestamp, line and metadata round-trip through pkg/push's Unmarshal.
func FuzzWire(f *testing.F) {
	f.Add(int64(1700000000123456789), "line", "pod", "web")
	f.Add(int64(-1), "", "n", "")
	f.Add(int64(0), "\x00\xff", "", "v")
	f.Fuzz(func(t *testing.T, ns int64, line, name, value string) {
		var meta push.LabelsAdapter
		if name != "" {
			meta = push.LabelsAdapter{{Name: name, Value: value}}
		}
		e := push.Entry{Timestamp: time.Unix(0, ns), Line: line, StructuredMetadata: meta}
		got, req := wireCase(`{a="b"}`, []push.Entry{e})
		want, err := req.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("differs from pkg/push: got %x want %x", head(got), head(want))
		}
		var back push.PushRequest
		if err := back.Unmarshal(got); err != nil {
			t.Fatal(err)
		}
		if e2 := back.Streams[0].Entries[0]; !e2.Timestamp.Equal(e.Timestamp) || e2.Line != line {
			t.Fatalf("round trip: %v %q", e2.Timestamp, e2.Line)
		}
	})
}

// A joined push holds the streams of the pushes it joins, in order, and is
// told apart from them only by its size.
func TestJoin(t *testing.T) {
	cfg, err := parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := New(options(cfg))
	var reqs []delivery.Request
	var want []push.Stream
	for i := range 3 {
		var b Batch
		chunk := eventtest.Chunk(true, eventtest.Event{Time: time.Unix(1700000000, int64(i)), Body: eventtest.FargateBody(i)})
		if err := enc.Encode(&b, "kube.var.log.containers.x", chunk); err != nil {
			t.Fatal(err)
		}
		r := b.Requests()[0]
		pr, _, err := lokitest.Decode(r.Header["Content-Type"], r.Header["Content-Encoding"], r.Body)
		if err != nil {
			t.Fatal(err)
		}
		reqs, want = append(reqs, r), append(want, pr.Streams...)
	}
	j := join(reqs)
	got, size, err := lokitest.Decode(j.Header["Content-Type"], j.Header["Content-Encoding"], j.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Streams, want) || j.Records != 3 || size != j.Size || j.Size != reqs[0].Size+reqs[1].Size+reqs[2].Size {
		t.Errorf("joined %d records, %d bytes (%d decoded): %+v\nwant %+v", j.Records, j.Size, size, got.Streams, want)
	}
}
