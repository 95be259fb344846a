package multiline

import "bytes"

// auto is automatic detection: see the package doc. Each shape is checked
// by hand on the line's first bytes, so that a line that continues nothing
// costs a few comparisons (the entry reader runs this on every line).
func auto(s *State, open bool, head, line []byte) Verdict {
	if isJSON(line) {
		*s = State{}
		return Alone
	}
	if !open {
		return begin(s, line)
	}
	// Lines that continue whatever trace is open.
	if k := continuation(line); k != kNone {
		if s.kind != k && !(k == kStack && s.kind == kDotnetLog) {
			s.kind, s.object = k, false
		}
		s.object = s.object || bytes.HasSuffix(line, []byte(" {"))
		return Join
	}
	blank := isBlank(line)
	switch s.kind {
	case kNone:
		if blank {
			if announces(head) {
				return Maybe // Spring's "... with root cause", a blank line, the exception
			}
			*s = State{}
			return Alone
		}
		// An exception's first line, a traceback, a goroutine dump after a
		// line that announced them: one record (a logger's message and the
		// trace it prints with it).
		k, joins := opening(line)
		if joins && announces(head) {
			s.kind = k
			return Join
		}
		return start(s, line, k) // continuation said no above
	case kStack:
		switch {
		case blank:
			return Maybe
		case s.object && string(line) == "}":
			s.object = false
			return Join
		case indent(line) > 0:
			s.object = s.object || bytes.HasSuffix(line, []byte(" {"))
			return Join
		case bytes.HasPrefix(line, []byte("Node.js v")):
			return Join
		case startsRecord(line) || hasException(line):
			return begin(s, line)
		}
		if k, _ := opening(line); k != kNone {
			return begin(s, line)
		}
		return loose(s)
	case kPython:
		switch {
		case blank:
			return Maybe
		case indent(line) > 0:
			return Join
		case startsRecord(line):
			return begin(s, line)
		}
		s.kind = kPythonEnd // the exception's line ends the traceback
		return Join
	case kPythonEnd:
		switch {
		case blank:
			return Maybe
		case bytes.Equal(line, duringHandling) || bytes.Equal(line, directCause):
			s.kind = kPythonChain
			return Join
		case indent(line) > 0:
			return Join // the exception's message goes on
		case startsRecord(line):
			return begin(s, line)
		}
		if k, _ := opening(line); k != kNone {
			return begin(s, line)
		}
		return loose(s)
	case kPythonChain:
		if blank {
			return Maybe
		}
		if k, _ := opening(line); k == kPython {
			s.kind = kPython
			return Join
		}
		return begin(s, line)
	case kGo:
		switch {
		case blank:
			return Maybe
		case line[0] == '\t', isGoroutine(line), isGoFunc(line),
			bytes.HasPrefix(line, []byte("[signal ")),
			bytes.Equal(line, []byte("...additional frames elided...")),
			bytes.HasPrefix(line, []byte("exit status ")):
			return Join
		}
		return begin(s, line)
	case kRuby:
		if isRubyFrame(line) {
			return Join
		}
		return begin(s, line)
	case kDotnetLog:
		if bytes.HasPrefix(line, []byte("      ")) {
			return Join
		}
		return begin(s, line)
	case kNodeUncaught:
		switch s.step {
		case 1: // the source line
			s.step = 2
			return Join
		case 2:
			if isCaret(line) {
				s.step = 3
				return Join
			}
		case 3:
			if blank {
				s.step = 4
				return Maybe
			}
		case 4: // the error, then its frames
			if !blank {
				*s = State{kind: kStack, object: bytes.HasSuffix(line, []byte(" {"))}
				return Join
			}
		}
		return begin(s, line)
	}
	return begin(s, line)
}

var (
	duringHandling = []byte("During handling of the above exception, another exception occurred:")
	directCause    = []byte("The above exception was the direct cause of the following exception:")
)

