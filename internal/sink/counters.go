package sink

import (
	"fmt"
	"hash/maphash"
	"sort"
	"strings"
	"sync"
	"time"

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
	multilineJoined = destination.Note{Name: "multiline_joined", Info: true,
		Msg: "lines of stack traces joined into the entry of the trace they continue (auto_multiline, or a pod's multi_line rule)"}
	multilineCut = destination.Note{Name: "multiline_cut",
		Msg: "stack traces longer than an entry may be (the destination's line limit, or 1000 lines) go on in the next entry"}
	multilineSplit = destination.Note{Name: "multiline_split", Info: true,
		Msg: "stack traces whose lines straddled two chunks arrive as two entries (a chunk began inside one)"}
)

// lineMemory bounds how many distinct note lines the counters remember
// having logged. A note's line may name a pod (annotations_ignored), and
// pods come and go: remembered for good, each line would stay in memory
// for the instance's life. 1024 pods' lines is more than a team reads;
// beyond them, a line not logged before is logged at most once a minute
// for its note.
const lineMemory = 1024

// counters totals an instance's notes for the exit summary, counts the
// dropped records in the metrics, and logs each note's first line.
type counters struct {
	log     Logger
	metrics *metrics.Set     // nil without metrics
	now     func() time.Time // the throttle's clock

	mu     sync.Mutex
	totals map[string]int // by note name, a handful: never by line
	sent   int
	// logged holds a hash of each (name, line) logged, up to lineMemory;
	// past it, throttle lets a line of a name through once a minute.
	logged   map[uint64]struct{}
	seed     maphash.Seed
	throttle delivery.Throttle
}

func newCounters(log Logger) *counters {
	return &counters{log: log, now: time.Now, totals: map[string]int{}, logged: map[uint64]struct{}{}, seed: maphash.MakeSeed()}
}

// read counts what every destination counts of a chunk.
func (c *counters) read(n entry.Counts) {
	c.add(destination.Count{Note: skipped, N: n.Skipped}, destination.Count{Note: malformed, N: n.Malformed},
		destination.Count{Note: joined, N: n.Joined}, destination.Count{Note: filtered, N: n.Filtered},
		destination.Count{Note: multilineJoined, N: n.MultilineJoined}, destination.Count{Note: multilineCut, N: n.MultilineCut},
		destination.Count{Note: multilineSplit, N: n.MultilineSplit})
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

// add counts notes, logging the first line of each.
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
		c.totals[n.Name] += n.N
		if n.Msg == "" {
			continue
		}
		h := c.hash(n.Name, n.Msg)
		if _, ok := c.logged[h]; ok {
			continue
		}
		then := "this is logged once"
		if len(c.logged) < lineMemory {
			c.logged[h] = struct{}{}
		} else {
			ok, held := c.throttle.Allow(n.Name, c.now())
			if !ok {
				continue
			}
			then = fmt.Sprintf("over %d distinct lines were logged%s", lineMemory, c.throttle.Suffix(held))
		}
		logf := c.log.Warnf
		if n.Info {
			logf = c.log.Infof
		}
		logf("%s%s (counted; totals are logged at exit; %s)", n.Msg, n.Detail, then)
	}
}

// hash identifies a note's line; a collision, one in 2^64, only leaves a
// line unlogged.
func (c *counters) hash(name, msg string) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(name)
	h.WriteByte(0)
	h.WriteString(msg)
	return h.Sum64()
}

// summary is the exit line's totals by name, sorted.
func (c *counters) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := []string{fmt.Sprintf("records_sent=%d", c.sent)}
	for name, total := range c.totals {
		parts = append(parts, fmt.Sprintf("%s=%d", name, total))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
