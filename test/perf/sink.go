package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/kubeship/kubeship/internal/datadog/datadogtest"
	"github.com/kubeship/kubeship/internal/loki/lokitest"
)

// sink is the counting HTTP server every output sends to: it decodes each
// request completely (Loki JSON or snappy protobuf, Datadog JSON arrays,
// gzip or not) and counts records, requests and bytes on the wire, so a run
// proves exactly N records arrived.
type sink struct {
	ln  net.Listener
	srv *http.Server

	mu       sync.Mutex
	records  int
	requests int
	wire     int64
	errors   []string
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln}
	s.srv = &http.Server{Handler: s}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }
func (s *sink) close()    { _ = s.srv.Close() }
func (s *sink) reset() {
	s.mu.Lock()
	s.records, s.requests, s.wire, s.errors = 0, 0, 0, nil
	s.mu.Unlock()
}
func (s *sink) stats() (records, requests int, wire int64, errs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records, s.requests, s.wire, append([]string(nil), s.errors...)
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	n, derr := decodeRecords(r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"), raw)
	s.mu.Lock()
	s.requests++
	s.wire += int64(len(raw))
	s.records += n
	if err != nil || derr != nil {
		s.errors = append(s.errors, fmt.Sprint(err, derr))
	}
	s.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/api/v2/logs") {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decodeRecords counts the records of one request body.
func decodeRecords(path, contentType, encoding string, body []byte) (int, error) {
	if strings.HasPrefix(path, "/api/v2/logs") { // Datadog: a JSON array of logs
		raw, err := datadogtest.Body(encoding, body)
		if err != nil {
			return 0, err
		}
		logs, err := datadogtest.Logs[json.RawMessage](raw)
		return len(logs), err
	}
	pr, _, err := lokitest.Decode(contentType, encoding, body)
	n := 0
	for _, s := range pr.Streams {
		n += len(s.Entries)
	}
	return n, err
}
