// Package multiline holds a corpus of real-shaped stack traces (Java, Python,
// Go, Node.js, Ruby, .NET) interleaved with single-line logs of the same pod
// and of its other stream, and runs it through kubeship: the entry reader
// and each destination's encoder directly, and the EKS Fargate path with real
// Fluent Bits (router → es → aggregator → kubeship → Loki and the Datadog
// intake). Every trace must arrive as exactly one entry, every single line as
// itself.
//
// The corpus is testdata/corpus/<language>.txt, one container's output each:
//
//	=== # a comment
//	=== lines <stdout|stderr>        every line below is a single-line log
//	=== trace <stdout|stderr> <name> the lines below are one multi-line record
//	>>> <stdout|stderr> <text>       inside a trace: a single-line log of that
//	                                 stream written between two of its lines
//
// Blank lines count inside a trace (Go and Python print them), and are
// ignored in a lines block and at a trace's end.
package multiline

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Event is one record the application meant: a trace (several lines) or a
// single line.
type Event struct {
	File   string // the corpus file, e.g. java
	Name   string // a trace's name; "" for a single line
	Stream string
	Lines  []string
}

// Trace reports whether the event is a multi-line record.
func (e *Event) Trace() bool { return e.Name != "" }

// Text is the event as one entry: its lines joined with "\n".
func (e *Event) Text() string { return strings.Join(e.Lines, "\n") }

// Write is one line as the container runtime writes it to the log file.
type Write struct {
	Event  *Event
	Stream string
	Text   string
}

// File is one container's output: its events, and its lines in the order
// they were written.
type File struct {
	Name   string
	Events []*Event
	Writes []Write
}

// Traces and Singles count the file's events of each kind.
func (f *File) Traces() int  { return f.count(true) }
func (f *File) Singles() int { return f.count(false) }

func (f *File) count(trace bool) int {
	n := 0
	for _, e := range f.Events {
		if e.Trace() == trace {
			n++
		}
	}
	return n
}

// Load reads every corpus file of dir (testdata/corpus), sorted by name.
func Load(dir string) ([]*File, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var files []*File
	for _, p := range paths {
		f, err := Read(p)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no corpus files in %s", dir)
	}
	return files, nil
}

// Read parses one corpus file.
func Read(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f := &File{Name: strings.TrimSuffix(filepath.Base(path), ".txt")}
	var trace *Event // the trace being read
	lines := ""      // the stream of a lines block; "" outside one
	// A trace's blank lines are written only once a line follows them.
	var blanks []Write
	endTrace := func() {
		if trace != nil {
			blanks = nil
			if len(trace.Lines) == 0 {
				err = fmt.Errorf("%s: trace %s has no line", path, trace.Name)
			}
			for len(trace.Lines) > 0 && strings.TrimSpace(trace.Lines[len(trace.Lines)-1]) == "" {
				trace.Lines = trace.Lines[:len(trace.Lines)-1]
			}
		}
		trace = nil
	}
	single := func(stream, text string) {
		e := &Event{File: f.Name, Stream: stream, Lines: []string{text}}
		f.Events = append(f.Events, e)
		f.Writes = append(f.Writes, Write{e, stream, text})
	}
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if h, ok := strings.CutPrefix(l, "=== "); ok {
			endTrace()
			lines = ""
			fields := strings.Fields(h)
			switch {
			case strings.HasPrefix(h, "#"):
			case len(fields) == 2 && fields[0] == "lines" && stream(fields[1]):
				lines = fields[1]
			case len(fields) == 3 && fields[0] == "trace" && stream(fields[1]):
				trace = &Event{File: f.Name, Name: fields[2], Stream: fields[1]}
				f.Events = append(f.Events, trace)
			default:
				return nil, fmt.Errorf("%s:%d: want === lines <stream>, === trace <stream> <name> or === # comment, got %q", path, n, l)
			}
			continue
		}
		if rest, ok := strings.CutPrefix(l, ">>> "); ok {
			s, text, _ := strings.Cut(rest, " ")
			if trace == nil || !stream(s) || s == trace.Stream {
				return nil, fmt.Errorf("%s:%d: >>> <stream> <text> interleaves a line of the other stream into a trace", path, n)
			}
			single(s, text)
			continue
		}
		switch {
		case trace != nil:
			trace.Lines = append(trace.Lines, l)
			w := Write{trace, trace.Stream, l}
			if strings.TrimSpace(l) == "" {
				blanks = append(blanks, w)
				continue
			}
			f.Writes = append(append(f.Writes, blanks...), w)
			blanks = nil
		case lines != "" && strings.TrimSpace(l) != "":
			single(lines, l)
		case strings.TrimSpace(l) != "":
			return nil, fmt.Errorf("%s:%d: a line outside a block", path, n)
		}
	}
	endTrace()
	if err != nil {
		return nil, err
	}
	return f, sc.Err()
}

func stream(s string) bool { return s == "stdout" || s == "stderr" }
