package datadog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/kubeship/kubeship/internal/event/eventtest"
)

// fargateChunk is 1000 Fargate-shaped records (about 1 KB each), the chunk
// internal/loki's BenchmarkEncode uses, so that ns/record compares. Its
// records cycle through pods and nodes, so the pod cache rarely hits: the
// worst case for this encoder.
func fargateChunk() []byte {
	events := make([]eventtest.Event, 1000)
	now := time.Now()
	for i := range events {
		events[i] = eventtest.Event{Time: now.Add(time.Duration(i) * time.Millisecond), Body: eventtest.FargateBody(i)}
	}
	return eventtest.Chunk(true, events...)
}

// containerChunk is 1000 records of one container, as a Fargate chunk is
// (one tag is one container's log file): every record has the same
// kubernetes map.
func containerChunk() []byte {
	events := make([]eventtest.Event, 1000)
	now := time.Now()
	k := eventtest.FargateBody(0)["kubernetes"]
	for i := range events {
		b := eventtest.FargateBody(i)
		b["kubernetes"] = k
		events[i] = eventtest.Event{Time: now.Add(time.Duration(i) * time.Millisecond), Body: b}
	}
	return eventtest.Chunk(true, events...)
}

// BenchmarkEncode measures decode → map → JSON → gzip for a chunk, reusing
// the batch as a sink would: ns/record compares with internal/loki's
// BenchmarkEncode.
//
//	nice go test -run '^$' -bench 'Encode' -benchmem ./internal/datadog/ ./internal/loki/
func BenchmarkEncode(b *testing.B) {
	for _, c := range []struct {
		name  string
		chunk []byte
	}{{"fargate", fargateChunk()}, {"one_container", containerChunk()}} {
		for _, compress := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/gzip=%v", c.name, compress), func(b *testing.B) {
				o := defaults()
				o.Compress = compress
				o.Tags = []string{"cluster:prod-eu", "team:shop"}
				enc := New(o)
				var batch Batch
				b.SetBytes(int64(len(c.chunk)))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					batch.Reset()
					if err := enc.Encode(&batch, "kube.var.log.containers.x", c.chunk); err != nil {
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
}

// BenchmarkEncodeOnly leaves out Requests (JSON assembly and gzip): the
// allocations it reports are those of mapping records, 0 in steady state.
func BenchmarkEncodeOnly(b *testing.B) {
	for _, c := range []struct {
		name  string
		chunk []byte
	}{{"fargate", fargateChunk()}, {"one_container", containerChunk()}} {
		b.Run(c.name, func(b *testing.B) {
			enc := New(defaults())
			var batch Batch
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch.Reset()
				if err := enc.Encode(&batch, "kube.var.log.containers.x", c.chunk); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
		})
	}
}

// BenchmarkGzipLevels compresses one request of Fargate logs at each level,
// reporting the compressed size: the figures behind gzipLevel.
func BenchmarkGzipLevels(b *testing.B) {
	enc := New(Options{KubernetesMetadata: true, DateKey: "timestamp"})
	var batch Batch
	if err := enc.Encode(&batch, "kube.var.log.containers.x", fargateChunk()); err != nil {
		b.Fatal(err)
	}
	raw := batch.Requests()[0].Body
	for _, level := range []int{gzip.BestSpeed, 3, gzip.DefaultCompression, 7, gzip.BestCompression} {
		b.Run(fmt.Sprint("level=", level), func(b *testing.B) {
			w, _ := gzip.NewWriterLevel(nil, level)
			var out bytes.Buffer
			b.SetBytes(int64(len(raw)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out.Reset()
				w.Reset(&out)
				_, _ = w.Write(raw)
				_ = w.Close()
			}
			b.ReportMetric(float64(len(raw))/float64(out.Len()), "ratio")
		})
	}
}

// withPodAnnotations returns chunk's records (fargateChunk's, or one
// container's) with annotations added to each pod's: log processing
// rules or tags, for the benchmarks of what a pod's annotations cost.
func withPodAnnotations(oneContainer bool, ann map[string]any) []byte {
	events := make([]eventtest.Event, 1000)
	now := time.Now()
	var k map[string]any
	for i := range events {
		b := eventtest.FargateBody(i)
		if oneContainer && k == nil {
			k = b["kubernetes"].(map[string]any)
		}
		if oneContainer {
			b["kubernetes"] = k
		}
		kube := b["kubernetes"].(map[string]any)
		a := map[string]any{}
		for n, v := range kube["annotations"].(map[string]any) {
			a[n] = v
		}
		for n, v := range ann {
			a[strings.ReplaceAll(n, "<container>", kube["container_name"].(string))] = v
		}
		kube["annotations"] = a
		events[i] = eventtest.Event{Time: now.Add(time.Duration(i) * time.Millisecond), Body: b}
	}
	return eventtest.Chunk(true, events...)
}

// BenchmarkEncodeAnnotations: a pod's Datadog rules (three of the shapes
// Datadog documents: an exclusion, a card-number mask, a token mask; they
// see the message and every attribute) and tags (30, past the linear
// duplicate search), per record.
//
//	go test -run '^$' -bench 'EncodeAnnotations' -benchmem ./internal/datadog
func BenchmarkEncodeAnnotations(b *testing.B) {
	rules := `[{"source":"java","log_processing_rules":[
		{"type":"exclude_at_match","name":"no_health","pattern":"GET /healthz"},
		{"type":"mask_sequences","name":"cards","pattern":"(?:4[0-9]{12}(?:[0-9]{3})?|[25][1-7][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\\d{3})\\d{11})","replace_placeholder":"[card]"},
		{"type":"mask_sequences","name":"token","pattern":"token=\\w+","replace_placeholder":"token=[masked]"}]}]`
	tags := map[string]string{}
	for i := range 30 {
		tags[fmt.Sprintf("team%02d", i)] = fmt.Sprint("value-", i)
	}
	tagsJSON, _ := json.Marshal(tags)
	for _, c := range []struct {
		name  string
		chunk []byte
	}{
		{"rules/one_container", withPodAnnotations(true, map[string]any{"ad.datadoghq.com/<container>.logs": rules})},
		{"rules/fargate", withPodAnnotations(false, map[string]any{"ad.datadoghq.com/<container>.logs": rules})},
		{"tags30/fargate", withPodAnnotations(false, map[string]any{"ad.datadoghq.com/tags": string(tagsJSON)})},
	} {
		b.Run(c.name, func(b *testing.B) {
			enc := New(defaults())
			var batch Batch
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch.Reset()
				if err := enc.Encode(&batch, "kube.var.log.containers.x", c.chunk); err != nil {
					b.Fatal(err)
				}
			}
			if batch.Stats.Records == 0 {
				b.Fatal("no records")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
		})
	}
}
