// Package ddintake is an in-process fake of the Datadog HTTP logs intake v2
// (POST /api/v2/logs), the peer of kubeship's Datadog destination in unit,
// integration and benchmark tests.
//
// It enforces the documented API (key, content type, encodings, payload and
// entry limits, reserved attributes) so that a client that passes against it
// passes against Datadog. Where Datadog's behaviour is not documented it is
// stricter rather than laxer, and says so next to the rule: an empty array,
// reserved attributes of the wrong type, a repeated DD-API-KEY or
// Content-Encoding header and stacked encodings are all refused.
//
// It uses the standard library and internal/datadog/datadogtest only, so
// that it stays independent of the client code it checks. Faults (statuses,
// delays, resets) are test/faultinject's proxy's, put in front of it.
package ddintake

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kubeship/kubeship/internal/datadog/datadogtest"
)

// Documented limits of the intake.
const (
	// Path is the only path served.
	Path = "/api/v2/logs"
	// MaxPayload is the largest uncompressed body accepted (5 MB).
	MaxPayload = 5 * 1024 * 1024
	// MaxEntries is the largest array accepted.
	MaxEntries = 1000
	// MaxMessage is the longest message kept; longer ones are cut (1 MB).
	MaxMessage = 1024 * 1024
)

// maxDrain bounds how much of an unread request body is read and discarded
// before answering. Answering while the client is still writing makes it see
// "connection reset" instead of our status, so we drain; the bound keeps a
// runaway client from holding a handler forever.
const maxDrain = 64 << 20

// Options for Start.
type Options struct {
	APIKey string    // the only key accepted; required
	Log    io.Writer // optional: one line per request (status, entries, bytes)
}

// Entry is one accepted log object.
type Entry struct {
	Message   string
	DDSource  string
	DDTags    []string // ddtags split on ',' as sent (no trimming); nil when absent or empty
	Hostname  string
	Service   string
	Status    string
	Timestamp int64          // ms since the epoch, 0 when absent
	Truncated bool           // message was over MaxMessage and cut by the intake
	Attrs     map[string]any // every field of the log object as decoded JSON, reserved ones included
}

// Tag returns the value of the first "key:value" tag. A bare "key" tag
// (Datadog allows value-less tags) matches with an empty value.
func (e Entry) Tag(key string) (string, bool) {
	for _, t := range e.DDTags {
		if v, ok := tagValue(t, key); ok {
			return v, true
		}
	}
	return "", false
}

// TagValues returns the values of every tag named key, in order.
func (e Entry) TagValues(key string) []string {
	var vs []string
	for _, t := range e.DDTags {
		if v, ok := tagValue(t, key); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// tagValue splits on the first ':' only, so values may hold colons (URLs).
func tagValue(tag, key string) (string, bool) {
	k, v, _ := strings.Cut(tag, ":")
	return v, k == key
}

// Server is a running fake intake.
type Server struct {
	key string
	ln  net.Listener
	srv *http.Server
	url string

	logMu sync.Mutex // Options.Log need not be safe for concurrent writes
	log   io.Writer

	mu       sync.Mutex
	entries  []Entry
	counts   map[int]int
	changed  chan struct{} // closed and replaced whenever entries change
	closed   bool
	inflight sync.WaitGroup // Add only under mu while !closed, so Close may Wait

	closeOnce sync.Once
}

// Start listens on 127.0.0.1 on a free port and serves until Close.
func Start(o Options) (*Server, error) {
	if o.APIKey == "" {
		return nil, errors.New("ddintake: Options.APIKey is required")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ddintake: listen on 127.0.0.1: %w", err)
	}
	s := &Server{
		key:     o.APIKey,
		ln:      ln,
		url:     "http://" + ln.Addr().String() + Path,
		log:     o.Log,
		counts:  map[int]int{},
		changed: make(chan struct{}),
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the logs endpoint, http://127.0.0.1:PORT/api/v2/logs.
func (s *Server) URL() string { return s.url }

// Close stops the server and waits for requests in flight, so nothing is
// written to Options.Log once it returns. Calling it again does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		_ = s.srv.Close()
		s.inflight.Wait()
	})
}

// Entries returns every accepted entry in arrival order. The slice is a copy;
// the entries' DDTags and Attrs are shared and must be treated as read-only.
func (s *Server) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.entries...)
}

// WaitEntries waits until at least n entries have been accepted and returns
// them all (as Entries does), or fails after timeout saying how many arrived
// and which answers were sent meanwhile.
func (s *Server) WaitEntries(n int, timeout time.Duration) ([]Entry, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.entries) >= n {
			out := append([]Entry(nil), s.entries...)
			s.mu.Unlock()
			return out, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			s.mu.Lock()
			got, counts := len(s.entries), formatCounts(s.counts)
			s.mu.Unlock()
			return nil, fmt.Errorf("ddintake: %d of %d entries accepted after %s (answers so far: %s)", got, n, timeout, counts)
		}
	}
}

