package datadog

import (
	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/delivery"
	"github.com/kubeship/kubeship/internal/destination"
	"github.com/kubeship/kubeship/internal/freelist"
)

// Destination sends to Datadog's logs intake v2 (destination datadog).
type Destination struct {
	enc     *Encoder
	header  map[string]string
	batches freelist.List[Batch] // reused across flushes (see Batch.Reset)
}

// NewDestination builds the destination of a validated config; version is
// kubeship's, sent as the origin's version.
func NewDestination(c *config.Config, version string) *Destination {
	d := c.Datadog
	return &Destination{
		enc: New(Options{
			Service: d.Service, Source: d.Source, Hostname: d.Hostname, Tags: d.Tags,
			MessageKey: d.MessageKey, IncludeTagKey: d.IncludeTagKey, TagKey: d.TagKey, DateKey: d.DateKey,
			KubernetesMetadata: c.KubernetesMetadata, LabelsAsTags: d.LabelsAsTags, Compress: d.Compress,
			MaxBatchBytes: c.BatchSize, TagPrefix: c.KubeTagPrefix, ClusterName: d.ClusterName,
			TraceKeys: c.TraceIDKeys, SpanKeys: c.SpanIDKeys, AutoMultiline: c.AutoMultiline,
		}),
		header: map[string]string{
			"DD-API-KEY": d.APIKey,
			// The intake tells log shippers apart by origin, as Fluent Bit's
			// datadog output does.
			"DD-EVP-ORIGIN":         "kubeship",
			"DD-EVP-ORIGIN-VERSION": version,
		},
		batches: destination.Batches(c.BatchSize, (*Batch).Retained),
	}
}

// Header implements destination.Destination: the API key and the origin.
func (d *Destination) Header() map[string]string { return d.header }

// Answers implements destination.Destination: every 2xx stores the whole
// request (202), and a refused key is explained.
func (d *Destination) Answers() delivery.Answers {
	return delivery.Answers{Advice: func(status int, _ string) string {
		if status == 403 {
			return "Datadog rejected the API key: check apikey or apikey_file, and that site is the key's Datadog site; records are dropped until it is fixed"
		}
		return ""
	}}
}

// The notes of what the encoder changes (see Stats).
var (
	logsTruncated     = destination.Note{Name: "logs_truncated", Msg: "logs larger than Datadog's 1 MB limit (or batch_size, when smaller) are truncated and end with ...TRUNCATED"}
	attributesDropped = destination.Note{Name: "attributes_dropped", Msg: "logs whose attributes alone exceed 1 MB (or batch_size, when smaller) are sent without their attributes"}
	logsMaskedToEnd   = destination.Note{Name: "logs_masked_to_end", Msg: "a pod's mask_sequences rule matched so often in a text of a log that its searches reached their bound: the rest of that text was replaced by the placeholder (nothing it masks is sent)"}
)

// Encode implements destination.Destination.
func (d *Destination) Encode(tag string, chunk []byte) (destination.Encoded, error) {
	b := d.batches.Get()
	b.Reset()
	err := d.enc.Encode(b, tag, chunk)
	st := &b.Stats
	notes := append(destination.Problems(&b.problems),
		destination.Count{Note: logsTruncated, N: st.TruncatedLogs}, destination.Count{Note: attributesDropped, N: st.DroppedAttributes},
		destination.Count{Note: logsMaskedToEnd, N: st.MaskedToEnd})
	// The requests' bodies live in the batch: it returns to the pool only
	// once they are delivered.
	return destination.Encoded{Requests: b.Requests(), Counts: st.Counts, Notes: notes, Done: func() { d.batches.Put(b) }}, err
}
