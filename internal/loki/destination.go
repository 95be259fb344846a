package loki

import (
	"encoding/base64"
	"fmt"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/delivery"
	"github.com/kubeship/kubeship/internal/destination"
	"github.com/kubeship/kubeship/internal/freelist"
)

// Destination sends to Loki's push API (destination loki).
type Destination struct {
	enc            *Encoder
	header         map[string]string
	batches        freelist.List[Batch] // reused across flushes (see Batch.Reset)
	linesTruncated destination.Note     // names this instance's max_line_size
}

// NewDestination builds the destination of a validated config.
func NewDestination(c *config.Config) *Destination {
	l := c.Loki
	header := map[string]string{}
	switch {
	case l.BearerToken != "":
		header["Authorization"] = "Bearer " + l.BearerToken
	case l.HTTPUser != "" || l.HTTPPasswd != "":
		header["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(l.HTTPUser+":"+l.HTTPPasswd))
	}
	return &Destination{
		enc:     New(options(c)),
		header:  header,
		batches: destination.Batches(c.BatchSize, (*Batch).Retained),
		linesTruncated: destination.Note{Name: "lines_truncated",
			Msg: fmt.Sprintf("lines longer than max_line_size (%d bytes) are truncated", l.MaxLineSize)},
	}
}

// options are the encoder's options of a validated config.
func options(c *config.Config) Options {
	return Options{Loki: c.Loki, KubernetesMetadata: c.KubernetesMetadata, TagPrefix: c.KubeTagPrefix, MaxBatchBytes: c.BatchSize,
		TraceKeys: c.TraceIDKeys, SpanKeys: c.SpanIDKeys, AutoMultiline: c.AutoMultiline}
}

// Join implements destination.Joiner.
func (d *Destination) Join(reqs []delivery.Request) delivery.Request { return join(reqs) }

// Header implements destination.Destination: basic or bearer authentication.
func (d *Destination) Header() map[string]string { return d.header }

// Answers implements destination.Destination.
func (d *Destination) Answers() delivery.Answers {
	return delivery.Answers{
		// Loki stores a push when it answers 204 (200 from some gateways);
		// while ingestion is blocked it answers another 2xx (260 by
		// default, block_ingestion_status_code) and stores nothing.
		Stored:   func(status int) bool { return status == 204 || status == 200 },
		Rejected: Rejected,
		Advice:   Advice,
	}
}

// The notes of what the encoder changes (see Stats).
var (
	labelsDropped    = destination.Note{Name: "labels_dropped", Msg: "streams with more than 15 label names keep the first 15; dropped: "}
	labelsTruncated  = destination.Note{Name: "label_values_truncated", Msg: "label values longer than 2048 bytes are truncated"}
	metadataDropped  = destination.Note{Name: "structured_metadata_dropped", Msg: "structured metadata over 128 entries or 64 KB per line is dropped"}
	tenantsSanitized = destination.Note{Name: "tenants_sanitized", Msg: "records whose tenant_id_key value Loki would refuse go to that tenant with other characters as '_', cut at 150 bytes"}
)

// Encode implements destination.Destination.
func (d *Destination) Encode(tag string, chunk []byte) (destination.Encoded, error) {
	b := d.batches.Get()
	b.Reset()
	err := d.enc.Encode(b, tag, chunk)
	st := &b.Stats
	notes := append(destination.Problems(&b.problems),
		destination.Count{Note: d.linesTruncated, N: st.TruncatedLines},
		destination.Count{Note: labelsDropped, N: st.DroppedLabels, Detail: st.FirstLabelDrop},
		destination.Count{Note: labelsTruncated, N: st.TruncatedLabels},
		destination.Count{Note: metadataDropped, N: st.DroppedMetadata},
		destination.Count{Note: tenantsSanitized, N: st.SanitizedTenants},
	)
	// The requests' bodies live in the batch: it returns to the pool only
	// once they are delivered.
	return destination.Encoded{Requests: b.Requests(), Counts: st.Counts, Notes: notes, Done: func() { d.batches.Put(b) }}, err
}
