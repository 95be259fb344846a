package sink

import (
	"fmt"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/event/eventtest"
)

// BenchmarkFlushSmallChunks is production's shape behind an aggregator:
// one small chunk per container and flush (100 records here, 2,000
// containers), so that what a flush costs beyond its records shows:
// set-up per chunk, the delivery's bookkeeping, the request.
func BenchmarkFlushSmallChunks(b *testing.B) {
	for _, tt := range []struct {
		dest   config.Map
		stored int // the destination's answer to a stored request
	}{{config.Map{}, 204}, {config.Map{"destination": "datadog", "apikey": "k", "url": "http://127.0.0.1:1/api/v2/logs"}, 202}} {
		b.Run(tt.dest.Get("destination")+"_", func(b *testing.B) {
			s, _ := newSink(b, tt.dest, &sender{status: func(int) int { return tt.stored }})
			const containers, records = 2000, 100
			tags := make([]string, containers)
			chunks := make([][]byte, containers)
			for c := range containers {
				events := make([]eventtest.Event, records)
				for i := range events {
					body := eventtest.FargateBody(c)
					body["log"] = fmt.Sprintf("line %d of container %d", i, c)
					events[i] = eventtest.Event{Time: time.Unix(1700000000, int64(i)), Body: body}
				}
				tags[c] = fmt.Sprintf("kube.var.log.containers.pod-%d_ns_app-%064d.log", c, c)
				chunks[c] = eventtest.Chunk(true, events...)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := i % containers
				if st := s.Flush(tags[c], chunks[c]); st != OK {
					b.Fatal(st)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
		})
	}
}
