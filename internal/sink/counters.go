package sink

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/kubeship/kubeship/internal/delivery"
	"github.com/kubeship/kubeship/internal/destination"
	"github.com/kubeship/kubeship/internal/entry"
	"github.com/kubeship/kubeship/internal/metrics"
)

// The notes of what every destination counts (entry.Counts).
var (
	skipped   = destination.Note{Name: "records_skipped_not_a_map", Drop: "skipped_not_a_map", Msg: "records whose body is not a map are skipped"}
	malformed = destination.Note{Name: "records_malformed", Drop: "malformed", Msg: "records that could not be read are skipped"}
	joined    = destination.Note{Name: "lines_joined", Info: true, Msg: "split lines (P parts) joined into one line"}
	filtered  = destination.Note{Name: "records_filtered", Filtered: true, Info: true,
		Msg: "records excluded by their pod's log processing rules (ad.datadoghq.com/<container>.logs) are not sent"}
)

// counters totals an instance's notes for the exit summary, counts the
// dropped records in the metrics, and logs each note's first line.
type counters struct {
	log     Logger
	metrics *metrics.Set // nil when metrics_listen is off

	mu     sync.Mutex
	totals map[destination.Note]int
	sent   int
}

func newCounters(log Logger) *counters {
	return &counters{log: log, totals: map[destination.Note]int{}}
}

// read counts what every destination counts of a chunk.
func (c *counters) read(n entry.Counts) {
	c.add(destination.Count{Note: skipped, N: n.Skipped}, destination.Count{Note: malformed, N: n.Malformed},
		destination.Count{Note: joined, N: n.Joined}, destination.Count{Note: filtered, N: n.Filtered})
}

// delivered counts a delivery's records sent and dropped.
func (c *counters) delivered(out delivery.Outcome) {
	c.mu.Lock()
	c.sent += out.Sent
	c.mu.Unlock()
	for reason, n := range out.Dropped {
		c.add(destination.Count{Note: destination.Dropped(reason), N: n})
	}
}

// add counts notes, logging the first of each kind.
func (c *counters) add(counts ...destination.Count) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range counts {
		if n.N == 0 {
			continue
		}
		if n.Drop != "" {
			c.metrics.Dropped(n.Drop, n.N)
		}
		if n.Filtered {
			c.metrics.Filtered(n.N)
		}
		seen := c.totals[n.Note] > 0
		c.totals[n.Note] += n.N
		if seen || n.Msg == "" {
			continue
		}
		logf := c.log.Warnf
		if n.Info {
			logf = c.log.Infof
		}
		logf("%s%s (counted; totals are logged at exit; this is logged once)", n.Msg, n.Detail)
	}
}

// summary is the exit line's totals by name, sorted (the notes of one name
// may differ in their lines, one per pod, say).
func (c *counters) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	byName := map[string]int{"records_sent": c.sent}
	for n, total := range c.totals {
		byName[n.Name] += total
	}
	var parts []string
	for name, total := range byName {
		parts = append(parts, fmt.Sprintf("%s=%d", name, total))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
