package entry

import (
	"regexp"

	"github.com/kubeship/kubeship/internal/multiline"
)

// Joining says how a Reader joins the lines of a container's stream into
// multi-line records (stack traces; see internal/multiline). Lines are held
// back only within the chunk: its last records are sent when it ends, so a
// chunk is acknowledged with all of its records in what was sent, and a
// trace whose lines straddle two chunks arrives as two entries (counted as
// Counts.MultilineSplit when the second chunk begins inside its frames).
type Joining struct {
	// Auto detects stack traces in every container's lines
	// (auto_multiline).
	Auto bool
	// Rule returns the pattern of the multi_line rule of the container
	// whose kubernetes map is k8s (nil: none; see multiline.Mode.Rule); it
	// replaces Auto for that container. nil reads no rules.
	Rule func(k8s []byte) *regexp.Regexp
	// MaxBytes bounds a joined message (the destination's line limit): a
	// line that would take it over begins a new entry (counted as
	// Counts.MultilineCut). 0 is DefaultMaxBytes.
	MaxBytes int
}

// The bounds of a joined record: the Datadog Agent's own (256,000 bytes, its
// max_message_size_bytes, which is also Loki's default max_line_size of
// 256 KB, near enough), and a count of lines past which a run of lines is
// no trace any longer (a goroutine dump of a busy server goes on in its next
// entries).
const (
	DefaultMaxBytes = 256_000
	MaxLines        = 1000
	// maxTentative bounds the lines a record holds while it is not known
	// whether they continue it (blank lines in a trace; see
	// multiline.Maybe).
	maxTentative = 4
	// maxGroups bounds the container streams tracked at once in a chunk:
	// an aggregator's chunk is one container's (one tag); past this, the
	// oldest records are sent early, and a split may go uncounted.
	maxGroups = 64
)

// mode returns the joining mode of a container, from its kubernetes map.
func (j *Joining) mode(k8s []byte) multiline.Mode {
	if j.Rule != nil && k8s != nil {
		if r := j.Rule(k8s); r != nil {
			return multiline.Mode{Rule: r}
		}
	}
	return multiline.Mode{Auto: j.Auto}
}

// held is an entry kept past the Next that read it, with buffers of its own
// for what aliases the reader's: its fields, a split line's message, and
// the joined message of a record.
type held struct {
	e      Entry
	fields []Field
	msg    []byte
}

// group is one container stream's open record in a chunk. Its slot lives
// for the chunk, idle once the record is sent, so that the chunk's first
// line of each container stream is known (a trace split across chunks).
type group struct {
	stream, k8s []byte // the container stream: its first line's
	id          []byte // the container id of k8s, once idRead
	idRead      bool
	open        bool // head is a record being joined
	head        int  // its first line: a slot of joiner.slots
	lines       int  // lines joined, head included
	size        int  // the joined message's length with the lines in doubt
	state       multiline.State
	tent        [maxTentative]int // lines held after it, see multiline.Maybe
	ntent       int
	order       int // the reader's order at its first line
}

// joiner is the Reader's state for Joining. Held entries live in slots,
// which move between groups and the queue of entries to send by index, so
// that an entry is copied once, when it is held.
type joiner struct {
	slots    []held
	free     []int // slots not in use
	groups   []group
	out      []int // slots ready to be sent, in order
	outAt    int   // the next of out to send
	lent     int   // the slot sent last, freed on the next Next; -1 none
	modeOf   []byte
	mode     multiline.Mode
	modeRead bool
	// Counts of the chunk (see Counts).
	joined, cut, split int
}

// reset forgets the last chunk, keeping buffers.
func (j *joiner) reset() {
	for i := range j.slots {
		j.slots[i].e = Entry{}
		clear(j.slots[i].fields[:cap(j.slots[i].fields)])
	}
	j.free = j.free[:0]
	for i := range j.slots {
		j.free = append(j.free, i)
	}
	for i := range j.groups[:cap(j.groups)] {
		g := &j.groups[:cap(j.groups)][i]
		g.open, g.stream, g.k8s, g.id, g.ntent = false, nil, nil, nil, 0
	}
	j.groups = j.groups[:0]
	j.out, j.outAt, j.lent = j.out[:0], 0, -1
	j.modeOf, j.modeRead = nil, false
	j.joined, j.cut, j.split = 0, 0, 0
}

