// Package lokiserver runs a real Loki (built by `make loki` from the Go
// module proxy) on 127.0.0.1 for tests and the demo, and reads streams back
// with LogQL.
package lokiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/proc"
)

// Options for Start.
type Options struct {
	Bin         string // the loki binary; $LOKI_BIN or <repo>/build/loki when empty
	MultiTenant bool   // auth_enabled: X-Scope-OrgID selects the tenant
	Dir         string // data directory; a new temporary one when empty
	HTTPPort    int    // 0 picks a free port
	Log         io.Writer
	// Limits are more limits_config lines, e.g. "block_ingestion_until: 2099-01-01T00:00:00Z".
	Limits []string
}

// Server is a running Loki.
type Server struct {
	URL     string // http://127.0.0.1:port
	Dir     string
	opts    Options
	proc    *proc.Process
	tempDir bool
}

// FindBin returns the Loki binary: $LOKI_BIN, else build/loki under the repo root.
func FindBin() (string, error) {
	if b := os.Getenv("LOKI_BIN"); b != "" {
		return b, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "plugin", "main.go")); err == nil {
			bin := filepath.Join(dir, "build", "loki")
			if _, err := os.Stat(bin); err != nil {
				return "", fmt.Errorf("no Loki binary at %s: run `make loki` (or set LOKI_BIN)", bin)
			}
			return bin, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repo root not found: set LOKI_BIN")
		}
		dir = parent
	}
}

