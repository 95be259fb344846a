// Package annotations reads what a pod's Datadog Autodiscovery annotations
// ask of a container's logs: the log source and service, tags, and log
// processing rules. On EKS Fargate no Datadog Agent runs to apply them, so
// kubeship does: the Datadog destination all of it, the Loki destination
// the rules (pod_log_rules), which are the pod owner's statement of what
// must not leave the cluster.
package annotations

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/kubeship/kubeship/internal/record"
)

// Container is what a container's annotations ask for.
type Container struct {
	// Source and Service are the first log source's of
	// ad.datadoghq.com/<container>.logs.
	Source, Service []byte
	// Tags are ad.datadoghq.com/tags, then ad.datadoghq.com/<container>.tags,
	// as name and value ("" for a bare tag), not yet sanitized.
	Tags [][2]string
	// Rules are the first log source's log_processing_rules that can be
	// applied, in order.
	Rules Rules
	// MultiLine is the pattern of its multi_line rule (the last, as the
	// Agent applies it), compiled as the Agent compiles it: "^" + pattern.
	// A line it matches begins a record, the other lines are joined to the
	// record before them (internal/multiline); nil when none.
	MultiLine *regexp.Regexp
	// Problems says, one line each, what could not be read or applied: a
	// malformed annotation (ignored, as by the Agent), a rule skipped or
	// tags dropped. What the pod wrote is quoted (see quote).
	Problems []string

	size int // bytes held, for the cache's bound
}

const (
	adPrefix = "ad.datadoghq.com/"
	podTags  = adPrefix + "tags"
)

// Cache reads each distinct set of a container's annotations once: they are
// the same on every record of a pod, and reading them (with encoding/json:
// they are small and written by people) and compiling the rules per record
// would cost more than the record. What it reads is kept for the whole
// process (see store), so a Cache is only a batch's handle: it is not safe
// for concurrent use, each batch keeps its own, and its zero value works.
type Cache struct {
	key   []byte
	store *store // nil: shared
}

var none = &Container{}

