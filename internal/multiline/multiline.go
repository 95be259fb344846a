// Package multiline decides which lines of a container's stream make one
// record: the lines of a stack trace (Java, Kotlin and Scala, Python, Go,
// Node.js, Ruby, .NET), found by the shapes their runtimes and logging
// libraries print, or, with a pod's multi_line rule
// (ad.datadoghq.com/<container>.logs), the lines that do not match the
// rule's start pattern, as the Datadog Agent joins them.
//
// It looks at one line at a time, given the state the record's lines so far
// left and the record's first line; internal/entry holds the lines of each
// container and stream back and joins them. Detection is conservative: a
// line joins the one before it only when its shape says it continues a
// trace (a frame, "Caused by:", a traceback's lines, a goroutine dump), or
// when it is an exception's first line and the line before it announced an
// error; JSON lines, and lines that begin with a timestamp or a level, begin
// a record of their own, so two single-line logs are never joined.
package multiline

import "regexp"

// Verdict is what a line is to the record open before it.
type Verdict uint8

// Verdicts.
const (
	// Start: the line begins a record.
	Start Verdict = iota
	// Join: the line continues the open record. With no record open (the
	// first line of a container's stream in a chunk), it begins one that
	// continues a record begun earlier: a trace split across chunks.
	Join
	// Maybe: the line continues the open record if a line that joins it
	// follows (a blank line inside a trace, an exception message's second
	// line); otherwise it is a record of its own.
	Maybe
	// Alone: the line is a record of its own, and no line joins it (a JSON
	// line).
	Alone
)

// Mode is how a container's lines are joined. The zero Mode joins none.
type Mode struct {
	// Auto detects stack traces (auto_multiline).
	Auto bool
	// Rule is a pod's multi_line pattern, compiled as the Agent compiles it
	// ("^" + pattern): a line it matches begins a record, every other line
	// continues the record before it. It replaces Auto.
	Rule *regexp.Regexp
}

// On reports whether the mode joins lines at all.
func (m Mode) On() bool { return m.Auto || m.Rule != nil }

// State is what the lines of an open record say about the next one. The
// zero State is no record.
type State struct {
	kind    kind
	step    uint8 // kNodeUncaught: the lines seen of its header
	object  bool  // a Node.js error's properties are open ({ ... })
	stamped bool  // the record's first line begins with a time or a level
}

// kind is the shape of an open record.
type kind uint8

const (
	kNone         kind = iota // a line, no trace yet
	kStack                    // Java, .NET, Node.js frames (at ...), Caused by:
	kPython                   // inside a traceback: File lines and source
	kPythonEnd                // after a traceback's exception line
	kPythonChain              // after "During handling ..." / "The above exception ..."
	kGo                       // a panic, a goroutine dump
	kRuby                     // a Ruby exception and its from-lines
	kDotnetLog                // ASP.NET Core's console logger: a category line, indented lines
	kNodeUncaught             // Node.js's crash header: file:line, source, caret
)

// Next says what line is to the open record, whose state is s and first line
// head (open is false when no record is open: then head is nil). It updates
// s to the state of the record line ends up in: the open one for Join and
// Maybe, a new one for Start and Alone.
func (m Mode) Next(s *State, open bool, head, line []byte) Verdict {
	if m.Rule != nil {
		// The Agent's multi_line: a match starts a record, any other line
		// is appended (to nothing, when no record is open).
		*s = State{}
		if m.Rule.Match(line) {
			return Start
		}
		return Join
	}
	if !m.Auto {
		*s = State{}
		return Alone
	}
	return auto(s, open, head, trimCR(line))
}