// loose is a line inside a trace that neither continues it by its shape nor
// begins a record (an exception message's further lines, SqlException's
// trailer). When the record's first line began with a time or a level, the
// application writes each record so, and the line continues the record, as
// the Agent's detection joins it; otherwise it joins only if a line that
// continues the trace follows.
func loose(s *State) Verdict {
	if s.stamped {
		return Join
	}
	return Maybe
}

// begin starts a record with line, or continues one begun in an earlier
// chunk (Join with no record open).
func begin(s *State, line []byte) Verdict {
	if k := continuation(line); k != kNone {
		*s = State{kind: k, stamped: startsRecord(line)}
		return Join
	}
	k, _ := opening(line)
	return start(s, line, k)
}

// start starts a record with line, which opens a trace of kind k.
func start(s *State, line []byte, k kind) Verdict {
	*s = State{kind: k, stamped: startsRecord(line)}
	if isBlank(line) {
		*s = State{}
		return Alone
	}
	if k == kNodeUncaught {
		s.step = 1
	}
	return Start
}

// continuation returns the kind of trace a line continues by its shape
// alone, kNone when it does not: a frame (at ...), Caused by:, Suppressed:,
// ... N more, .NET's inner exception markers, Ruby's from-lines, Python's
// File lines, a Go frame's file line, created by.
func continuation(line []byte) kind {
	n := indent(line)
	rest := line[n:]
	if len(rest) == 0 {
		return kNone
	}
	switch rest[0] {
	case 'a':
		// Java, .NET, Node.js frames: indented "at " and a call or a position.
		if n > 0 && bytes.HasPrefix(rest, []byte("at ")) && len(rest) > 3 && rest[3] != ' ' && bytes.ContainsAny(rest[3:], "(:") {
			return kStack
		}
	case 'C':
		if bytes.HasPrefix(rest, []byte("Caused by: ")) {
			return kStack
		}
	case 'S':
		if n > 0 && bytes.HasPrefix(rest, []byte("Suppressed: ")) {
			return kStack
		}
	case '.':
		if bytes.HasPrefix(rest, []byte("... ")) && moreFrames(rest[4:]) {
			return kStack
		}
	case '-':
		if n > 0 && bytes.Equal(rest, []byte("--- End of inner exception stack trace ---")) ||
			bytes.HasPrefix(rest, []byte("--- End of stack trace from previous location")) ||
			n > 0 && bytes.HasPrefix(rest, []byte("---> ")) {
			return kStack
		}
	case 'f':
		// Ruby: "\tfrom /app/lib/x.rb:14:in `run'".
		if n > 0 && bytes.HasPrefix(rest, []byte("from ")) && bytes.Contains(rest, []byte(":in ")) {
			return kRuby
		}
	case 'F':
		// Python: `  File "/app/x.py", line 3, in main`.
		if n > 0 && bytes.HasPrefix(rest, []byte(`File "`)) && bytes.Contains(rest, []byte(`", line `)) {
			return kPython
		}
	case 'c':
		if n == 0 && bytes.HasPrefix(rest, []byte("created by ")) {
			return kGo
		}
	}
	// Go: a frame's "\t/usr/local/go/src/net/http/server.go:3137 +0x8e".
	if line[0] == '\t' && (bytes.Contains(rest, []byte(".go:")) || bytes.Contains(rest, []byte(".s:"))) && rest[0] != 'a' {
		return kGo
	}
	return kNone
}

// moreFrames reports whether b is "N more" or "N common frames omitted".
func moreFrames(b []byte) bool {
	d := 0
	for d < len(b) && isDigit(b[d]) {
		d++
	}
	if d == 0 {
		return false
	}
	b = bytes.TrimRight(b[d:], " ")
	return bytes.Equal(b, []byte(" more")) || bytes.Equal(b, []byte(" common frames omitted"))
}

