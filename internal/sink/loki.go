package sink

import (
	"fmt"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/freelist"
	"github.com/kubeship/kubeship/internal/loki"
)

// lokiEncoder adapts loki.Encoder to the sink.
type lokiEncoder struct {
	enc       *loki.Encoder
	batchSize int
	maxLine   int
	batches   freelist.List[loki.Batch] // reused across flushes (see loki.Batch.Reset)
}

func newLokiEncoder(cfg *config.Config) lokiEncoder {
	return lokiEncoder{enc: loki.New(cfg), batchSize: cfg.BatchSize, maxLine: cfg.MaxLineSize,
		batches: freelist.NewBounded(freelist.PerFlush, keptMax(cfg), (*loki.Batch).Retained)}
}

func (e lokiEncoder) encode(tag string, chunk []byte) (encoded, error) {
	b := e.batches.Get()
	b.Reset()
	err := e.enc.Encode(b, tag, chunk)
	st := b.Stats
	notes := []note{
		{"records_skipped_not_a_map", st.Skipped, "records whose body is not a map are skipped"},
		{"records_malformed", st.Malformed, "records that could not be read are skipped"},
		{"lines_truncated", st.TruncatedLines, fmt.Sprintf("lines longer than max_line_size (%d bytes) are truncated", e.maxLine)},
		{"labels_dropped", st.DroppedLabels, "streams with more than 15 label names keep the first 15; dropped: " + st.FirstLabelDrop},
		{"label_values_truncated", st.TruncatedLabels, "label values longer than 2048 bytes are truncated"},
		{"structured_metadata_dropped", st.DroppedMetadata, "structured metadata over 128 entries or 64 KB per line is dropped"},
		{"tenants_sanitized", st.SanitizedTenants, "records whose tenant_id_key value Loki would refuse go to that tenant with other characters as '_', cut at 150 bytes"},
		{"lines_joined", st.Joined, "split lines (P parts) joined into one entry"},
	}
	// The requests' bodies live in the batch: it returns to the pool only
	// once they are delivered.
	return encoded{b.Requests(e.batchSize), st.Records, notes, func() { e.batches.Put(b) }}, err
}
