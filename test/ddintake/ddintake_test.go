package ddintake

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kubeship/kubeship/internal/datadog/datadogtest"
	"github.com/kubeship/kubeship/test/proc"
)

const testKey = "0123456789abcdef-test-key"

func start(t *testing.T, o Options) *Server {
	t.Helper()
	if o.APIKey == "" {
		o.APIKey = testKey
	}
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

type response struct {
	status int
	header http.Header
	body   []byte
}

type edit func(*http.Request)

func withKey(k string) edit { return func(r *http.Request) { r.Header.Set("DD-API-KEY", k) } }
func withoutHeader(name string) edit {
	return func(r *http.Request) { r.Header.Del(name) }
}
func withHeader(name, value string) edit {
	return func(r *http.Request) { r.Header.Set(name, value) }
}
func addHeader(name, value string) edit {
	return func(r *http.Request) { r.Header.Add(name, value) }
}
func withMethod(m string) edit { return func(r *http.Request) { r.Method = m } }
func withPath(p string) edit   { return func(r *http.Request) { r.URL.Path = p } }
func withQuery(q string) edit  { return func(r *http.Request) { r.URL.RawQuery = q } }

// post sends body as the intake wants it (key, JSON), after edits. It returns
// an error rather than failing, for use from other goroutines.
func post(c *http.Client, s *Server, body []byte, edits ...edit) (response, error) {
	req, err := http.NewRequest(http.MethodPost, s.URL(), bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("DD-API-KEY", testKey)
	req.Header.Set("Content-Type", "application/json")
	for _, e := range edits {
		e(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("read answer: %w", err)
	}
	// The key must never come back, whatever the answer: neither the
	// server's own nor any the client sent.
	keys := append([]string{testKey}, req.Header.Values("DD-API-KEY")...)
	for _, k := range keys {
		if len(k) < 4 {
			continue
		}
		if bytes.Contains(b, []byte(k)) {
			return response{}, fmt.Errorf("answer %d echoes API key %q: %s", resp.StatusCode, k, b)
		}
		for name, vs := range resp.Header {
			for _, v := range vs {
				if strings.Contains(v, k) {
					return response{}, fmt.Errorf("answer header %s echoes API key %q", name, k)
				}
			}
		}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func send(t *testing.T, s *Server, body []byte, edits ...edit) response {
	t.Helper()
	r, err := post(http.DefaultClient, s, body, edits...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %.300s)", r.status, status, r.body)
	}
}

// apiErr decodes a Datadog-shaped error answer and checks its shape.
func apiErr(t *testing.T, r response) (title, detail string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error answer Content-Type %q, want application/json", ct)
	}
	var e struct {
		Errors []struct {
			Status string `json:"status"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || len(e.Errors) != 1 {
		t.Fatalf("error answer is not {\"errors\":[one error]}: %v: %s", err, r.body)
	}
	if e.Errors[0].Status != strconv.Itoa(r.status) {
		t.Errorf("errors[0].status %q, want %q", e.Errors[0].Status, strconv.Itoa(r.status))
	}
	if e.Errors[0].Title != http.StatusText(r.status) {
		t.Errorf("errors[0].title %q, want %q", e.Errors[0].Title, http.StatusText(r.status))
	}
	return e.Errors[0].Title, e.Errors[0].Detail
}

func gzipped(b []byte) []byte { return datadogtest.Compress("gzip", b) }
func zlibbed(b []byte) []byte { return datadogtest.Compress("deflate", b) }

// rawDeflated is DEFLATE without the zlib wrapper HTTP "deflate" means.
func rawDeflated(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func identity(b []byte) []byte { return b }

// logs is an array of n entries with messages prefix0, prefix1, ...
func logs(prefix string, n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"message":"%s%d"}`, prefix, i)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// sizedPayload is a valid array of exactly size bytes, no message over 1 MiB.
func sizedPayload(t *testing.T, size int) []byte {
	t.Helper()
	const k = 6
	pad := size - (len(`[]`) + (k - 1) + k*len(`{"message":""}`))
	msgs := make([]map[string]string, k)
	for i := range msgs {
		n := pad / k
		if i < pad%k {
			n++
		}
		msgs[i] = map[string]string{"message": strings.Repeat("a", n)}
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != size {
		t.Fatalf("sizedPayload built %d bytes, want %d", len(b), size)
	}
	return b
}

func messages(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Message
	}
	return out
}

func TestStartRequiresAPIKey(t *testing.T) {
	s, err := Start(Options{})
	if err == nil {
		s.Close()
		t.Fatal("Start without APIKey succeeded")
	}
	if !strings.Contains(err.Error(), "APIKey is required") {
		t.Errorf("error %q does not say the APIKey is required", err)
	}
}

func TestURLIsLoopbackLogsEndpoint(t *testing.T) {
	s := start(t, Options{})
	u := s.URL()
	if !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.HasSuffix(u, "/api/v2/logs") {
		t.Errorf("URL %q, want http://127.0.0.1:PORT/api/v2/logs", u)
	}
}

const fullPayload = `[
 {"message":"hello","ddsource":"kubernetes","ddtags":"env:prod,team:a,team:b","hostname":"node-1",
  "service":"api","status":"info","timestamp":1700000000123,"kubernetes":{"pod_name":"p"},"count":3},
 {"message":"second"}
]`

func fullEntries() []Entry {
	return []Entry{{
		Message: "hello", DDSource: "kubernetes", DDTags: []string{"env:prod", "team:a", "team:b"},
		Hostname: "node-1", Service: "api", Status: "info", Timestamp: 1700000000123,
		Attrs: map[string]any{
			"message": "hello", "ddsource": "kubernetes", "ddtags": "env:prod,team:a,team:b",
			"hostname": "node-1", "service": "api", "status": "info", "timestamp": float64(1700000000123),
			"kubernetes": map[string]any{"pod_name": "p"}, "count": float64(3),
		},
	}, {
		Message: "second", Attrs: map[string]any{"message": "second"},
	}}
}

func TestAcceptsEveryDocumentedEncoding(t *testing.T) {
	for _, tc := range []struct {
		name   string
		encode func([]byte) []byte
		edits  []edit
	}{
		{"identity_without_header", identity, nil},
		{"identity_named", identity, []edit{withHeader("Content-Encoding", "identity")}},
		{"gzip", gzipped, []edit{withHeader("Content-Encoding", "gzip")}},
		{"gzip_any_case", gzipped, []edit{withHeader("Content-Encoding", "GZip")}},
		{"deflate_is_zlib", zlibbed, []edit{withHeader("Content-Encoding", "deflate")}},
		{"content_type_with_charset", identity, []edit{withHeader("Content-Type", "application/json; charset=utf-8")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Options{})
			r := send(t, s, tc.encode([]byte(fullPayload)), tc.edits...)
			wantStatus(t, r, http.StatusAccepted)
			if string(r.body) != "{}" {
				t.Errorf("body %q, want {}", r.body)
			}
			if got := s.Entries(); !reflect.DeepEqual(got, fullEntries()) {
				t.Errorf("entries\n%#v\nwant\n%#v", got, fullEntries())
			}
			if got := s.Requests(); !reflect.DeepEqual(got, map[int]int{202: 1}) {
				t.Errorf("Requests %v, want map[202:1]", got)
			}
		})
	}
}

func TestAcceptsASingleObject(t *testing.T) {
	s := start(t, Options{})
	wantStatus(t, send(t, s, []byte(` {"message":"alone","ddtags":"a:1"} `)), http.StatusAccepted)
	es := s.Entries()
	if len(es) != 1 || es[0].Message != "alone" || !reflect.DeepEqual(es[0].DDTags, []string{"a:1"}) {
		t.Errorf("entries %+v, want one entry \"alone\" tagged a:1", es)
	}
}

func TestDecodesOptionalReservedFields(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		tags       []string
		ts         int64
	}{
		{"ddtags_absent", `{"message":"m"}`, nil, 0},
		{"ddtags_empty", `{"message":"m","ddtags":""}`, nil, 0},
		{"ddtags_kept_as_sent", `{"message":"m","ddtags":"a:1, b:2,,bare"}`, []string{"a:1", " b:2", "", "bare"}, 0},
		{"timestamp_zero", `{"message":"m","timestamp":0}`, nil, 0},
		{"timestamp_beyond_float_precision", `{"message":"m","timestamp":9007199254740993}`, nil, 9007199254740993},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Options{})
			wantStatus(t, send(t, s, []byte(tc.body)), http.StatusAccepted)
			es := s.Entries()
			if len(es) != 1 {
				t.Fatalf("%d entries, want 1", len(es))
			}
			if !reflect.DeepEqual(es[0].DDTags, tc.tags) {
				t.Errorf("DDTags %q, want %q", es[0].DDTags, tc.tags)
			}
			if es[0].Timestamp != tc.ts {
				t.Errorf("Timestamp %d, want %d", es[0].Timestamp, tc.ts)
			}
		})
	}
}

