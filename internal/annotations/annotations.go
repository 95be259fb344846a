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
	// Problems says, one line each, what could not be read or applied: a
	// malformed annotation (ignored, as by the Agent) or a rule skipped.
	Problems []string
}

// RuleType is a log processing rule's type.
type RuleType int

// The rule types applied to messages.
const (
	Exclude RuleType = iota + 1 // exclude_at_match
	Include                     // include_at_match
	Mask                        // mask_sequences
)

var ruleTypes = map[string]RuleType{"exclude_at_match": Exclude, "include_at_match": Include, "mask_sequences": Mask}

// Rule is one log processing rule, its pattern compiled.
type Rule struct {
	Type        RuleType
	Name        string
	Placeholder []byte // mask_sequences' replace_placeholder
	re          *regexp.Regexp
}

// Rules are a container's log processing rules.
type Rules []Rule

// Apply applies the rules to a message in order, with the Agent's
// semantics: a match of exclude_at_match, or a miss of include_at_match,
// drops the message (keep is false); mask_sequences replaces every match
// with its placeholder, where $1 or ${name} stand for groups of the match
// (Go's Regexp.Expand, as in the Agent). msg is returned as it is when
// nothing was masked, so messages that match no rule cost no allocation.
func (rs Rules) Apply(msg []byte) (out []byte, keep bool) {
	for i := range rs {
		r := &rs[i]
		switch r.Type {
		case Exclude:
			if r.re.Match(msg) {
				return nil, false
			}
		case Include:
			if !r.re.Match(msg) {
				return nil, false
			}
		case Mask:
			if r.re.Match(msg) {
				msg = r.re.ReplaceAll(msg, r.Placeholder)
			}
		}
	}
	return msg, true
}

const (
	adPrefix = "ad.datadoghq.com/"
	podTags  = adPrefix + "tags"
)

// maxCached bounds a cache's containers.
const maxCached = 64

// Cache reads each distinct set of a container's annotations once: they are
// the same on every record of a pod, and reading them (with encoding/json:
// they are small and written by people) and compiling the rules per record
// would cost more than the record. A Cache is not safe for concurrent use:
// each batch keeps its own.
type Cache struct {
	m   map[string]*Container
	key []byte
}

var none = &Container{}

// Get returns what the annotations (the kubernetes filter's map, raw
// msgpack) ask for the container's logs. The result is shared: do not
// change it.
func (c *Cache) Get(annotations, container []byte) *Container {
	if annotations == nil || len(container) == 0 {
		return none
	}
	var pod, tags, logs []byte
	_ = record.Each(annotations, func(k, v []byte) bool {
		if !bytes.HasPrefix(k, []byte(adPrefix)) {
			return true
		}
		t, _ := record.Text(v)
		if string(k) == podTags {
			pod = t
			return true
		}
		name, kind, ok := bytes.Cut(k[len(adPrefix):], []byte{'.'})
		if !ok || !bytes.Equal(name, container) {
			return true
		}
		switch string(kind) {
		case "tags":
			tags = t
		case "logs":
			logs = t
		}
		return true
	})
	if pod == nil && tags == nil && logs == nil {
		return none
	}
	// The key: the three values, each preceded by its length.
	c.key = c.key[:0]
	for _, v := range [][]byte{container, pod, tags, logs} {
		c.key = append(c.key, byte(len(v)>>24), byte(len(v)>>16), byte(len(v)>>8), byte(len(v)))
		c.key = append(c.key, v...)
	}
	if got, ok := c.m[string(c.key)]; ok {
		return got
	}
	got := read(string(container), pod, tags, logs)
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string]*Container{}
	}
	c.m[string(c.key)] = got
	return got
}

// read parses a container's annotations.
func read(container string, pod, tags, logs []byte) *Container {
	got := &Container{}
	got.Tags = readTags(got, podTags, pod, nil)
	got.Tags = readTags(got, adPrefix+container+".tags", tags, got.Tags)
	if logs == nil {
		return got
	}
	name := adPrefix + container + ".logs"
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
		got.Problems = append(got.Problems, fmt.Sprintf("%s: not a JSON list of log sources (%v): ignored", name, err))
		return got
	}
	if len(sources) == 0 {
		return got
	}
	s := sources[0]
	if s.Source != "" {
		got.Source = []byte(s.Source)
	}
	if s.Service != "" {
		got.Service = []byte(s.Service)
	}
	for _, r := range s.Rules {
		skip := func(why string) {
			got.Problems = append(got.Problems, fmt.Sprintf("%s: rule %q: %s: the rule is skipped", name, r.Name, why))
		}
		typ, ok := ruleTypes[r.Type]
		switch {
		case r.Type == "multi_line":
			skip("multi_line is not applied: Fluent Bit's multiline parser joins lines before kubeship")
			continue
		case !ok:
			skip(fmt.Sprintf("unknown type %q (want exclude_at_match, include_at_match or mask_sequences)", r.Type))
			continue
		case r.Pattern == "":
			skip("no pattern")
			continue
		}
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			skip(fmt.Sprintf("pattern is not a valid RE2 regular expression: %v", err))
			continue
		}
		rule := Rule{Type: typ, Name: r.Name, re: re}
		if typ == Mask {
			rule.Placeholder = []byte(r.Placeholder)
		}
		got.Rules = append(got.Rules, rule)
	}
	return got
}

// readTags appends the tags of a tags annotation: a JSON object of name to
// value or list of values, or a JSON list of "name:value".
func readTags(got *Container, name string, v []byte, tags [][2]string) [][2]string {
	if v == nil {
		return tags
	}
	var obj map[string]json.RawMessage
	var list []string
	switch {
	case json.Unmarshal(v, &list) == nil:
		for _, t := range list {
			k, val, _ := bytes.Cut([]byte(t), []byte{':'})
			tags = append(tags, [2]string{string(k), string(val)})
		}
		return tags
	case json.Unmarshal(v, &obj) == nil:
	default:
		got.Problems = append(got.Problems, fmt.Sprintf(`%s: want a JSON object such as {"team":"payments"} or a list such as ["team:payments"]: ignored`, name))
		return tags
	}
	// JSON objects are unordered: the names come sorted, so that the same
	// annotation always gives the same tags.
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		var one string
		var many []string
		switch {
		case json.Unmarshal(obj[k], &one) == nil:
			tags = append(tags, [2]string{k, one})
		case json.Unmarshal(obj[k], &many) == nil:
			for _, m := range many {
				tags = append(tags, [2]string{k, m})
			}
		default:
			got.Problems = append(got.Problems, fmt.Sprintf("%s: the value of %q is neither a string nor a list of strings: ignored", name, k))
		}
	}
	return tags
}

// Problems collects one flush's lines about containers whose annotations
// were partly ignored, each with the records it concerns, so that the
// sink logs each once and counts them.
type Problems struct {
	lines  []string
	counts []int
}

// Reset forgets the last flush's problems.
func (p *Problems) Reset() { p.lines, p.counts = p.lines[:0], p.counts[:0] }

// Of returns the index to Count a container's records under, -1 when its
// annotations had no problem.
func (p *Problems) Of(c *Container, namespace, pod, container []byte) int {
	if len(c.Problems) == 0 {
		return -1
	}
	line := fmt.Sprintf("pod %s/%s, container %s: %s", namespace, pod, container, strings.Join(c.Problems, "; "))
	if i := slices.Index(p.lines, line); i >= 0 {
		return i
	}
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
