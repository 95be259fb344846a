package sink

import (
	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/datadog"
	"github.com/kubeship/kubeship/internal/freelist"
)

// datadogEncoder adapts datadog.Encoder to the sink.
type datadogEncoder struct {
	enc     *datadog.Encoder
	batches freelist.List[datadog.Batch] // reused across flushes
}

func newDatadogEncoder(cfg *config.Config) datadogEncoder {
	d := cfg.Datadog
	return datadogEncoder{batches: freelist.NewBounded(freelist.PerFlush, keptMax(cfg), (*datadog.Batch).Retained), enc: datadog.New(datadog.Options{
		Service: d.Service, Source: d.Source, Hostname: d.Hostname, Tags: d.Tags,
		MessageKey: d.MessageKey, IncludeTagKey: d.IncludeTagKey, TagKey: d.TagKey, DateKey: d.DateKey,
		KubernetesMetadata: cfg.KubernetesMetadata, LabelsAsTags: d.LabelsAsTags, Compress: d.Compress,
		MaxBatchBytes: cfg.BatchSize, TagPrefix: cfg.KubeTagPrefix,
	})}
}

func (e datadogEncoder) encode(tag string, chunk []byte) (encoded, error) {
	b := e.batches.Get()
	b.Reset()
	err := e.enc.Encode(b, tag, chunk)
	st := b.Stats
	notes := []note{
		{"records_skipped_not_a_map", st.Skipped, "records whose body is not a map are skipped"},
		{"records_malformed", st.Malformed, "records that could not be read are skipped"},
		{"logs_truncated", st.TruncatedLogs, "logs larger than Datadog's 1 MB limit (or batch_size, when smaller) are truncated and end with ...TRUNCATED"},
		{"attributes_dropped", st.DroppedAttributes, "logs whose attributes alone exceed 1 MB (or batch_size, when smaller) are sent without their attributes"},
		{"lines_joined", st.Joined, "split lines (P parts) joined into one log"},
	}
	// The requests' bodies live in the batch: it returns to the pool only
	// once they are delivered.
	return encoded{b.Requests(), st.Records, notes, func() { e.batches.Put(b) }}, err
}