func TestEntryTagLookups(t *testing.T) {
	e := Entry{DDTags: []string{"env:prod", "team:a", "bare", "team:b", "url:http://x:8080/p", "teams:z"}}
	for _, tc := range []struct {
		key    string
		value  string
		found  bool
		values []string
	}{
		{"env", "prod", true, []string{"prod"}},
		{"team", "a", true, []string{"a", "b"}},
		{"bare", "", true, []string{""}},
		{"url", "http://x:8080/p", true, []string{"http://x:8080/p"}},
		{"missing", "", false, nil},
		{"tea", "", false, nil},
	} {
		t.Run(tc.key, func(t *testing.T) {
			v, ok := e.Tag(tc.key)
			if v != tc.value || ok != tc.found {
				t.Errorf("Tag(%q) = %q, %t; want %q, %t", tc.key, v, ok, tc.value, tc.found)
			}
			if vs := e.TagValues(tc.key); !reflect.DeepEqual(vs, tc.values) {
				t.Errorf("TagValues(%q) = %q, want %q", tc.key, vs, tc.values)
			}
		})
	}
}

func TestKeepsArrivalOrderAcrossRequests(t *testing.T) {
	s := start(t, Options{})
	for _, p := range []string{"a", "b", "c"} {
		wantStatus(t, send(t, s, logs(p, 2)), http.StatusAccepted)
	}
	want := []string{"a0", "a1", "b0", "b1", "c0", "c1"}
	if got := messages(s.Entries()); !reflect.DeepEqual(got, want) {
		t.Errorf("messages %q, want %q", got, want)
	}
}

