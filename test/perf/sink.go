package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
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
	var err error
	switch encoding {
	case "gzip":
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
			body, err = io.ReadAll(zr)
		}
	case "snappy":
		body, err = snappy.Decode(nil, body)
	case "":
	default:
		err = fmt.Errorf("unknown Content-Encoding %q", encoding)
	}
	if err != nil {
		return 0, err
	}
	switch {
	case strings.HasPrefix(path, "/api/v2/logs"): // Datadog: a JSON array of logs
		var logs []json.RawMessage
		err := json.Unmarshal(body, &logs)
		return len(logs), err
	case strings.Contains(contentType, "protobuf"):
		// Loki's protobuf is always snappy-compressed; grafana-loki says so
		// only by the content type, kubeship also by Content-Encoding.
		if encoding != "snappy" {
			if body, err = snappy.Decode(nil, body); err != nil {
				return 0, err
			}
		}
		var pr push.PushRequest
		err := pr.Unmarshal(body)
		return entries(pr), err
	default: // Loki JSON push
		var req struct {
			Streams []struct {
				Values []json.RawMessage `json:"values"`
			} `json:"streams"`
		}
		err := json.Unmarshal(body, &req)
		n := 0
		for _, st := range req.Streams {
			n += len(st.Values)
		}
		return n, err
	}
}

func entries(pr push.PushRequest) int {
	n := 0
	for _, s := range pr.Streams {
		n += len(s.Entries)
	}
	return n
}