// Requests returns how many answers were sent, by status code (a copy). An
// answer is counted before it is written.
func (s *Server) Requests() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// outcome is what the intake makes of one request.
type outcome struct {
	status   int
	detail   string // error detail sent to the client; never holds the key
	entries  []Entry
	raw      int    // uncompressed bytes read
	encoding string // as sent, for the log line
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()

	wire := &countingReader{r: r.Body}
	var o outcome
	switch {
	case r.URL.Path != Path: // step 1
		o = outcome{status: http.StatusNotFound, detail: "no such path: the logs intake is POST " + Path}
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		o = outcome{status: http.StatusMethodNotAllowed, detail: "method " + r.Method + " not allowed: use POST"}
	default:
		o = s.check(r, wire)
		o.encoding = r.Header.Get("Content-Encoding")
	}
	s.finish(w, r, wire, o)
}

// finish stores, counts, logs and answers. Storing and counting happen before
// the answer is written, so a client that has it finds them in Entries and
// Requests.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, wire *countingReader, o outcome) {
	drain(wire)
	s.mu.Lock()
	if len(o.entries) > 0 {
		s.entries = append(s.entries, o.entries...)
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.counts[o.status]++
	s.mu.Unlock()

	// Logged before answering, so a client that has the answer finds the line.
	s.logf(r, wire, o)

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(o.status)
	if o.status >= 200 && o.status < 300 {
		_, _ = io.WriteString(w, "{}")
	} else {
		_ = json.NewEncoder(w).Encode(errorBody(o.status, o.detail))
	}
}

