package annotations

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The budgets of what a pod may ask of the aggregator. The aggregator is
// shared by every team of a cluster and a pod owner writes its annotations:
// what they ask is bounded, a rule or tag over a bound is skipped, and the
// pod's problem line says so.
//
// A regular expression costs CPU on every line in proportion to its compiled
// program: Go's regexp (RE2) runs in time linear in the text, but each byte
// may step every instruction of the program. Measured with
// BenchmarkRuleCost on a shared 2-core AMD EPYC (Go 1.26), per 1 KB line:
// the worst program of maxRuleInsts instructions (.{253}Z, every
// instruction live on a line without Z) 1.8 to 3.5 ms, 7 to 13 ns per
// instruction and byte; a container of them up to maxRulesCost 7 to 12 ms.
// Datadog's documented rules are not cheap either: its card-number mask and
// its RFC 5322 e-mail mask compile to 117 instructions each and cost 160 and
// 80 µs on a line they do not match; \w+@datadoghq.com (18) about 45 µs.
// The reviewer's 721-byte pattern cost about 1 s. So no bound that admits
// Datadog's examples holds the worst rule to tens of µs per KB: these admit
// the documented rules with room (2×) and cut the worst container to about
// 1/80 of the reviewer's one rule. Bounding a pod's share of the CPU
// whatever its rules would take a budget of work per pod and flush, which
// drops its lines past it.
const (
	// maxPatternBytes bounds a pattern's text: twice the longest pattern
	// in Datadog's documentation (the RFC 5322 e-mail mask, 446 bytes).
	// Parsing is linear in it; a longer one is no rule a person maintains.
	maxPatternBytes = 1024
	// maxRuleInsts bounds a rule's compiled program (regexp/syntax:
	// Parse, Simplify, Compile, len(Prog.Inst)): twice Datadog's largest
	// documented rule (117). Its worst case is 2 to 3.5 ms per 1 KB line.
	maxRuleInsts = 256
	// maxRules bounds the rules applied to a container: Datadog's examples
	// use one to three, its list of commonly used rules has eight kinds.
	// Include rules are tracked in a uint32 (see Object).
	maxRules = 16
	// maxRulesCost bounds the sum of a container's rule costs (see
	// ruleCost): the work per byte of every line. 1024 admits the
	// documented card and e-mail masks together (468 each) and a few
	// small rules; its worst case is 7 to 12 ms per 1 KB line.
	maxRulesCost = 1024
	// maskScans bounds the searches of one mask_sequences rule in one
	// text that has a match, in bytes scanned, as a multiple of the
	// text's length (see Rule.maskAll): RE2 finds the matches of a
	// ReplaceAll one after another, and a search may scan to the end of
	// the text, so a(.*b)? over "aaa…" scans n²/2 bytes (measured with
	// regexp.ReplaceAll: 10 ms for a 1 KB line, 2.8 s for 16 KB, 144 s for
	// 64 KB; bounded, 0.1 ms for 1 KB). A pattern of bounded matches (a
	// card number) is charged what it can scan, so its matches are found
	// one by one however many; an unbounded one (token=\w+) finds about 3
	// spread over a text, more when they cluster at its end. Past the
	// bound the rest of the text is masked whole (Object.Cut), so what a
	// rule masks never leaves.
	maskScans = 2
	// maxAnnotationBytes bounds each annotation read (the pod's tags, the
	// container's tags and logs): 16 rules of maxPatternBytes fit twice.
	// Kubernetes allows 256 KB for all of a pod's annotations.
	maxAnnotationBytes = 32 << 10
	// maxTags bounds the tags of a container's tags annotations together:
	// Datadog takes at most 100 tags per log, and kubeship derives 20 to
	// 30 itself.
	maxTags = 32
	// maxQuoted bounds each piece of pod text a problem line quotes
	// (names, types, errors), and maxLineBytes a whole line, so that a
	// pod cannot write kilobytes into kubeship's log.
	maxQuoted    = 128
	maxLineBytes = 1024
)

// ruleCost is what a rule adds to maxRulesCost: its instructions, times the
// scans it may make of a text: one for exclude_at_match and
// include_at_match (one search), 2+maskScans for mask_sequences (a
// search for any match, then the searches for each match, maskScans
// times the text and the one that crosses that bound).
func ruleCost(typ RuleType, insts int) int {
	if typ == Mask {
		return insts * (2 + maskScans)
	}
	return insts
}

