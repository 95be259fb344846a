// Package lokitest reads back what is sent to Loki's push API, for tests: a
// request body, protobuf or JSON, uncompressed as its headers say and
// decoded into pkg/push's PushRequest.
package lokitest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
)

// Decode reads a push request body as Loki does, given its Content-Type and
// Content-Encoding (snappy, gzip or none). A protobuf body is always
// snappy-compressed: kubeship says so with Content-Encoding too,
// grafana-loki by the content type only. Any other body is Loki's JSON.
// size is the length of the body uncompressed.
func Decode(contentType, encoding string, body []byte) (pr push.PushRequest, size int, err error) {
	raw := body
	switch encoding {
	case "snappy":
		raw, err = snappy.Decode(nil, body)
	case "gzip":
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
			raw, err = io.ReadAll(zr)
		}
	case "":
	default:
		err = fmt.Errorf("Content-Encoding %q not supported: want snappy, gzip or none", encoding)
	}
	if err != nil {
		return pr, 0, err
	}
	if !strings.Contains(contentType, "protobuf") {
		pr, err = decodeJSON(raw)
		return pr, len(raw), err
	}
	if encoding != "snappy" {
		if raw, err = snappy.Decode(nil, raw); err != nil {
			return pr, 0, err
		}
	}
	err = pr.Unmarshal(raw)
	return pr, len(raw), err
}

// decodeJSON reads {"streams":[{"stream":{labels},"values":[["ns","line",{metadata}]]}]}.
func decodeJSON(raw []byte) (push.PushRequest, error) {
	var req struct {
		Streams []struct {
			Stream map[string]string   `json:"stream"`
			Values [][]json.RawMessage `json:"values"`
		} `json:"streams"`
	}
	var pr push.PushRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return pr, err
	}
	for _, st := range req.Streams {
		s := push.Stream{Labels: Labels(st.Stream)}
		for _, v := range st.Values {
			var ts, line string
			var meta map[string]string
			if len(v) < 2 || len(v) > 3 || json.Unmarshal(v[0], &ts) != nil || json.Unmarshal(v[1], &line) != nil ||
				len(v) == 3 && json.Unmarshal(v[2], &meta) != nil {
				return pr, fmt.Errorf("value %s: want [\"<ns>\", \"<line>\"] and maybe {<metadata>}", v)
			}
			ns, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return pr, fmt.Errorf("timestamp %q: %w", ts, err)
			}
			e := push.Entry{Timestamp: time.Unix(0, ns).UTC(), Line: line}
			for _, k := range slices.Sorted(maps.Keys(meta)) {
				e.StructuredMetadata = append(e.StructuredMetadata, push.LabelAdapter{Name: k, Value: meta[k]})
			}
			s.Entries = append(s.Entries, e)
		}
		pr.Streams = append(pr.Streams, s)
	}
	return pr, nil
}

// Labels writes a label set as Loki does: {a="b", c="d"}.
func Labels(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+strconv.Quote(m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
