package annotations

import (
	"regexp"
	"unicode/utf8"
)

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
	// after finds re's next match from a position after the start (see
	// maskAll): (?s:.)(re), whose first rune is the one before the
	// position, so that ^, \b and (?m)^ see the text before it.
	after *regexp.Regexp
	// none is a match of no group, for the placeholder of a text masked
	// whole (Expand writes nothing for $1 or ${name}).
	none []int
	// maxLen is the longest match in bytes, -1 when unbounded (see maxLen).
	maxLen int
}

// Rules are a container's log processing rules.
type Rules []Rule

// Apply applies the rules to one text, a line, in order, with the Agent's
// semantics: a match of exclude_at_match, or a miss of include_at_match,
// drops it (keep is false); mask_sequences replaces every match with its
// placeholder, where $1 or ${name} stand for groups of the match (Go's
// Regexp.Expand, as in the Agent). msg is returned as it is when nothing was
// masked, so lines that match no rule cost no allocation. The searches of a
// mask are bounded (see maskScans).
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
				msg, _ = r.maskAll(msg)
			}
		}
	}
	return msg, true
}

// Object applies rules to a log sent as several texts (the Datadog
// destination's message and attributes), so that a rule sees all that is
// sent: exclude_at_match drops the log when it matches any text,
// include_at_match keeps it only when it matches some text, and
// mask_sequences masks each text. Within a text the rules apply in order,
// each to the result of the one before. Start one with Rules.Start, pass
// each text to Part, then ask Keep.
type Object struct {
	rules    Rules
	included uint32 // the include rules (by index) that matched a text
	excluded bool
	// Cut reports that a mask rule reached its bound on a text and masked
	// the rest of it whole (see maskScans).
	Cut bool
}

// Start begins applying the rules to one log.
func (rs Rules) Start() Object { return Object{rules: rs} }

// Part applies the rules to one text of the log and returns it as it is to
// be sent: text itself when nothing was masked. After an exclusion it
// returns text untouched: the log is not sent.
func (o *Object) Part(text []byte) []byte {
	if o.excluded {
		return text
	}
	for i := range o.rules {
		r := &o.rules[i]
		switch r.Type {
		case Exclude:
			if r.re.Match(text) {
				o.excluded = true
				return text
			}
		case Include:
			if o.included&(1<<i) == 0 && r.re.Match(text) {
				o.included |= 1 << i
			}
		case Mask:
			if r.re.Match(text) {
				var cut bool
				text, cut = r.maskAll(text)
				o.Cut = o.Cut || cut
			}
		}
	}
	return text
}

// Excluded reports that an exclude rule matched: the log is not sent, and
// the caller can stop passing texts.
func (o *Object) Excluded() bool { return o.excluded }

// Keep reports whether the log is sent: no exclude rule matched a text, and
// each include rule matched one.
func (o *Object) Keep() bool {
	if o.excluded {
		return false
	}
	for i := range o.rules {
		if o.rules[i].Type == Include && o.included&(1<<i) == 0 {
			return false
		}
	}
	return true
}

// maskAll is r.re.ReplaceAll(src, r.Placeholder), with the same matches,
// whose searches scan at most about maskScans times len(src) bytes: past
// that, the rest of src is replaced by the placeholder whole and cut is
// true. RE2 reads on past a match while a preferred alternative may still
// match, so a search is charged what it may have scanned: to the end of src
// when nothing matched or the pattern's matches are unbounded (a(.*b)? over
// "aaa…" is why), else to the match's start plus the longest match.
func (r *Rule) maskAll(src []byte) (out []byte, cut bool) {
	// The loop is regexp's replaceAll (Go 1.26), searching from a
	// position through r.after, since regexp offers no search from a
	// position that sees the text before it.
	budget := maskScans * len(src)
	lastMatchEnd, searchPos := 0, 0
	var buf []byte
	for searchPos <= len(src) {
		if budget < 0 && searchPos < len(src) {
			buf = append(buf, src[lastMatchEnd:searchPos]...)
			return r.re.Expand(buf, r.Placeholder, src, r.none), true
		}
		var a []int
		if searchPos == 0 {
			a = r.re.FindSubmatchIndex(src)
		} else {
			// The rune before searchPos, as regexp reads the context of a
			// position (utf8.DecodeLastRune).
			_, w := utf8.DecodeLastRune(src[:searchPos])
			from := searchPos - w
			if a = r.after.FindSubmatchIndex(src[from:]); a != nil {
				a = a[2:] // group 1 of after is re's match
				for i := range a {
					if a[i] >= 0 {
						a[i] += from
					}
				}
			}
		}
		if a == nil {
			break
		}
		if r.maxLen < 0 {
			budget -= len(src) - searchPos
		} else {
			budget -= min(len(src), a[0]+r.maxLen) - searchPos
		}
		buf = append(buf, src[lastMatchEnd:a[0]]...)
		// No placeholder for an empty match right after another match,
		// as regexp does.
		if a[1] > lastMatchEnd || a[0] == 0 {
			buf = r.re.Expand(buf, r.Placeholder, src, a)
		}
		lastMatchEnd = a[1]
		// Advance past this match; always advance at least one character.
		_, width := utf8.DecodeRune(src[searchPos:])
		switch {
		case searchPos+width > a[1]:
			searchPos += width
		case searchPos+1 > a[1]:
			searchPos++ // at the end of src, where width is 0
		default:
			searchPos = a[1]
		}
	}
	return append(buf, src[lastMatchEnd:]...), false
}