// opening returns the kind of trace a line opens, kNone when it opens none,
// and whether it may continue the line before it when that line announced
// an error (a logger's message, then the exception it was given).
func opening(line []byte) (k kind, joins bool) {
	n := indent(line)
	rest := line[n:]
	if len(rest) == 0 {
		return kNone, false
	}
	if n > 0 {
		switch {
		case rest[0] == '+' && bytes.Equal(rest, []byte("+ Exception Group Traceback (most recent call last):")):
			return kPython, true
		case isExceptionHeader(rest):
			return kStack, true
		}
		return kNone, false
	}
	// Shapes that begin with their own word, by its first byte; then an
	// exception's name, Node.js's crash header, Ruby's exception. None
	// begins with a digit, as a timestamped line does.
	switch line[0] {
	case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '[', '{':
		return kNone, false
	case 'p':
		if bytes.HasPrefix(line, []byte("panic: ")) {
			return kGo, false
		}
	case 'f':
		if bytes.HasPrefix(line, []byte("fatal error: ")) {
			return kGo, false
		}
	case 'g':
		if isGoroutine(line) {
			return kGo, true
		}
	case 'T':
		if bytes.Equal(line, []byte("Traceback (most recent call last):")) {
			return kPython, true
		}
	case 'E':
		if bytes.HasPrefix(line, []byte(`Exception in thread "`)) {
			return kStack, false
		}
	case 'U':
		if bytes.HasPrefix(line, []byte("Unhandled exception. ")) {
			return kStack, false
		}
	}
	switch {
	case isExceptionHeader(line):
		return kStack, true
	case isNodeHeader(line):
		return kNodeUncaught, false
	case isDotnetLog(line):
		return kDotnetLog, false
	case isRubyHead(line):
		return kRuby, false
	}
	return kNone, false
}

// isExceptionHeader reports whether b is an exception's first line as
// Java, Kotlin, Scala, .NET and Node.js print it: a (qualified) class name
// with Exception, Error, Throwable, Failure or Fault in its last part, .NET's
// optional (0x80131904), then the end of the line or ": " and the message.
func isExceptionHeader(b []byte) bool {
	i, last := 0, 0
	for {
		start := i
		for i < len(b) && isIdent(b[i]) {
			i++
		}
		if i == start || isDigit(b[start]) {
			return false
		}
		last = start
		if i < len(b) && b[i] == '.' {
			i++
			continue
		}
		break
	}
	name := b[last:i]
	if !(bytes.Contains(name, []byte("Exception")) || bytes.Contains(name, []byte("Error")) ||
		bytes.Contains(name, []byte("Throwable")) || bytes.Contains(name, []byte("Failure")) || bytes.Contains(name, []byte("Fault"))) {
		return false
	}
	rest := b[i:]
	if bytes.HasPrefix(rest, []byte(" (0x")) {
		if end := bytes.IndexByte(rest, ')'); end > 0 {
			rest = rest[end+1:]
		}
	}
	return len(rest) == 0 || rest[0] == ':' && (len(rest) == 1 || rest[1] == ' ')
}

// hasException reports whether an unindented line names an exception with
// its message, as a message a logger prefixes to an error does
// ("Failed to sync inventory Error: connect ECONNREFUSED"): a word
// beginning with a capital letter that ends in Error or Exception, then ":".
func hasException(line []byte) bool {
	for _, w := range [][]byte{[]byte("Error:"), []byte("Exception:")} {
		for at := 0; ; {
			i := bytes.Index(line[at:], w)
			if i < 0 {
				break
			}
			i += at
			at = i + len(w)
			j := i
			for j > 0 && isIdent(line[j-1]) {
				j--
			}
			if line[j] >= 'A' && line[j] <= 'Z' && (j == 0 || line[j-1] == ' ') && (at == len(line) || line[at] == ' ') {
				return true
			}
		}
	}
	return false
}

// isGoroutine reports whether line is a goroutine's header in a Go trace:
// "goroutine 34 [running]:" (Go 1.23 may add gp=… m=… before the bracket).
func isGoroutine(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("goroutine "))
	if !ok || len(rest) == 0 || !isDigit(rest[0]) {
		return false
	}
	for len(rest) > 0 && isDigit(rest[0]) {
		rest = rest[1:]
	}
	return len(rest) > 3 && rest[0] == ' ' && bytes.HasSuffix(rest, []byte("]:")) && bytes.IndexByte(rest, '[') > 0
}

