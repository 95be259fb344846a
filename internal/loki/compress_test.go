package loki

import (
	"bytes"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/s2"

	"github.com/kubeship/kubeship/internal/record"
)

// pushProtobuf is the protobuf of a push: the encoder's request for the
// first n records of a benchmark chunk (1,000 Fargate-shaped records, about
// 514 KB of protobuf) of one container, or of 13 pods in turn.
func pushProtobuf(tb testing.TB, oneContainer bool, n int) []byte {
	tb.Helper()
	cfg, err := parse(nil)
	if err != nil {
		tb.Fatal(err)
	}
	enc := New(options(cfg))
	var batch Batch
	if err := enc.Encode(&batch, "kube.var.log.containers.x", firstEvents(chunkOf(oneContainer), n)); err != nil {
		tb.Fatal(err)
	}
	reqs := batch.Requests()
	if len(reqs) != 1 {
		tb.Fatalf("%d requests, want 1", len(reqs))
	}
	raw, err := appendDecoded(nil, reqs[0].Body)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// BenchmarkCompress compares the snappy encoders for a push's body (the
// choice wire.go's request explains): golang/snappy, and klauspost/
// compress's S2 in its snappy-compatible forms, which Loki reads as
// snappy. B/push is the compressed size.
func BenchmarkCompress(b *testing.B) {
	// A push of 1,000 records, as from a chunk of a busy container, and
	// of 100, as at 2,000 containers (make bench-scale).
	for _, chunk := range []struct {
		name         string
		oneContainer bool
		n            int
	}{{"one_container", true, 1000}, {"mixed_pods", false, 1000}, {"one_container_100_records", true, 100}} {
		raw := pushProtobuf(b, chunk.oneContainer, chunk.n)
		for _, bc := range []struct {
			name   string
			encode func(dst, src []byte) []byte
		}{
			{"golang_snappy", snappy.Encode},
			{"s2_snappy", s2.EncodeSnappy},
		} {
			b.Run(chunk.name+"/"+bc.name, func(b *testing.B) {
				dst := make([]byte, snappy.MaxEncodedLen(len(raw)))
				var out []byte
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				for b.Loop() {
					out = bc.encode(dst, raw)
				}
				back, err := snappy.Decode(nil, out)
				if err != nil || !bytes.Equal(back, raw) {
					b.Fatalf("golang/snappy cannot read it back: %v", err)
				}
				b.ReportMetric(float64(len(out)), "B/push")
				b.ReportMetric(float64(len(raw)), "B/protobuf")
			})
		}
	}
}

// firstEvents is the first n events of a chunk.
func firstEvents(chunk []byte, n int) []byte {
	rest := chunk
	for ; n > 0 && len(rest) > 0; n-- {
		var err error
		if rest, err = record.Skip(rest); err != nil {
			panic(err)
		}
	}
	return chunk[:len(chunk)-len(rest)]
}