func TestRejectsWhatDatadogRejects(t *testing.T) {
	valid := logs("m", 2)
	overSize := bytes.Repeat([]byte("x"), MaxPayload+1)
	manyNumbers := []byte("[" + strings.TrimSuffix(strings.Repeat("1,", MaxEntries+1), ",") + "]")
	truncGzip := gzipped(valid)
	truncGzip = truncGzip[:len(truncGzip)-4]
	badSum := zlibbed(valid)
	badSum[len(badSum)-1] ^= 0xff
	gz := withHeader("Content-Encoding", "gzip")

	for _, tc := range []struct {
		name   string
		body   []byte
		edits  []edit
		status int
		detail string // substring of the error detail
	}{
		// Step 1.
		{"other_path", valid, []edit{withPath("/api/v1/input")}, 404, "POST /api/v2/logs"},
		{"path_with_trailing_slash", valid, []edit{withPath("/api/v2/logs/")}, 404, "no such path"},
		{"get", nil, []edit{withMethod(http.MethodGet)}, 405, "use POST"},
		{"put", valid, []edit{withMethod(http.MethodPut)}, 405, "use POST"},
		// Step 2.
		{"key_missing", valid, []edit{withoutHeader("DD-API-KEY")}, 403, "API key is invalid"},
		{"key_wrong", valid, []edit{withKey("wrong-key-4711")}, 403, "API key is invalid"},
		{"key_prefix_of_real_one", valid, []edit{withKey(testKey[:len(testKey)-1])}, 403, "API key is invalid"},
		{"key_sent_twice", valid, []edit{addHeader("DD-API-KEY", "other-key-4712")}, 403, "API key is invalid"},
		{"key_in_query_only", valid, []edit{withoutHeader("DD-API-KEY"), withQuery("dd-api-key=" + testKey)}, 403, "API key is invalid"},
		// Step 3.
		{"content_type_missing", valid, []edit{withoutHeader("Content-Type")}, 400, "Content-Type missing"},
		{"content_type_text", valid, []edit{withHeader("Content-Type", "text/plain")}, 400, `"text/plain" not supported`},
		{"content_type_ndjson", valid, []edit{withHeader("Content-Type", "application/x-ndjson")}, 400, "want application/json"},
		{"content_type_malformed", valid, []edit{withHeader("Content-Type", "application/json; charset")}, 400, "unreadable"},
		// Step 4.
		{"encoding_br", valid, []edit{withHeader("Content-Encoding", "br")}, 400, `"br" not supported`},
		{"encoding_stacked", valid, []edit{withHeader("Content-Encoding", "gzip, deflate")}, 400, "not supported"},
		{"encoding_twice", gzipped(valid), []edit{gz, addHeader("Content-Encoding", "gzip")}, 400, "given 2 times"},
		{"gzip_named_plain_sent", valid, []edit{gz}, 400, "not gzip"},
		{"gzip_truncated", truncGzip, []edit{gz}, 400, "unexpected EOF"},
		{"deflate_without_zlib_wrapper", rawDeflated(valid), []edit{withHeader("Content-Encoding", "deflate")}, 400, "not deflate (zlib)"},
		{"deflate_bad_checksum", badSum, []edit{withHeader("Content-Encoding", "deflate")}, 400, "checksum"},
		// Step 5.
		{"payload_over_5MiB", overSize, nil, 413, "5242880 bytes"},
		{"payload_over_5MiB_uncompressed", gzipped(overSize), []edit{gz}, 413, "uncompressed"},
		// Step 6.
		{"empty_body", nil, nil, 400, "not valid JSON"},
		{"not_json", []byte(`message=hello`), nil, 400, "not valid JSON"},
		{"broken_array", []byte(`[{"message":"a"},`), nil, 400, "not valid JSON"},
		{"trailing_garbage", []byte(`[{"message":"a"}] x`), nil, 400, "not valid JSON"},
		{"two_objects", []byte(`{"message":"a"}{"message":"b"}`), nil, 400, "not valid JSON"},
		{"top_level_string", []byte(`"hello"`), nil, 400, "JSON string"},
		{"top_level_null", []byte(`null`), nil, 400, "JSON null"},
		{"empty_array", []byte(`[]`), nil, 400, "empty array"},
		{"array_of_strings", []byte(`["hello"]`), nil, 400, "entry 0 is a JSON string"},
		{"null_entry", []byte(`[{"message":"a"},null]`), nil, 400, "entry 1 is a JSON null"},
		{"nested_array", []byte(`[[{"message":"a"}]]`), nil, 400, "entry 0 is a JSON array"},
		{"entries_1001", logs("m", MaxEntries+1), nil, 413, "1001 entries"},
		// Reserved attributes of the wrong type.
		{"ddtags_array", []byte(`[{"message":"a","ddtags":["env:prod"]}]`), nil, 400, `"ddtags" must be a JSON string, got array`},
		{"message_object", []byte(`[{"message":{"a":1}}]`), nil, 400, `"message" must be a JSON string, got object`},
		{"service_null", []byte(`[{"message":"a","service":null}]`), nil, 400, `"service" must be a JSON string, got null`},
		{"hostname_number", []byte(`[{"message":"a","hostname":7}]`), nil, 400, `"hostname"`},
		{"timestamp_string", []byte(`[{"message":"a","timestamp":"1700000000123"}]`), nil, 400, "timestamp"},
		{"timestamp_fraction", []byte(`[{"message":"a","timestamp":1700000000123.5}]`), nil, 400, "integer"},
		{"timestamp_exponent", []byte(`[{"message":"a","timestamp":1.7e12}]`), nil, 400, "integer"},
		{"timestamp_negative", []byte(`[{"message":"a","timestamp":-1}]`), nil, 400, "non-negative"},
		// Validation order: the earlier rule wins.
		{"order_key_before_content_type", valid, []edit{withKey("wrong-key-4711"), withHeader("Content-Type", "text/plain")}, 403, "API key"},
		{"order_content_type_before_encoding", valid, []edit{withHeader("Content-Type", "text/plain"), withHeader("Content-Encoding", "br")}, 400, "Content-Type"},
		{"order_size_before_json", overSize, nil, 413, "uncompressed"},
		{"order_entry_count_before_entry_type", manyNumbers, nil, 413, "1001 entries"},
		{"order_bad_entry_rejects_whole_payload", []byte(`[{"message":"a"},{"message":"b","status":1}]`), nil, 400, "entry 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Options{})
			r := send(t, s, tc.body, tc.edits...)
			wantStatus(t, r, tc.status)
			if _, detail := apiErr(t, r); !strings.Contains(detail, tc.detail) {
				t.Errorf("detail %q does not contain %q", detail, tc.detail)
			}
			if tc.status == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("405 without Allow: POST (got %q)", r.header.Get("Allow"))
			}
			if es := s.Entries(); len(es) != 0 {
				t.Errorf("rejected payload stored %d entries", len(es))
			}
			if got := s.Requests(); !reflect.DeepEqual(got, map[int]int{tc.status: 1}) {
				t.Errorf("Requests %v, want map[%d:1]", got, tc.status)
			}
		})
	}
}