// nextJoined is Next with Joining.
func (r *Reader) nextJoined() bool {
	j := &r.join
	if j.lent >= 0 {
		j.release(j.lent)
		j.lent = -1
	}
	for {
		if j.outAt < len(j.out) {
			j.lent = j.out[j.outAt]
			r.cur = j.slots[j.lent].e
			j.outAt++
			return true
		}
		j.out, j.outAt = j.out[:0], 0
		if !r.nextLine() {
			// The chunk ended: send every open record, the earliest begun
			// first.
			for {
				var first *group
				for i := range j.groups {
					if g := &j.groups[i]; g.open && (first == nil || g.order < first.order) {
						first = g
					}
				}
				if first == nil {
					break
				}
				r.close(first)
			}
			if len(j.out) == 0 {
				return false
			}
			continue
		}
		if r.joinLine() {
			return true
		}
	}
}

// joinLine places the line Next just read (r.cur) in its container stream's
// record, and reports whether it is the entry to send now (nothing held
// before it); otherwise what is ready waits in j.out.
func (r *Reader) joinLine() bool {
	j := &r.join
	e := &r.cur
	m := r.modeFor(e.Kubernetes)
	if !m.On() || e.message == nil && !emptyLine(e) {
		return true
	}
	g, first := r.groupOf(e.Stream, e.Kubernetes)
	if g == nil {
		return true // beyond maxGroups and each holding a record: sent as it is
	}
	s := g.state
	var head []byte
	if g.open {
		head = j.slots[g.head].e.message
	}
	switch m.Next(&s, g.open, head, e.message) {
	case multiline.Join:
		if !g.open {
			// The chunk's first line of this stream continues a record:
			// its first lines were in an earlier chunk.
			if first {
				j.split++
			}
			r.hold(g, s)
			return false
		}
		if g.lines+g.ntent >= MaxLines || g.size+1+len(e.message) > r.maxBytes() {
			// A record at its bound is sent; the rest goes on in the next.
			j.cut++
			r.close(g)
			r.hold(g, s)
			return false
		}
		h := &j.slots[g.head]
		if g.lines == 1 {
			h.msg = append(h.msg[:0], h.e.message...)
		}
		for k := range g.ntent {
			h.msg = append(append(h.msg, '\n'), j.slots[g.tent[k]].e.message...)
			j.release(g.tent[k])
		}
		h.msg = append(append(h.msg, '\n'), e.message...)
		h.e.Log, h.e.message = h.msg, h.msg
		g.lines += g.ntent + 1
		g.size, g.ntent, g.state = len(h.msg), 0, s
		return false
	case multiline.Maybe:
		if g.open && g.ntent < maxTentative && g.lines+g.ntent < MaxLines {
			g.tent[g.ntent] = r.take()
			g.ntent++
			g.size += 1 + len(e.message)
			g.state = s
			return false
		}
		// Too many lines in doubt: the record ends here, the line
		// begins one.
		s = multiline.State{}
		if m.Next(&s, false, nil, e.message) == multiline.Alone {
			return r.alone(g)
		}
		r.close(g)
		r.hold(g, s)
		return false
	case multiline.Alone:
		return r.alone(g)
	}
	// Start
	r.close(g)
	r.hold(g, s)
	return false
}

// emptyLine reports whether an entry without a `log` is an empty line: the
// CRI parser's regex drops an empty capture (src/flb_parser_regex.c), so the
// router's record of a blank line holds only Fluent Bit's keys: the
// parser's, the kubernetes map, the es hop's. A record whose JSON line was
// merged (Merge_Log On, Keep_Log Off) holds the line's fields: not empty,
// and never joined.
func emptyLine(e *Entry) bool {
	if e.Stream == nil {
		return false
	}
	for _, f := range e.Fields {
		switch string(f.Key) {
		case "stream", "logtag", "time", "kubernetes", "@timestamp", "@meta", "flb_tag":
		default:
			return false
		}
	}
	return true
}

// alone sends the current line as it is, after g's record: nothing joins it.
func (r *Reader) alone(g *group) bool {
	if !g.open {
		return true
	}
	r.close(g)
	r.join.out = append(r.join.out, r.take())
	return false
}

// hold makes the current line g's open record, in state s.
func (r *Reader) hold(g *group, s multiline.State) {
	g.head = r.take()
	g.open, g.lines, g.state, g.order, g.ntent = true, 1, s, r.order, 0
	g.size = len(r.cur.message)
}

