package sink

import (
	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/datadog"
	"github.com/kubeship/kubeship/internal/delivery"
)

// datadogEncoder adapts datadog.Encoder to the sink.
type datadogEncoder struct{ enc *datadog.Encoder }

func newDatadogEncoder(cfg *config.Config) datadogEncoder {
	d := cfg.Datadog
	return datadogEncoder{datadog.New(datadog.Options{
		Service: d.Service, Source: d.Source, Hostname: d.Hostname, Tags: d.Tags,
		MessageKey: d.MessageKey, IncludeTagKey: d.IncludeTagKey, TagKey: d.TagKey, DateKey: d.DateKey,
		KubernetesMetadata: cfg.KubernetesMetadata, LabelsAsTags: d.LabelsAsTags, Compress: d.Compress,
		MaxBatchBytes: cfg.BatchSize, TagPrefix: cfg.KubeTagPrefix,
	})}
}

func (e datadogEncoder) encode(tag string, chunk []byte) ([]delivery.Request, int, []note, error) {
	var b datadog.Batch
	err := e.enc.Encode(&b, tag, chunk)
	st := b.Stats
	notes := []note{
		{"records_skipped_not_a_map", st.Skipped, "records whose body is not a map are skipped"},
		{"records_malformed", st.Malformed, "records that could not be read are skipped"},
		{"logs_truncated", st.TruncatedLogs, "logs over Datadog's 1 MB limit are truncated (marked ...TRUNCATED)"},
		{"attributes_dropped", st.DroppedAttributes, "logs whose attributes alone exceed 1 MB are sent without their attributes"},
	}
	return b.Requests(), st.Records, notes, err
}
