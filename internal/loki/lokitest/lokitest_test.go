package lokitest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
)

// Every form a push request takes decodes to the same PushRequest.
func TestDecodesEveryForm(t *testing.T) {
	want := push.PushRequest{Streams: []push.Stream{{Labels: `{a="b", c="d\"e"}`, Entries: []push.Entry{
		{Timestamp: time.Unix(0, 1700000000123456789), Line: "x", StructuredMetadata: push.LabelsAdapter{{Name: "m", Value: "1"}, {Name: "n", Value: "2"}}},
		{Timestamp: time.Unix(0, 1), Line: "y"},
	}}}}
	proto, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	js := []byte(`{"streams":[{"stream":{"c":"d\"e","a":"b"},"values":[["1700000000123456789","x",{"n":"2","m":"1"}],["1","y"]]}]}`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(js)
	_ = zw.Close()
	for _, tt := range []struct {
		name, contentType, encoding string
		body                        []byte
		size                        int
	}{
		{"protobuf_kubeship", "application/x-protobuf", "snappy", snappy.Encode(nil, proto), len(proto)},
		{"protobuf_grafana_loki", "application/x-protobuf", "", snappy.Encode(nil, proto), len(proto)},
		{"json", "application/json", "", js, len(js)},
		{"json_gzip", "application/json", "gzip", gz.Bytes(), len(js)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, size, err := Decode(tt.contentType, tt.encoding, tt.body)
			if err != nil || size != tt.size {
				t.Fatalf("size %d, %v; want %d", size, err, tt.size)
			}
			if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w { // nil and empty slices alike
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
	if _, _, err := Decode("application/json", "br", js); err == nil {
		t.Error("an unknown Content-Encoding was accepted")
	}
}