// newRule compiles a rule within the budgets: the program is sized with
// regexp/syntax, as regexp compiles it, before regexp compiles it. insts is
// its size; why says what is wrong, "" when nothing is.
func newRule(typ RuleType, name, pattern, placeholder string) (r Rule, insts int, why string) {
	const invalid = "pattern is not a valid RE2 regular expression: "
	if len(pattern) > maxPatternBytes {
		return r, 0, fmt.Sprintf("pattern of %d bytes, over the limit of %d", len(pattern), maxPatternBytes)
	}
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return r, 0, invalid + quote(err.Error())
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return r, 0, invalid + quote(err.Error())
	}
	if insts = len(prog.Inst); insts > maxRuleInsts {
		return r, insts, fmt.Sprintf("compiled program of %d instructions, over the limit of %d (each costs CPU on every line)", insts, maxRuleInsts)
	}
	r = Rule{Type: typ, Name: name}
	if r.re, err = regexp.Compile(pattern); err != nil {
		return r, insts, invalid + quote(err.Error())
	}
	if typ != Mask {
		return r, insts, ""
	}
	r.Placeholder = []byte(placeholder)
	// after is (?s:.)(pattern): the pattern as written, a balanced
	// expression, else as regexp/syntax prints it (a \Q without \E
	// quotes the closing parenthesis).
	for _, p := range []string{pattern, parsed.String()} {
		after, err := regexp.Compile("(?s:.)(" + p + ")")
		if err == nil && after.NumSubexp() == r.re.NumSubexp()+1 {
			r.after = after
			break
		}
	}
	if r.after == nil {
		return r, insts, "pattern cannot be searched from a position" // not seen: a safeguard
	}
	r.none = make([]int, 2*(r.re.NumSubexp()+1))
	for i := range r.none {
		r.none[i] = -1
	}
	r.maxLen = maxLen(parsed)
	return r, insts, ""
}

// multiLine is a multi_line rule's type: not one of Rules, which apply to
// records; its pattern splits a container's lines into records.
const multiLine RuleType = -1

// newMultiLine compiles a multi_line rule's pattern as the Agent compiles it,
// "^" + pattern (so that in a|b only a is anchored, as there), within the
// budgets of a rule that searches each line once (ruleCost of
// exclude_at_match): insts is its size, why what is wrong.
func newMultiLine(pattern string) (re *regexp.Regexp, insts int, why string) {
	if len(pattern) > maxPatternBytes {
		return nil, 0, fmt.Sprintf("pattern of %d bytes, over the limit of %d", len(pattern), maxPatternBytes)
	}
	r, insts, why := newRule(Exclude, "", "^"+pattern, "")
	return r.re, insts, why
}

// maxLen returns the longest text in bytes re can match, -1 when it is
// unbounded (or beyond 1 MB, as good as unbounded for the mask budget).
func maxLen(re *syntax.Regexp) int {
	const unbounded = 1 << 20
	var walk func(re *syntax.Regexp) int
	walk = func(re *syntax.Regexp) int {
		n := 0
		switch re.Op {
		case syntax.OpLiteral:
			for _, r := range re.Rune {
				n += runeBytes(r, re.Flags&syntax.FoldCase != 0)
			}
		case syntax.OpCharClass:
			if len(re.Rune) > 0 {
				n = utf8.RuneLen(min(re.Rune[len(re.Rune)-1], utf8.MaxRune))
			}
		case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			n = utf8.UTFMax
		case syntax.OpCapture, syntax.OpQuest:
			n = walk(re.Sub[0])
		case syntax.OpStar, syntax.OpPlus:
			if walk(re.Sub[0]) > 0 {
				n = unbounded
			}
		case syntax.OpRepeat:
			sub := walk(re.Sub[0])
			switch {
			case sub == 0:
			case re.Max < 0:
				n = unbounded
			default:
				n = min(unbounded, re.Max*sub)
			}
		case syntax.OpConcat:
			for _, s := range re.Sub {
				n = min(unbounded, n+walk(s))
			}
		case syntax.OpAlternate:
			for _, s := range re.Sub {
				n = max(n, walk(s))
			}
		}
		return n
	}
	if n := walk(re); n < unbounded {
		return n
	}
	return -1
}

// runeBytes is the longest UTF-8 encoding of r, or of a rune it folds to.
func runeBytes(r rune, fold bool) int {
	n := utf8.RuneLen(r)
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			n = max(n, utf8.RuneLen(f))
		}
	}
	return max(n, 1)
}

// quote returns pod-written text for a problem line: cut to maxQuoted bytes
// (on a character boundary) and Go-quoted, so that no control character,
// newline included, reaches kubeship's log and forges a line of its own.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + fmt.Sprintf("…(%d bytes)", len(s))
}

// name returns a Kubernetes name for a problem line: as it is when it looks
// like one (DNS labels and subdomains: what the API server allows), else
// quoted. The kubernetes filter's names come from the API server, but a
// record's map can say anything.
func name(b []byte) string {
	if len(b) == 0 || len(b) > 253 {
		return quote(string(b))
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return quote(string(b))
		}
	}
	return string(b)
}

// cutLine bounds a problem line to maxLineBytes.
func cutLine(line string) string {
	if len(line) <= maxLineBytes {
		return line
	}
	const more = "…(cut)"
	n := maxLineBytes - len(more)
	for n > 0 && !utf8.RuneStart(line[n]) {
		n--
	}
	return strings.ToValidUTF8(line[:n], "") + more
}
