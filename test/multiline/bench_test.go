package multiline

import (
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/datadog"
	"github.com/kubeship/kubeship/internal/destination"
	"github.com/kubeship/kubeship/internal/entry"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/loki"
)

// corpusChunks is each corpus file as the aggregator's chunk of its
// container (one tag), and the records in all.
func corpusChunks(b *testing.B) (tags []string, chunks [][]byte, records int) {
	for i, f := range load(b) {
		p := podOf(f, i)
		ws := times(f, t0)
		tags = append(tags, p.Tag())
		chunks = append(chunks, chunk(p, ws))
		records += len(ws)
	}
	return tags, chunks, records
}

// BenchmarkReader reads the corpus's chunks with a reused entry.Reader,
// joining off and with automatic detection: ns/record is per line read.
func BenchmarkReader(b *testing.B) {
	_, chunks, records := corpusChunks(b)
	for _, bc := range []struct {
		name string
		join *entry.Joining
	}{{"off", nil}, {"auto", &entry.Joining{Auto: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			var r entry.Reader
			r.Join = bc.join
			b.ReportAllocs()
			for b.Loop() {
				for _, c := range chunks {
					r.Reset(c)
					for r.Next() {
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
		})
	}
}

// plainChunk is 1000 Fargate-shaped records of one container (the
// internal packages' benchmark records: a third JSON, the others
// timestamped lines), none of them a trace.
func plainChunk() (tags []string, chunks [][]byte, records int) {
	events := make([]eventtest.Event, 1000)
	k8s := eventtest.FargateBody(0)["kubernetes"]
	for i := range events {
		body := eventtest.FargateBody(i)
		body["kubernetes"] = k8s
		events[i] = eventtest.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Body: body}
	}
	return []string{"kube.var.log.containers.x"}, [][]byte{eventtest.Chunk(true, events...)}, len(events)
}

// BenchmarkEncode encodes chunks into each destination's requests (Loki's
// snappy protobuf, Datadog's gzip JSON), auto_multiline off and on, as a
// flush does: the whole of kubeship's work per record but the HTTP round
// trip. corpus is the corpus's chunks (a trace-heavy mix); plain, lines
// that are no trace.
func BenchmarkEncode(b *testing.B) {
	for _, in := range []string{"corpus", "plain"} {
		b.Run(in, func(b *testing.B) { benchmarkEncode(b, in) })
	}
}

func benchmarkEncode(b *testing.B, in string) {
	tags, chunks, records := corpusChunks(b)
	if in == "plain" {
		tags, chunks, records = plainChunk()
	}
	for _, dest := range []struct {
		name string
		keys config.Map
	}{
		{"loki", config.Map{"url": "http://127.0.0.1:3100/loki/api/v1/push", "labels": "cluster=bench"}},
		{"datadog", config.Map{"destination": "datadog", "apikey": "bench0123456789abcdef0123456789ab", "url": "http://127.0.0.1:1/api/v2/logs"}},
	} {
		for _, auto := range []string{"off", "on"} {
			b.Run(dest.name+"/auto_multiline_"+auto, func(b *testing.B) {
				keys := config.Map{"auto_multiline": auto}
				for k, v := range dest.keys {
					keys[k] = v
				}
				c, err := config.Parse(keys)
				if err != nil {
					b.Fatal(err)
				}
				var d destination.Destination
				if dest.name == "loki" {
					d = loki.NewDestination(c)
				} else {
					d = datadog.NewDestination(c, "bench")
				}
				b.ReportAllocs()
				for b.Loop() {
					for i, ch := range chunks {
						enc, err := d.Encode(tags[i], ch)
						if err != nil {
							b.Fatal(err)
						}
						enc.Done()
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
			})
		}
	}
}