func TestLimitsAtTheirBoundaries(t *testing.T) {
	exact := sizedPayload(t, MaxPayload)
	over := sizedPayload(t, MaxPayload+1)
	gz := withHeader("Content-Encoding", "gzip")
	for _, tc := range []struct {
		name    string
		body    []byte
		edits   []edit
		status  int
		entries int
	}{
		{"entries_1000_accepted", logs("m", MaxEntries), nil, 202, MaxEntries},
		{"entries_1001_rejected", logs("m", MaxEntries+1), nil, 413, 0},
		{"payload_5MiB_accepted", exact, nil, 202, 6},
		{"payload_5MiB_plus_1_rejected", over, nil, 413, 0},
		{"gzip_payload_5MiB_accepted", gzipped(exact), []edit{gz}, 202, 6},
		{"gzip_payload_5MiB_plus_1_rejected", gzipped(over), []edit{gz}, 413, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Options{})
			wantStatus(t, send(t, s, tc.body, tc.edits...), tc.status)
			es := s.Entries()
			if len(es) != tc.entries {
				t.Fatalf("%d entries stored, want %d", len(es), tc.entries)
			}
			for i, e := range es {
				if e.Truncated {
					t.Errorf("entry %d truncated, but no message is over 1 MiB", i)
				}
			}
		})
	}
}

