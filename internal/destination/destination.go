// Package destination is the seam between the sink and each destination
// (loki, datadog): what a destination provides, what a flush encodes, and
// the notes that count what happened to records on the way.
package destination

import (
	"github.com/kubeship/kubeship/internal/annotations"
	"github.com/kubeship/kubeship/internal/delivery"
	"github.com/kubeship/kubeship/internal/entry"
	"github.com/kubeship/kubeship/internal/freelist"
)

// Destination turns chunks into one backend's requests and says how the
// backend answers. It owns its mapping, encoding, headers and advice; the
// sink delivers, counts and answers Fluent Bit. Encode is safe for
// concurrent use (Fluent Bit's Workers).
type Destination interface {
	// Encode maps a chunk's records into requests. A non-nil error is what
	// stopped reading the chunk; what was read before it is encoded.
	Encode(tag string, chunk []byte) (Encoded, error)
	// Header returns the headers every request carries: authentication and
	// origin. The user's header key is added by the sink, over these.
	Header() map[string]string
	// Answers tells the deliverer what the backend's answers mean.
	Answers() delivery.Answers
}

// Joiner is a destination whose requests of one tenant can be joined into
// one (Loki): with batch_wait, the flushes that run at the same time are
// delivered as fewer, larger requests (see delivery.Deliverer.DeliverGroup).
type Joiner interface {
	Join(reqs []delivery.Request) delivery.Request
}

// Encoded is one chunk's requests and what was counted making them.
type Encoded struct {
	Requests []delivery.Request
	Counts   entry.Counts
	Notes    []Count // what the destination changed or dropped
	// Done gives the requests' memory back for the next flushes: call it
	// once they are delivered.
	Done func()
}

// Note is one kind of change to records, or of loss, that is counted: at
// exit in the summary, in records_dropped_total when records are lost, and
// in one log line the first time.
type Note struct {
	Name string // in the exit summary, e.g. lines_truncated
	// Drop is the reason records_dropped_total counts the records under;
	// "" when they arrive, changed.
	Drop string
	// Filtered: the records were left out on purpose (the pod's log
	// processing rules); records_filtered_total counts them.
	Filtered bool
	// Info logs the first line at info rather than as a warning: nothing
	// was changed that a user must fix (lines joined).
	Info bool
	// Msg is the line logged the first time, "" for none (the deliverer
	// logs the records a backend refused). It may name a pod, one line per
	// pod: the sink totals notes by Name, and remembers which lines it
	// logged only up to a bound, past which a name's new lines are
	// throttled.
	Msg string
}

// Count is how many records one flush noted, and a detail that ends the
// first line (which label names were dropped, say).
type Count struct {
	Note
	N      int
	Detail string
}

// Dropped is the note of records the backend refused for reason (see
// delivery.Outcome.Dropped); the deliverer logs them.
func Dropped(reason string) Note {
	return Note{Name: "records_dropped_" + reason, Drop: reason}
}

// Problems are the notes of containers whose annotations were partly
// ignored, one line each (see annotations.Problems).
func Problems(p *annotations.Problems) []Count {
	var out []Count
	p.Each(func(line string, records int) {
		out = append(out, Count{Note: Note{Name: "annotations_ignored", Msg: line + " (the rest of the annotations applies)"}, N: records})
	})
	return out
}

// Batches keeps a destination's per-flush batches between flushes, each
// retaining a few requests' worth of memory at most: a chunk's batch holds
// about the chunk's size (Fluent Bit chunks are ~2 MB), but one huge record
// grows it to the record's size, and kept, that memory would never return.
func Batches[B any](batchSize int, retained func(*B) int) freelist.List[B] {
	return freelist.NewBounded(freelist.PerFlush, max(8<<20, 4*batchSize), retained)
}