func (s *Server) logf(r *http.Request, wire *countingReader, o outcome) {
	if s.log == nil {
		return
	}
	line := fmt.Sprintf("ddintake: %s %s -> %d entries=%d bytes=%d wire=%d", r.Method, r.URL.Path, o.status, len(o.entries), o.raw, wire.n)
	if o.encoding != "" {
		line += " encoding=" + strconv.Quote(o.encoding)
	}
	if o.detail != "" {
		line += " detail=" + strconv.Quote(o.detail)
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	_, _ = fmt.Fprintln(s.log, line)
}

type apiError struct {
	Status string `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail,omitempty"`
}

// errorBody has the shape of Datadog's API errors.
func errorBody(status int, detail string) map[string][]apiError {
	return map[string][]apiError{"errors": {{Status: strconv.Itoa(status), Title: http.StatusText(status), Detail: detail}}}
}

func fail(status int, format string, args ...any) outcome {
	return outcome{status: status, detail: fmt.Sprintf(format, args...)}
}

// check applies steps 2 to 7 of the intake's validation.
func (s *Server) check(r *http.Request, wire *countingReader) outcome {
	// Step 2. Constant time, and the detail never echoes what was sent.
	keys := r.Header.Values("DD-API-KEY")
	if len(keys) != 1 || subtle.ConstantTimeCompare([]byte(keys[0]), []byte(s.key)) != 1 {
		return fail(http.StatusForbidden, "API key is invalid")
	}

	// Step 3.
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return fail(http.StatusBadRequest, "Content-Type missing: want application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fail(http.StatusBadRequest, "Content-Type %q unreadable: %v", ct, err)
	}
	if mt != "application/json" {
		return fail(http.StatusBadRequest, "Content-Type %q not supported: want application/json", mt)
	}

	// Step 4. Content codings are case-insensitive (RFC 9110 8.4.1); a
	// stack of codings is not something Datadog documents, so it is refused.
	// HTTP "deflate" is the zlib format; raw DEFLATE fails here, as it may
	// with real servers.
	encs := r.Header.Values("Content-Encoding")
	if len(encs) > 1 {
		return fail(http.StatusBadRequest, "Content-Encoding given %d times: want one of gzip, deflate, identity", len(encs))
	}
	enc := r.Header.Get("Content-Encoding")
	body, err := datadogtest.Uncompress(enc, wire)
	if err != nil {
		return fail(http.StatusBadRequest, "%v", err)
	}

	// Step 5. One byte past the limit is enough to know; memory stays bounded
	// whatever the compression ratio.
	raw, err := io.ReadAll(io.LimitReader(body, MaxPayload+1))
	n := len(raw)
	if len(raw) > MaxPayload {
		o := fail(http.StatusRequestEntityTooLarge, "payload over %d bytes uncompressed", MaxPayload)
		o.raw = n
		return o
	}
	if err != nil {
		o := fail(http.StatusBadRequest, "body unreadable (%s): %v", encodingName(enc), err)
		o.raw = n
		return o
	}

	o := decodeLogs(raw)
	o.raw = n
	return o
}

func encodingName(enc string) string {
	if enc = strings.ToLower(strings.TrimSpace(enc)); enc == "" {
		return "identity"
	}
	return enc
}

// reservedStrings are the reserved attributes documented as strings.
var reservedStrings = []string{"message", "ddsource", "ddtags", "hostname", "service", "status"}

// decodeLogs applies steps 6 and 7.
func decodeLogs(raw []byte) outcome {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	var objs []json.RawMessage
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(raw, &objs); err != nil {
			return fail(http.StatusBadRequest, "body is not valid JSON: %v", err)
		}
		// Datadog documents the 1000-entry limit without naming the status
		// it answers; 413 is our choice because clients split a batch on
		// 413, which is the right reaction to a too long array.
		if len(objs) > MaxEntries {
			return fail(http.StatusRequestEntityTooLarge, "array of %d entries: at most %d", len(objs), MaxEntries)
		}
		// Not documented either way; refused because a client that sends
		// an empty batch has a bug worth seeing.
		if len(objs) == 0 {
			return fail(http.StatusBadRequest, "empty array: no logs to send")
		}
	case len(trimmed) > 0 && trimmed[0] == '{':
		objs = []json.RawMessage{raw}
	default:
		if !json.Valid(raw) {
			return fail(http.StatusBadRequest, "body is not valid JSON")
		}
		return fail(http.StatusBadRequest, "body is JSON %s: want an array of log objects or one log object", jsonKind(trimmed))
	}

	entries := make([]Entry, 0, len(objs))
	for i, obj := range objs {
		obj = bytes.TrimLeft(obj, " \t\r\n")
		if len(obj) == 0 || obj[0] != '{' {
			return fail(http.StatusBadRequest, "entry %d is a JSON %s: want a log object", i, jsonKind(obj))
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(obj, &fields); err != nil {
			return fail(http.StatusBadRequest, "entry %d is not valid JSON: %v", i, err)
		}
		e, err := entryOf(fields)
		if err != nil {
			return fail(http.StatusBadRequest, "entry %d: %v", i, err)
		}
		entries = append(entries, e)
	}
	return outcome{status: http.StatusAccepted, entries: entries}
}

// entryOf reads one log object. Reserved attributes of the wrong type are
// refused: Datadog documents them as strings and timestamp as integer
// milliseconds, and would otherwise coerce or ignore them silently, which
// hides a client bug (logs filed at intake time or without their tags).
func entryOf(fields map[string]json.RawMessage) (Entry, error) {
	e := Entry{Attrs: make(map[string]any, len(fields))}
	for k, v := range fields {
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return e, fmt.Errorf("field %q: %v", k, err)
		}
		e.Attrs[k] = x
	}
	str := map[string]string{}
	for _, name := range reservedStrings {
		v, ok := fields[name]
		if !ok {
			continue
		}
		s, ok := e.Attrs[name].(string)
		if !ok {
			return e, fmt.Errorf("reserved attribute %q must be a JSON string, got %s", name, jsonKind(v))
		}
		str[name] = s
	}
	e.Message, e.DDSource, e.Hostname = str["message"], str["ddsource"], str["hostname"]
	e.Service, e.Status = str["service"], str["status"]
	if t := str["ddtags"]; t != "" {
		e.DDTags = strings.Split(t, ",")
	}
	if v, ok := fields["timestamp"]; ok {
		ms, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || ms < 0 {
			return e, fmt.Errorf("reserved attribute \"timestamp\" must be a non-negative integer of milliseconds since the epoch, got %.40s", v)
		}
		e.Timestamp = ms
	}
	// Step 7: Datadog accepts a longer log and truncates it. Cut on a rune
	// boundary so the message stays valid UTF-8.
	if len(e.Message) > MaxMessage {
		cut := MaxMessage
		for cut > 0 && !utf8.RuneStart(e.Message[cut]) {
			cut--
		}
		e.Message = e.Message[:cut]
		e.Attrs["message"] = e.Message
		e.Truncated = true
	}
	return e, nil
}

// jsonKind names the JSON type starting b, for error details.
func jsonKind(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// countingReader counts the bytes read off the wire, for the log line.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func drain(c *countingReader) { _, _ = io.CopyN(io.Discard, c, maxDrain) }

// formatCounts prints answer counts in status order, e.g. "202×1, 429×2".
func formatCounts(m map[int]int) string {
	if len(m) == 0 {
		return "none"
	}
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d×%d", c, m[c])
	}
	return strings.Join(parts, ", ")
}