func TestTruncatesMessagesOverOneMiB(t *testing.T) {
	// "é" is two bytes; with the odd prefix a rune straddles the 1 MiB mark.
	straddling := "x" + strings.Repeat("é", MaxMessage/2+10)
	for _, tc := range []struct {
		name      string
		message   string
		want      string
		truncated bool
	}{
		{"exactly_1MiB_kept", strings.Repeat("a", MaxMessage), strings.Repeat("a", MaxMessage), false},
		{"1MiB_plus_1_cut", strings.Repeat("b", MaxMessage+1), strings.Repeat("b", MaxMessage), true},
		{"2MiB_cut", strings.Repeat("c", 2*MaxMessage), strings.Repeat("c", MaxMessage), true},
		{"cut_on_a_rune_boundary", straddling, straddling[:MaxMessage-1], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Options{})
			body, _ := json.Marshal([]map[string]any{{"message": tc.message, "service": "api"}})
			wantStatus(t, send(t, s, gzipped(body), withHeader("Content-Encoding", "gzip")), http.StatusAccepted)
			es := s.Entries()
			if len(es) != 1 {
				t.Fatalf("%d entries, want 1", len(es))
			}
			e := es[0]
			if e.Truncated != tc.truncated {
				t.Errorf("Truncated %t, want %t", e.Truncated, tc.truncated)
			}
			if e.Message != tc.want {
				t.Errorf("message of %d bytes, want %d", len(e.Message), len(tc.want))
			}
			if !utf8.ValidString(e.Message) {
				t.Error("stored message is not valid UTF-8")
			}
			if e.Attrs["message"] != e.Message {
				t.Error(`Attrs["message"] differs from Message`)
			}
			if e.Service != "api" {
				t.Errorf("service %q, want the rest of the log kept", e.Service)
			}
		})
	}
}

