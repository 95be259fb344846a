package loki

import (
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/event/eventtest"
)

// fargateChunk is 1000 Fargate-shaped records (about 1 KB each), as the
// router sends them after the CRI parser and the kubernetes filter, from
// 13 pods in turn: the worst case, since a real chunk holds one tag.
func fargateChunk() []byte { return chunkOf(false) }

// chunkOf builds the benchmark chunk; oneContainer gives every record the
// first record's kubernetes map, as in a chunk of one tail tag.
func chunkOf(oneContainer bool) []byte {
	events := make([]eventtest.Event, 1000)
	now := time.Now()
	k8s := eventtest.FargateBody(0)["kubernetes"]
	for i := range events {
		body := eventtest.FargateBody(i)
		if oneContainer {
			body["kubernetes"] = k8s
		}
		events[i] = eventtest.Event{Time: now.Add(time.Duration(i) * time.Millisecond), Body: body}
	}
	return eventtest.Chunk(true, events...)
}

// BenchmarkEncode measures decode → map → protobuf → snappy for a chunk;
// ns/record is the figure to compare with Fluent Bit's own outputs.
func BenchmarkEncode(b *testing.B) {
	// A third of the lines are JSON with a trace_id: trace_ids_off shows
	// what reading it and sending it as structured metadata costs.
	for _, bc := range []struct {
		name         string
		oneContainer bool
		keys         config.Map
	}{{"mixed_pods", false, nil}, {"one_container", true, nil},
		{"one_container/trace_ids_off", true, config.Map{"trace_id_keys": "off", "span_id_keys": "off"}},
		// auto_multiline is on by default: what holding each line back for
		// the next (to join a stack trace's) costs lines that are none.
		{"one_container/auto_multiline_off", true, config.Map{"auto_multiline": "off"}}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg, err := parse(bc.keys)
			if err != nil {
				b.Fatal(err)
			}
			enc := New(options(cfg))
			chunk := chunkOf(bc.oneContainer)
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			b.ResetTimer()
			var batch Batch
			for i := 0; i < b.N; i++ {
				batch.Reset() // as the sink does with its pooled batches
				if err := enc.Encode(&batch, "kube.var.log.containers.x", chunk); err != nil {
					b.Fatal(err)
				}
				if reqs := batch.Requests(); len(reqs) == 0 {
					b.Fatal("no requests")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
		})
	}
}