// isGoFunc reports whether line is a Go frame's function line:
// "main.(*Router).pick(0xc0000b2000, {0xc0001a8000, 0x3, 0x4})", "main.main()".
func isGoFunc(line []byte) bool {
	if len(line) < 3 || line[len(line)-1] != ')' || !isIdent(line[0]) {
		return false
	}
	open := bytes.IndexByte(line, '(')
	return open > 0 && bytes.IndexByte(line[:open], ' ') < 0
}

// isNodeHeader reports whether line is the first line Node.js prints when it
// crashes: the throwing file and line ("/app/src/server.js:88",
// "node:internal/process/promises:289").
func isNodeHeader(line []byte) bool {
	if len(line) == 0 || !(line[0] == '/' || bytes.HasPrefix(line, []byte("node:")) || bytes.HasPrefix(line, []byte("file:///"))) ||
		bytes.IndexByte(line, ' ') >= 0 {
		return false
	}
	colon := bytes.LastIndexByte(line, ':')
	if colon < 1 || colon == len(line)-1 {
		return false
	}
	for _, c := range line[colon+1:] {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// isCaret is the caret line under the source line of a Node.js crash.
func isCaret(line []byte) bool {
	b := bytes.TrimSpace(line)
	return len(b) > 0 && len(bytes.Trim(b, "^")) == 0
}

// isDotnetLog reports whether line is the first line of a message of ASP.NET
// Core's console logger: "fail: Microsoft.AspNetCore.Server.Kestrel[13]".
func isDotnetLog(line []byte) bool {
	if len(line) < 9 || line[4] != ':' || line[5] != ' ' || line[len(line)-1] != ']' {
		return false
	}
	switch string(line[:4]) {
	case "trce", "dbug", "info", "warn", "fail", "crit":
	default:
		return false
	}
	open := bytes.LastIndexByte(line, '[')
	if open < 7 || open > len(line)-3 || bytes.IndexByte(line[6:open], ' ') >= 0 {
		return false
	}
	for _, c := range line[open+1 : len(line)-1] {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// isRubyHead reports whether line is a Ruby exception's first line:
// "/app/lib/importer.rb:27:in `parse_row': undefined method ... (NoMethodError)".
func isRubyHead(line []byte) bool {
	if len(line) == 0 || line[len(line)-1] != ')' {
		return false
	}
	i := bytes.Index(line, []byte(":in "))
	if i < 0 || i+4 >= len(line) || (line[i+4] != '`' && line[i+4] != '\'') {
		return false
	}
	open := bytes.LastIndexByte(line, '(')
	if open < i || open+2 > len(line)-1 || line[open+1] < 'A' || line[open+1] > 'Z' {
		return false
	}
	for _, c := range line[open+1 : len(line)-1] {
		if !isIdent(c) && c != ':' {
			return false
		}
	}
	return true
}

// isRubyFrame reports whether line is an unindented Ruby frame, as Logger
// writes a backtrace: "/app/lib/billing.rb:12:in `block in run'".
func isRubyFrame(line []byte) bool {
	if len(line) == 0 || line[len(line)-1] != '\'' {
		return false
	}
	i := bytes.Index(line, []byte(":in "))
	return i > 0 && i+5 < len(line) && (line[i+4] == '`' || line[i+4] == '\'') && line[len(line)-1] == '\'' &&
		bytes.IndexByte(line[:i], ' ') < 0
}

// startsRecord reports whether line begins as a log record does: with a date
// or a time (or an address: an access log), a level (INFO, [ERROR],
// "I, [" as Ruby's Logger, klog's I0514), or a logfmt key.
func startsRecord(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	c := line[0]
	switch {
	case isDigit(c):
		return true
	case c == '[':
		return len(line) > 1 && (isDigit(line[1]) || levelWord(line[1:]) > 0)
	case c >= 'A' && c <= 'Z':
		if n := levelWord(line); n > 0 {
			return true
		}
		// Ruby's Logger (I, [2024-…) and klog (I0514 09:31:03).
		if len(line) > 3 && line[1] == ',' && line[2] == ' ' && line[3] == '[' {
			return true
		}
		if len(line) > 5 && isDigit(line[1]) && isDigit(line[2]) && isDigit(line[3]) && isDigit(line[4]) && line[5] == ' ' {
			return true
		}
		return isMonth(line)
	case c >= 'a' && c <= 'z':
		for _, k := range logfmtKeys {
			if bytes.HasPrefix(line, k) {
				return true
			}
		}
	}
	return false
}

var logfmtKeys = [][]byte{[]byte("ts="), []byte("time="), []byte("level="), []byte("lvl="), []byte("t="), []byte("timestamp="), []byte("msg=")}

var levels = [][]byte{[]byte("TRACE"), []byte("DEBUG"), []byte("INFO"), []byte("NOTICE"), []byte("WARN"), []byte("WARNING"),
	[]byte("ERROR"), []byte("FATAL"), []byte("CRITICAL"), []byte("SEVERE"), []byte("ALERT"), []byte("EMERG"),
	[]byte("DBG"), []byte("INF"), []byte("WRN"), []byte("ERR"), []byte("FTL"), []byte("CRIT")}

// levelWord returns the length of the level in upper case b begins with,
// followed by a space, ':', ']', '|' or ',', 0 when none.
func levelWord(b []byte) int {
	n := 0
	for n < len(b) && b[n] >= 'A' && b[n] <= 'Z' {
		n++
	}
	if n < 3 || n == len(b) || !bytes.ContainsRune([]byte(" :]|,/"), rune(b[n])) {
		return 0
	}
	for _, l := range levels {
		if bytes.Equal(b[:n], l) {
			return n
		}
	}
	return 0
}

var months = []string{"Jan ", "Feb ", "Mar ", "Apr ", "May ", "Jun ", "Jul ", "Aug ", "Sep ", "Oct ", "Nov ", "Dec "}

// isMonth reports a syslog time: "May 14 09:31:02".
func isMonth(line []byte) bool {
	if len(line) < 6 || !(isDigit(line[4]) || line[4] == ' ') {
		return false
	}
	for _, m := range months {
		if string(line[:4]) == m {
			return true
		}
	}
	return false
}

// announcing are the words by which a line announces an error, and the
// exception or trace printed after it: a level, or what a message says.
var announcing = []string{"error", "err", "errors", "fatal", "ftl", "critical", "crit", "severe", "warn", "warning", "wrn",
	"fail", "failed", "failure", "exception", "unhandled", "uncaught", "panic", "traceback"}

// announces reports whether a record's first line announces an exception
// printed after it: it names an error (a word of announcing, in any case) or
// ends with ':'. A JSON line announces nothing.
func announces(head []byte) bool {
	head = bytes.TrimRight(head, " \t")
	if len(head) == 0 || isJSON(head) {
		return false
	}
	if head[len(head)-1] == ':' {
		return true
	}
	for i := 0; i < len(head); {
		if !isLetter(head[i]) {
			i++
			continue
		}
		j := i
		for j < len(head) && isLetter(head[j]) {
			j++
		}
		if j-i >= 3 && j-i <= 9 {
			var w [9]byte
			for k := i; k < j; k++ {
				w[k-i] = head[k] | 0x20
			}
			for _, a := range announcing {
				if string(w[:j-i]) == a {
					return true
				}
			}
		}
		i = j
	}
	return false
}

func isJSON(line []byte) bool { return len(line) > 0 && line[0] == '{' }

func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// indent is the number of spaces and tabs line begins with.
func indent(line []byte) int {
	n := 0
	for n < len(line) && (line[n] == ' ' || line[n] == '\t') {
		n++
	}
	return n
}

func trimCR(line []byte) []byte {
	if len(line) > 0 && line[len(line)-1] == '\r' {
		return line[:len(line)-1]
	}
	return line
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isIdent(c byte) bool  { return isLetter(c) || isDigit(c) || c == '_' || c == '$' }