func TestConcurrentRequests(t *testing.T) {
	const workers, perWorker, perRequest = 8, 20, 5
	// A plain bytes.Buffer is not safe for concurrent writes: the server must
	// serialise its log lines (the race detector sees it if not).
	var log bytes.Buffer
	s := start(t, Options{Log: &log})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				body := gzipped(logs(fmt.Sprintf("w%d-r%d-", w, i), perRequest))
				r, err := post(http.DefaultClient, s, body, withHeader("Content-Encoding", "gzip"))
				if err == nil && r.status != 202 {
					err = fmt.Errorf("worker %d: status %d: %s", w, r.status, r.body)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got, want := s.Requests(), map[int]int{202: workers * perWorker}; !reflect.DeepEqual(got, want) {
		t.Errorf("Requests %v, want %v", got, want)
	}
	s.Close() // waits for handlers: the log is complete
	if n := strings.Count(log.String(), "\n"); n != workers*perWorker {
		t.Errorf("%d log lines, want one per request (%d)", n, workers*perWorker)
	}
	es := s.Entries()
	if len(es) != workers*perWorker*perRequest {
		t.Fatalf("%d entries, want %d", len(es), workers*perWorker*perRequest)
	}
	// Each worker's entries arrive in the order it sent them.
	next := make([]int, workers)
	for _, e := range es {
		var w, r, j int
		if _, err := fmt.Sscanf(e.Message, "w%d-r%d-%d", &w, &r, &j); err != nil {
			t.Fatalf("message %q: %v", e.Message, err)
		}
		if got := r*perRequest + j; got != next[w] {
			t.Fatalf("worker %d: entry %d arrived where %d was due", w, got, next[w])
		}
		next[w]++
	}
}

func TestEntriesAndRequestsAreCopies(t *testing.T) {
	s := start(t, Options{})
	wantStatus(t, send(t, s, logs("m", 2)), http.StatusAccepted)
	es := s.Entries()
	es[0].Message = "changed"
	_ = append(es[:1], Entry{Message: "appended"})
	rq := s.Requests()
	rq[202] = 99
	if got := messages(s.Entries()); !reflect.DeepEqual(got, []string{"m0", "m1"}) {
		t.Errorf("messages %q, want [m0 m1] whatever callers do with their copy", got)
	}
	if got := s.Requests()[202]; got != 1 {
		t.Errorf("Requests()[202] = %d, want 1", got)
	}
}

func TestWaitEntries(t *testing.T) {
	t.Run("returns_once_enough_arrived", func(t *testing.T) {
		s := start(t, Options{})
		errc := make(chan error, 1)
		go func() {
			time.Sleep(100 * time.Millisecond)
			for _, p := range []string{"a", "b"} {
				if _, err := post(http.DefaultClient, s, logs(p, 2)); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		begin := time.Now()
		es, err := s.WaitEntries(3, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) < 3 {
			t.Errorf("WaitEntries(3) returned %d entries", len(es))
		}
		if took := time.Since(begin); took < 100*time.Millisecond || took > 5*time.Second {
			t.Errorf("returned after %s, want just after the entries arrived (~100ms)", took)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("returns_at_once_when_already_there", func(t *testing.T) {
		s := start(t, Options{})
		wantStatus(t, send(t, s, logs("m", 2)), http.StatusAccepted)
		begin := time.Now()
		es, err := s.WaitEntries(2, 10*time.Second)
		if err != nil || len(es) != 2 {
			t.Fatalf("WaitEntries(2) = %d entries, %v", len(es), err)
		}
		if took := time.Since(begin); took > time.Second {
			t.Errorf("took %s with the entries already there", took)
		}
	})
	t.Run("times_out_saying_what_arrived", func(t *testing.T) {
		s := start(t, Options{})
		wantStatus(t, send(t, s, logs("m", 1)), http.StatusAccepted)
		wantStatus(t, send(t, s, logs("m", 1), withKey("wrong-key-4711")), 403)
		wantStatus(t, send(t, s, logs("m", 1), withKey("wrong-key-4711")), 403)
		const timeout = 200 * time.Millisecond
		begin := time.Now()
		es, err := s.WaitEntries(5, timeout)
		took := time.Since(begin)
		if err == nil {
			t.Fatalf("WaitEntries(5) with 1 entry succeeded with %d entries", len(es))
		}
		want := "ddintake: 1 of 5 entries accepted after 200ms (answers so far: 202×1, 403×2)"
		if err.Error() != want {
			t.Errorf("error %q\nwant  %q", err, want)
		}
		if took < timeout || took > timeout+2*time.Second {
			t.Errorf("gave up after %s, want about %s", took, timeout)
		}
	})
}

func TestLogsOneLinePerRequest(t *testing.T) {
	var log proc.Log // read while the server writes
	s := start(t, Options{Log: &log})
	raw := logs("m", 2)
	wire := gzipped(raw)
	wantStatus(t, send(t, s, wire, withHeader("Content-Encoding", "gzip")), 202)
	wantStatus(t, send(t, s, raw, withKey("wrong-key-4711")), 403)
	wantStatus(t, send(t, s, raw, withPath("/v1/input")), 404)
	s.Close() // waits for handlers: the log is complete

	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", len(lines), log.String())
	}
	for i, want := range [][]string{
		{"-> 202", "entries=2", fmt.Sprintf("bytes=%d", len(raw)), fmt.Sprintf("wire=%d", len(wire)), `encoding="gzip"`},
		{"-> 403", "entries=0", "API key is invalid"},
		{"-> 404", "entries=0", "no such path"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("log line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	for _, k := range []string{testKey, "wrong-key-4711"} {
		if strings.Contains(log.String(), k) {
			t.Errorf("log holds API key %q", k)
		}
	}
}

func TestCloseStopsServing(t *testing.T) {
	s := start(t, Options{})
	wantStatus(t, send(t, s, logs("m", 1)), http.StatusAccepted)
	s.Close()
	s.Close() // a second Close does nothing
	if _, err := post(&http.Client{Timeout: 2 * time.Second}, s, logs("m", 1)); err == nil {
		t.Error("request after Close succeeded")
	}
}