// close sends g's record, then the lines held in doubt after it, each as
// its own entry.
func (r *Reader) close(g *group) {
	if !g.open {
		return
	}
	j := &r.join
	j.out = append(j.out, g.head)
	j.joined += g.lines - 1
	j.out = append(j.out, g.tent[:g.ntent]...)
	g.open, g.ntent, g.lines, g.state = false, 0, 0, multiline.State{}
}

// take keeps the current line in a free slot, and returns the slot: its
// fields (the reader's buffer, or its split line's) and, for a split line,
// its message in the slot's own buffers.
func (r *Reader) take() int {
	j := &r.join
	var i int
	if n := len(j.free); n > 0 {
		i, j.free = j.free[n-1], j.free[:n-1]
	} else {
		j.slots = append(j.slots, held{})
		i = len(j.slots) - 1
	}
	h := &j.slots[i]
	h.e = r.cur
	if r.lastSplit {
		// The split line's buffers serve its next split line.
		h.fields = append(h.fields[:0], r.cur.Fields...)
		h.msg = append(h.msg[:0], r.cur.message...)
		h.e.message = h.msg
		if r.cur.Log != nil {
			h.e.Log = h.msg
		}
	} else {
		// The fields are in the reader's buffer: the slot takes it, and
		// the reader the slot's.
		h.fields, r.fields = r.fields, h.fields[:0]
	}
	h.e.Fields = h.fields
	return i
}

// release frees a slot, dropping what it aliases of the chunk.
func (j *joiner) release(i int) {
	h := &j.slots[i]
	h.e = Entry{}
	j.free = append(j.free, i)
}

func (r *Reader) maxBytes() int {
	if r.Join.MaxBytes > 0 {
		return r.Join.MaxBytes
	}
	return DefaultMaxBytes
}

// modeFor returns the joining mode of the container of k8s, read once per
// kubernetes map in a row: a container's records repeat it byte for byte.
func (r *Reader) modeFor(k8s []byte) multiline.Mode {
	j := &r.join
	if !j.modeRead || string(k8s) != string(j.modeOf) || (k8s == nil) != (j.modeOf == nil) {
		j.mode, j.modeOf, j.modeRead = r.Join.mode(k8s), k8s, true
	}
	return j.mode
}

// groupOf returns the group of a line's container stream, and whether the
// line is the chunk's first of it. Containers are told apart as split lines
// are (see waiting): by kubernetes map, else by container id.
func (r *Reader) groupOf(stream, k8s []byte) (*group, bool) {
	j := &r.join
	for i := range j.groups {
		g := &j.groups[i]
		if sameStream(g.stream, stream) && string(g.k8s) == string(k8s) && (g.k8s == nil) == (k8s == nil) {
			return g, false
		}
	}
	if k8s != nil {
		if id := r.containerID(k8s); len(id) > 0 {
			for i := range j.groups {
				g := &j.groups[i]
				if g.k8s == nil || string(g.stream) != string(stream) {
					continue
				}
				if !g.idRead {
					g.id, g.idRead = r.containerID(g.k8s), true
				}
				if string(g.id) == string(id) {
					// The filter's view of the pod changed: the newest
					// map stands for the container from now on.
					g.k8s, g.id = k8s, id
					return g, false
				}
			}
		}
	}
	var g *group
	if len(j.groups) < maxGroups {
		if len(j.groups) < cap(j.groups) {
			j.groups = j.groups[:len(j.groups)+1]
		} else {
			j.groups = append(j.groups, group{})
		}
		g = &j.groups[len(j.groups)-1]
	} else {
		// Full: reuse an idle slot, else send the oldest record.
		for i := range j.groups {
			if c := &j.groups[i]; !c.open {
				g = c
				break
			} else if g == nil || c.order < g.order {
				g = c
			}
		}
		r.close(g)
	}
	g.stream, g.k8s, g.id, g.idRead, g.open, g.ntent = stream, k8s, nil, false, false, 0
	return g, true
}

// sameStream compares two streams (stdout, stderr) without a call: they
// differ by their length or fourth byte, or are rarely anything else.
func sameStream(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 6 {
		return a[3] == b[3] && a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[4] == b[4] && a[5] == b[5]
	}
	return string(a) == string(b)
}

// retained is the bytes of the joiner's buffers.
func (j *joiner) retained() int {
	n := 0
	for i := range j.slots {
		n += cap(j.slots[i].msg) + 48*cap(j.slots[i].fields)
	}
	return n
}
