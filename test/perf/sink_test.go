package main

import (
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"

	"github.com/kubeship/kubeship/internal/datadog/datadogtest"
)

func gz(b []byte) []byte { return datadogtest.Compress("gzip", b) }

// The sink counts the records of every format the benchmarked outputs send.
func TestSinkDecodesEveryFormat(t *testing.T) {
	pr := push.PushRequest{Streams: []push.Stream{
		{Labels: `{a="b"}`, Entries: []push.Entry{{Timestamp: time.Unix(1, 0), Line: "x"}, {Timestamp: time.Unix(2, 0), Line: "y"}}},
		{Labels: `{a="c"}`, Entries: []push.Entry{{Timestamp: time.Unix(3, 0), Line: "z"}}},
	}}
	proto, err := pr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	lokiJSON := []byte(`{"streams":[{"stream":{"a":"b"},"values":[["1","x"],["2","y"]]},{"stream":{},"values":[["3","z"]]}]}`)
	dd := []byte(`[{"message":"x"},{"message":"y"},{"message":"z"}]`)
	tests := []struct {
		name, path, contentType, encoding string
		body                              []byte
	}{
		{"loki_json", "/loki/api/v1/push", "application/json", "", lokiJSON},
		{"loki_json_gzip", "/loki/api/v1/push", "application/json", "gzip", gz(lokiJSON)},
		{"loki_protobuf_grafana_loki", "/loki/api/v1/push", "application/x-protobuf", "", snappy.Encode(nil, proto)},
		{"loki_protobuf_kubeship", "/loki/api/v1/push", "application/x-protobuf", "snappy", snappy.Encode(nil, proto)},
		{"datadog", "/api/v2/logs", "application/json", "", dd},
		{"datadog_gzip", "/api/v2/logs", "application/json", "gzip", gz(dd)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := decodeRecords(tt.path, tt.contentType, tt.encoding, tt.body)
			if err != nil || n != 3 {
				t.Errorf("%d records, %v; want 3", n, err)
			}
		})
	}
	if _, err := decodeRecords("/api/v2/logs", "application/json", "gzip", dd); err == nil {
		t.Error("a body that is not gzip was accepted as gzip")
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
}