// Get returns what the annotations (the kubernetes filter's map, raw
// msgpack) ask for the container's logs. The result is shared: do not
// change it.
func (c *Cache) Get(annotations, container []byte) *Container {
	if annotations == nil || len(container) == 0 {
		return none
	}
	var vals [3][]byte // the pod's tags, the container's tags and logs
	_ = record.Each(annotations, func(k, v []byte) bool {
		if !bytes.HasPrefix(k, []byte(adPrefix)) {
			return true
		}
		t, _ := record.Text(v)
		if t == nil {
			t = []byte{} // present, whatever its type: read says it is no JSON
		}
		if string(k) == podTags {
			vals[0] = t
			return true
		}
		name, kind, ok := bytes.Cut(k[len(adPrefix):], []byte{'.'})
		if !ok || !bytes.Equal(name, container) {
			return true
		}
		switch string(kind) {
		case "tags":
			vals[1] = t
		case "logs":
			vals[2] = t
		}
		return true
	})
	if vals[0] == nil && vals[1] == nil && vals[2] == nil {
		return none
	}
	// The key: the container and the three values, each preceded by its
	// length (1<<31 for none); a value over maxAnnotationBytes by its
	// length alone (1<<30 set): it is not read, nor kept in the cache.
	var sizes [3]int
	n := uint32(len(container))
	c.key = append(c.key[:0], byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	c.key = append(c.key, container...)
	for i, v := range vals {
		sizes[i] = len(v)
		n := uint32(len(v))
		switch {
		case v == nil:
			n = 1 << 31
		case len(v) > maxAnnotationBytes:
			n |= 1 << 30
			vals[i] = nil
		}
		c.key = append(c.key, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		c.key = append(c.key, vals[i]...)
	}
	s := c.store
	if s == nil {
		s = shared
	}
	if got, ok := s.get(c.key); ok {
		return got
	}
	return s.put(c.key, read(string(container), vals, sizes))
}

// Sizes of what a cached container holds beyond its key, for the cache's
// bytes bound: a compiled program takes about 100 bytes per instruction in
// regexp (its Prog and the machines it keeps), twice for a mask (re and
// after); the rest is a rough fixed cost.
const (
	instBytes      = 128
	containerBytes = 512
	ruleBytes      = 1024
)

// read parses a container's annotations: vals are the pod's tags, the
// container's tags and its logs annotations, nil when absent; sizes their
// lengths, a value over maxAnnotationBytes being nil in vals.
func read(container string, vals [3][]byte, sizes [3]int) *Container {
	got := &Container{size: containerBytes}
	// Names of the annotations for problem lines: the container name is
	// written by the pod owner.
	ctr := name([]byte(container))
	names := [3]string{podTags, adPrefix + ctr + ".tags", adPrefix + ctr + ".logs"}
	for i, n := range sizes {
		if n > maxAnnotationBytes {
			got.problem(fmt.Sprintf("%s: %d bytes, over the limit of %d: ignored", names[i], n, maxAnnotationBytes))
		}
	}
	got.Tags = readTags(got, names[0], vals[0], nil)
	got.Tags = readTags(got, names[1], vals[1], got.Tags)
	for _, t := range got.Tags {
		got.size += len(t[0]) + len(t[1]) + 32
	}
	if vals[2] != nil {
		readLogs(got, names[2], vals[2])
	}
	for _, p := range got.Problems {
		got.size += len(p)
	}
	return got
}

// problem adds a problem.
func (c *Container) problem(p string) { c.Problems = append(c.Problems, p) }

// readLogs reads the first log source of a logs annotation: its source,
// service and log processing rules, within the budgets (see budget.go).
func readLogs(got *Container, name string, logs []byte) {
	var sources []struct {
		Source  string `json:"source"`
		Service string `json:"service"`
		Rules   []struct {
			Type        string `json:"type"`
			Name        string `json:"name"`
			Pattern     string `json:"pattern"`
			Placeholder string `json:"replace_placeholder"`
		} `json:"log_processing_rules"`
	}
	if err := json.Unmarshal(logs, &sources); err != nil {
		got.problem(fmt.Sprintf("%s: not a JSON list of log sources (%s): ignored", name, quote(err.Error())))
		return
	}
	if len(sources) == 0 {
		return
	}
	s := sources[0]
	if s.Source != "" {
		got.Source = []byte(s.Source)
	}
	if s.Service != "" {
		got.Service = []byte(s.Service)
	}
	rules := s.Rules
	if len(rules) > maxRules {
		got.problem(fmt.Sprintf("%s: %d rules after the first %d are skipped", name, len(rules)-maxRules, maxRules))
		rules = rules[:maxRules]
	}
	cost := 0
	// The Agent applies the last multi_line rule (its decoder takes each in
	// turn, and the last one stays): the earlier ones are skipped.
	lastMultiLine := -1
	for i, r := range rules {
		if r.Type == "multi_line" {
			lastMultiLine = i
		}
	}
	for i, r := range rules {
		skip := func(why string) {
			got.problem(fmt.Sprintf("%s: rule %s: %s: the rule is skipped", name, quote(r.Name), why))
		}
		typ, ok := ruleTypes[r.Type]
		switch {
		case r.Type == "multi_line" && i != lastMultiLine:
			skip("a later multi_line rule replaces it, as with the Agent")
			continue
		case r.Type == "multi_line":
			typ = multiLine
		case !ok:
			skip(fmt.Sprintf("unknown type %s (want exclude_at_match, include_at_match, mask_sequences or multi_line)", quote(r.Type)))
			continue
		}
		if r.Pattern == "" {
			skip("no pattern")
			continue
		}
		if typ == multiLine {
			re, insts, why := newMultiLine(r.Pattern)
			if why == "" && cost+insts > maxRulesCost {
				why = fmt.Sprintf("the container's rules would cost %d, over the limit of %d (instructions × scans of each line)", cost+insts, maxRulesCost)
			}
			if why != "" {
				skip(why)
				continue
			}
			cost += insts
			got.MultiLine = re
			got.size += ruleBytes + 2*insts*instBytes
			continue
		}
		rule, insts, why := newRule(typ, r.Name, r.Pattern, r.Placeholder)
		if why != "" {
			skip(why)
			continue
		}
		if c := ruleCost(typ, insts); cost+c > maxRulesCost {
			skip(fmt.Sprintf("the container's rules would cost %d, over the limit of %d (instructions × scans of each line)", cost+c, maxRulesCost))
			continue
		} else {
			cost += c
		}
		got.Rules = append(got.Rules, rule)
		got.size += ruleBytes + len(r.Name) + len(r.Placeholder) + 2*insts*instBytes
	}
}

// readTags appends the tags of a tags annotation: a JSON object of name to
// value or list of values, or a JSON list of "name:value"; at most maxTags
// in all.
func readTags(got *Container, name string, v []byte, tags [][2]string) [][2]string {
	if v == nil {
		return tags
	}
	dropped := 0
	add := func(k, val string) {
		if len(tags) < maxTags {
			tags = append(tags, [2]string{k, val})
		} else {
			dropped++
		}
	}
	defer func() {
		if dropped > 0 {
			got.problem(fmt.Sprintf("%s: %d tags over the limit of %d per container are dropped", name, dropped, maxTags))
		}
	}()
	var obj map[string]json.RawMessage
	var list []string
	switch {
	case json.Unmarshal(v, &list) == nil:
		for _, t := range list {
			k, val, _ := strings.Cut(t, ":")
			add(k, val)
		}
		return tags
	case json.Unmarshal(v, &obj) == nil:
	default:
		got.problem(fmt.Sprintf(`%s: want a JSON object such as {"team":"payments"} or a list such as ["team:payments"]: ignored`, name))
		return tags
	}
	// JSON objects are unordered: the names come sorted, so that the same
	// annotation always gives the same tags.
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	slices.Sort(names)
	var bad []string
	for _, k := range names {
		var one string
		var many []string
		switch {
		case json.Unmarshal(obj[k], &one) == nil:
			add(k, one)
		case json.Unmarshal(obj[k], &many) == nil:
			for _, m := range many {
				add(k, m)
			}
		default:
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		more := ""
		if len(bad) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(bad)-1)
		}
		got.problem(fmt.Sprintf("%s: the value of %s%s is neither a string nor a list of strings: ignored", name, quote(bad[0]), more))
	}
	return tags
}

// Problems collects one flush's lines about containers whose annotations
// were partly ignored, each with the records it concerns, so that the
// sink logs each once and counts them. Each line is one line (what a pod
// wrote is quoted) of at most maxLineBytes.
type Problems struct {
	lines  []string
	counts []int
	index  map[string]int
}

// Reset forgets the last flush's problems.
func (p *Problems) Reset() {
	p.lines, p.counts = p.lines[:0], p.counts[:0]
	clear(p.index)
}

// Of returns the index to Count a container's records under, -1 when its
// annotations had no problem. extra are more problems of the container
// (a destination's, such as tags it dropped), each already quoting what
// the pod wrote.
func (p *Problems) Of(c *Container, namespace, pod, container []byte, extra ...string) int {
	if len(c.Problems)+len(extra) == 0 {
		return -1
	}
	var b strings.Builder
	b.WriteString("pod ")
	b.WriteString(name(namespace))
	b.WriteByte('/')
	b.WriteString(name(pod))
	b.WriteString(", container ")
	b.WriteString(name(container))
	b.WriteString(": ")
	for i, s := range slices.Concat(c.Problems, extra) {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s)
		if b.Len() > maxLineBytes {
			break
		}
	}
	line := cutLine(b.String())
	if i, ok := p.index[line]; ok {
		return i
	}
	if p.index == nil {
		p.index = map[string]int{}
	}
	p.index[line] = len(p.lines)
	p.lines, p.counts = append(p.lines, line), append(p.counts, 0)
	return len(p.lines) - 1
}

// Count counts a record under i (from Of); -1 counts nothing.
func (p *Problems) Count(i int) {
	if i >= 0 {
		p.counts[i]++
	}
}

// Each calls f with each line and its records.
func (p *Problems) Each(f func(line string, records int)) {
	for i, l := range p.lines {
		f(l, p.counts[i])
	}
}