// Start runs Loki and waits until it is ready (about a second with this config).
func Start(o Options) (*Server, error) {
	if o.Bin == "" {
		b, err := FindBin()
		if err != nil {
			return nil, err
		}
		o.Bin = b
	}
	s := &Server{opts: o}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "kubeship-loki-")
		if err != nil {
			return nil, err
		}
		o.Dir, s.tempDir = d, true
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	s.Dir = o.Dir
	httpPort, grpcPort := o.HTTPPort, 0
	var err error
	if httpPort == 0 {
		if httpPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if grpcPort, err = FreePort(); err != nil {
		return nil, err
	}
	s.opts.HTTPPort = httpPort
	cfgPath := filepath.Join(o.Dir, "loki.yaml")
	if err := os.WriteFile(cfgPath, []byte(config(o.Dir, httpPort, grpcPort, o.MultiTenant, o.Limits)), 0o644); err != nil {
		return nil, err
	}
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	if s.proc, err = proc.Start(exec.Command(o.Bin, "-config.file="+cfgPath), &proc.Log{Tee: o.Log}); err != nil {
		return nil, fmt.Errorf("start loki: %w", err)
	}
	if err := s.waitReady(60 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// shared holds the Lokis Shared started, a *sharedLoki by their options.
var shared sync.Map

type sharedLoki struct {
	once sync.Once
	s    *Server
	err  error
}

// Shared returns a Loki started with o once per test binary (a package's
// tests run in one process) and kept for every test that asks for the same
// options; a start that failed fails each of them. Tests tell their streams
// apart by a label. The package's TestMain calls StopShared after m.Run.
func Shared(t testing.TB, o Options) *Server {
	t.Helper()
	v, _ := shared.LoadOrStore(fmt.Sprintf("%#v", o), &sharedLoki{})
	l := v.(*sharedLoki)
	l.once.Do(func() { l.s, l.err = Start(o) })
	if l.err != nil {
		t.Fatalf("real Loki: %v", l.err)
	}
	return l.s
}

// StopShared stops the Lokis Shared started.
func StopShared() {
	shared.Range(func(key, v any) bool {
		if l := v.(*sharedLoki); l.s != nil {
			l.s.Stop()
		}
		shared.Delete(key)
		return true
	})
}

// Kill ends Loki at once (SIGKILL), as a crash or an OOM kill would; its
// data directory stays for a Start on the same Dir. Stop still removes a
// temporary one.
func (s *Server) Kill() {
	if s.proc != nil {
		s.proc.Kill()
	}
}

// PushURL is the push endpoint.
func (s *Server) PushURL() string { return s.URL + "/loki/api/v1/push" }

// Port is the HTTP port.
func (s *Server) Port() int { return s.opts.HTTPPort }

// Logs returns what Loki printed.
func (s *Server) Logs() string { return s.proc.Logs() }

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.proc.Done():
			return fmt.Errorf("loki exited during start-up:\n%s", tail(s.Logs(), 3000))
		default:
		}
		resp, err := http.Get(s.URL + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("loki not ready after %s:\n%s", limit, tail(s.Logs(), 3000))
}

// Stop ends Loki and removes a temporary data directory.
func (s *Server) Stop() {
	if s.proc != nil {
		s.proc.Stop(os.Interrupt, 10*time.Second)
	}
	if s.tempDir {
		_ = os.RemoveAll(s.Dir)
	}
}

// Entry is one line read back.
type Entry struct {
	Time     time.Time
	Line     string
	Metadata map[string]string // structured metadata
}

// Stream is one stream read back, with its labels apart from structured metadata.
type Stream struct {
	Labels  map[string]string
	Entries []Entry
}

// Query runs a LogQL query_range over the last day, oldest first.
func (s *Server) Query(ctx context.Context, tenant, query string) ([]Stream, error) {
	v := url.Values{}
	v.Set("query", query)
	v.Set("start", strconv.FormatInt(time.Now().Add(-24*time.Hour).UnixNano(), 10))
	v.Set("end", strconv.FormatInt(time.Now().Add(time.Minute).UnixNano(), 10))
	v.Set("limit", "5000")
	v.Set("direction", "forward")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/loki/api/v1/query_range?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	// Labels and structured metadata apart (Loki 3).
	req.Header.Set("X-Loki-Response-Encoding-Flags", "categorize-labels")
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("query %q: HTTP %d: %s", query, resp.StatusCode, body)
	}
	var r struct {
		Data struct {
			Result []struct {
				Stream map[string]string `json:"stream"`
				Values [][]json.RawMessage
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	var out []Stream
	for _, res := range r.Data.Result {
		st := Stream{Labels: res.Stream}
		for _, val := range res.Values {
			var ts, line string
			if len(val) < 2 || json.Unmarshal(val[0], &ts) != nil || json.Unmarshal(val[1], &line) != nil {
				return nil, fmt.Errorf("query %q: unexpected value %s", query, val)
			}
			ns, _ := strconv.ParseInt(ts, 10, 64)
			e := Entry{Time: time.Unix(0, ns), Line: line}
			if len(val) > 2 {
				var extra struct {
					StructuredMetadata map[string]string `json:"structuredMetadata"`
				}
				_ = json.Unmarshal(val[2], &extra)
				e.Metadata = extra.StructuredMetadata
			}
			st.Entries = append(st.Entries, e)
		}
		out = append(out, st)
	}
	return out, nil
}

// WaitFor polls query until it returns at least n entries or the timeout passes.
func (s *Server) WaitFor(ctx context.Context, tenant, query string, n int, timeout time.Duration) ([]Stream, error) {
	deadline := time.Now().Add(timeout)
	for {
		streams, err := s.Query(ctx, tenant, query)
		got := 0
		for _, st := range streams {
			got += len(st.Entries)
		}
		if err == nil && got >= n {
			return streams, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("query %q: %d entries after %s, want %d", query, got, timeout, n)
			}
			return streams, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func config(dir string, httpPort, grpcPort int, auth bool, limits []string) string {
	extra, allowSM := "", "\n  allow_structured_metadata: true"
	for _, l := range limits {
		extra += "\n  " + l
		if strings.HasPrefix(l, "allow_structured_metadata:") {
			allowSM = ""
		}
	}
	return fmt.Sprintf(`auth_enabled: %t
server:
  http_listen_address: 127.0.0.1
  http_listen_port: %d
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: %d
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: %[4]s
  storage:
    filesystem:
      chunks_directory: %[4]s/chunks
      rules_directory: %[4]s/rules
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
schema_config:
  configs:
    - from: 2024-01-01
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
ingester:
  lifecycler:
    min_ready_duration: 0s
frontend:
  scheduler_dns_lookup_period: 1s
limits_config:
  volume_enabled: true%[6]s%[5]s
analytics:
  reporting_enabled: false
pattern_ingester:
  enabled: false
`, auth, httpPort, grpcPort, dir, extra, allowSM)
}

// FreePort returns a TCP port free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
