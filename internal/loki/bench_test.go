package loki

import (
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/event/eventtest"
)

// fargateChunk is 1000 Fargate-shaped records (about 1 KB each), as the
// router sends them after the CRI parser and the kubernetes filter.
func fargateChunk() []byte {
	events := make([]eventtest.Event, 1000)
	now := time.Now()
	for i := range events {
		events[i] = eventtest.Event{Time: now.Add(time.Duration(i) * time.Millisecond), Body: eventtest.FargateBody(i)}
	}
	return eventtest.Chunk(true, events...)
}

// BenchmarkEncode measures decode → map → protobuf → snappy for a chunk;
// ns/record is the figure to compare with Fluent Bit's own outputs.
func BenchmarkEncode(b *testing.B) {
	cfg, err := parse(nil)
	if err != nil {
		b.Fatal(err)
	}
	enc := New(cfg)
	chunk := fargateChunk()
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	b.ResetTimer()
	var batch Batch
	for i := 0; i < b.N; i++ {
		batch.Reset() // as the sink does with its pooled batches
		if err := enc.Encode(&batch, "kube.var.log.containers.x", chunk); err != nil {
			b.Fatal(err)
		}
		if reqs := batch.Requests(cfg.BatchSize); len(reqs) == 0 {
			b.Fatal("no requests")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
}
