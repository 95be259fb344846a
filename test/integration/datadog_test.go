package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/test/ddintake"
	fg "github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/faultinject"
	"github.com/kubeship/kubeship/test/host"
)

const apiKey = "0123456789abcdef0123456789abcdef"

func intake(t *testing.T) *ddintake.Server {
	t.Helper()
	s, err := ddintake.Start(ddintake.Options{APIKey: apiKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// faulty puts test/faultinject's proxy in front of s and returns it with the
// logs endpoint through it.
func faulty(t *testing.T, s *ddintake.Server) (*faultinject.Proxy, string) {
	t.Helper()
	p, err := faultinject.Start(strings.TrimSuffix(s.URL(), ddintake.Path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, p.URL() + ddintake.Path
}

// ddHost starts the C host with one Datadog output sending to s.
func ddHost(t *testing.T, s *ddintake.Server, keys host.Instance) *host.Host {
	t.Helper()
	in := host.Instance{"destination": "datadog", "apikey": apiKey, "url": s.URL(), "retry_budget": "2s", "timeout": "2s"}
	for k, v := range keys {
		in[k] = v
	}
	return host.Start(t, in)
}

// podChunk is a chunk of n records of pod p, as the router makes them.
func podChunk(p fg.Pod, n int, text func(i int) string) []byte {
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	var events []eventtest.Event
	for i := range n {
		l := fg.Line{Time: base.Add(time.Duration(i) * time.Millisecond), Stream: "stdout", Text: text(i)}
		if i%2 == 1 {
			l.Stream = "stderr"
		}
		events = append(events, eventtest.Event{Time: l.Time, Body: fg.Record(p, l)})
	}
	return eventtest.Chunk(true, events...)
}

// Each pod of the Fargate fixtures arrives with the tags the Datadog Agent
// would give it, its source, service, host, status and time.
func TestDatadogTagsAsTheAgentSetsThem(t *testing.T) {
	s := intake(t)
	h := ddHost(t, s, host.Instance{"dd_tags": "kube_cluster_name:it,team:platform", "pod_labels_as_tags": "team:team"})
	pods := fg.Pods()
	for _, p := range pods {
		if rc := h.Flush(0, p.Tag(), podChunk(p, 2, func(i int) string { return fmt.Sprintf("%s line %d", p.Name, i) })); rc != host.FLB_OK {
			t.Fatalf("%s: rc %d\n%s", p.Name, rc, h.Logs())
		}
	}
	entries, err := s.WaitEntries(2*len(pods), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"kube_cluster_name:it", "team:platform"}
	want := map[string]struct {
		tags            []string
		source, service string
	}{
		"checkout-7d9f8c6b5-x2k4p": {[]string{"kube_namespace:shop", "pod_name:checkout-7d9f8c6b5-x2k4p", "kube_container_name:checkout",
			"container_id:" + strings.Repeat("0c", 32), "container_name:checkout",
			"image_name:123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/checkout", "short_image:checkout", "image_tag:1.4.2",
			"docker_image:123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/checkout:1.4.2",
			"kube_deployment:checkout", "kube_replica_set:checkout-7d9f8c6b5", "kube_ownerref_kind:replicaset", "kube_ownerref_name:checkout-7d9f8c6b5",
			"kube_app_name:checkout", "kube_app_version:1.4.2", "env:prod", "service:checkout", "version:1.4.2"}, "checkout", "checkout"},
		"web-5f7b9c6d8-q9r2s": {[]string{"kube_namespace:shop", "pod_name:web-5f7b9c6d8-q9r2s", "kube_container_name:nginx",
			"short_image:nginx", "image_tag:1.27", "kube_deployment:web", "kube_replica_set:web-5f7b9c6d8", "team:storefront"}, "nginx", "storefront-web"},
		"ledger-0": {[]string{"kube_namespace:payments", "pod_name:ledger-0", "kube_stateful_set:ledger", "kube_ownerref_kind:statefulset",
			"kube_app_name:ledger", "short_image:ledger"}, "ledger", "ledger"},
		"report-28765432-abcde": {[]string{"kube_namespace:batch", "kube_job:report-28765432", "kube_cronjob:report", "kube_ownerref_kind:job",
			"short_image:busybox", "image_tag:latest"}, "busybox", "report"},
	}
	for _, e := range entries {
		pod, _ := e.Tag("pod_name")
		w, ok := want[pod]
		if !ok {
			t.Errorf("entry of unknown pod %q: %+v", pod, e)
			continue
		}
		if !slices.Equal(e.DDTags[:len(common)], common) {
			t.Errorf("%s: dd_tags must come first: %v", pod, e.DDTags)
		}
		for _, tag := range w.tags {
			if !slices.Contains(e.DDTags, tag) {
				t.Errorf("%s: tag %q missing from %v", pod, tag, e.DDTags)
			}
		}
		if e.DDSource != w.source || e.Service != w.service {
			t.Errorf("%s: ddsource %q service %q, want %q %q", pod, e.DDSource, e.Service, w.source, w.service)
		}
		var p fg.Pod
		for _, q := range fg.Pods() {
			if q.Name == pod {
				p = q
			}
		}
		if e.Hostname != p.Node {
			t.Errorf("%s: hostname %q, want the node %q", pod, e.Hostname, p.Node)
		}
		if !strings.HasPrefix(e.Message, pod+" line ") {
			t.Errorf("%s: message %q", pod, e.Message)
		}
		wantStatus := map[bool]string{false: "info", true: "error"}[strings.HasSuffix(e.Message, "1")]
		if e.Status != wantStatus {
			t.Errorf("%s %q: status %q, want %q (from the stream)", pod, e.Message, e.Status, wantStatus)
		}
		if e.Timestamp < time.Now().Add(-2*time.Minute).UnixMilli() || e.Timestamp > time.Now().UnixMilli() {
			t.Errorf("%s: timestamp %d is not the event time", pod, e.Timestamp)
		}
		if _, ok := e.Attrs["kubernetes"]; ok {
			t.Errorf("%s: the kubernetes map should have become tags, not an attribute", pod)
		}
	}
}

// A JSON line's level is the status.
func TestDatadogStatusFromJSONLevel(t *testing.T) {
	s := intake(t)
	h := ddHost(t, s, nil)
	p := fg.Pods()[0]
	chunk := podChunk(p, 1, func(int) string { return `{"level":"WARN","msg":"disk almost full"}` })
	if rc := h.Flush(0, p.Tag(), chunk); rc != host.FLB_OK {
		t.Fatalf("rc %d\n%s", rc, h.Logs())
	}
	e, err := s.WaitEntries(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if e[0].Status != "warn" {
		t.Errorf("status %q, want warn", e[0].Status)
	}
}

// Datadog's limits: 1000 entries and 5 MB a request, 1 MB a log.
func TestDatadogSizeLimits(t *testing.T) {
	p := fg.Pods()[1]
	tests := []struct {
		name     string
		n        int
		text     func(i int) string
		requests int // at least
	}{
		{"1001_entries", 1001, func(i int) string { return fmt.Sprintf("entry %d", i) }, 2},
		{"over_5MB", 6, func(i int) string { return fmt.Sprintf("%d ", i) + strings.Repeat("y", 900<<10) }, 2},
		{"2MB_line", 1, func(i int) string { return strings.Repeat("z", 2<<20) }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := intake(t)
			h := ddHost(t, s, host.Instance{"batch_size": "5MB"})
			if rc := h.Flush(0, p.Tag(), podChunk(p, tt.n, tt.text)); rc != host.FLB_OK {
				t.Fatalf("rc %d\n%s", rc, h.Logs())
			}
			entries, err := s.WaitEntries(tt.n, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Requests()[202]; got < tt.requests {
				t.Errorf("%d accepted requests, want at least %d", got, tt.requests)
			}
			for code, n := range s.Requests() {
				if code != 202 {
					t.Errorf("%d requests answered %d", n, code)
				}
			}
			for _, e := range entries {
				if e.Truncated {
					t.Errorf("the intake had to truncate a log of %d bytes: kubeship should have", len(e.Message))
				}
				if len(e.Message) > 1<<20 {
					t.Errorf("a log of %d bytes", len(e.Message))
				}
			}
			if tt.name == "2MB_line" && !strings.HasSuffix(entries[0].Message, "...TRUNCATED") {
				t.Errorf("a 2 MB line should arrive truncated with a marker, ends %q", entries[0].Message[len(entries[0].Message)-20:])
			}
		})
	}
}

// Each failure answer gets the documented treatment: retried within the
// budget then FLB_RETRY, split on 413, dropped (and logged) when permanent.
func TestDatadogFailureStatuses(t *testing.T) {
	p := fg.Pods()[0]
	tests := []struct {
		name     string
		status   int // answered by the proxy
		count    int // to so many requests
		wantRC   int
		arrived  int
		wantLogs string
	}{
		{"429_retried", 429, 2, host.FLB_OK, 10, ""},
		{"503_retried", 503, 1, host.FLB_OK, 10, ""},
		{"408_retried", 408, 1, host.FLB_OK, 10, ""},
		{"500_beyond_budget", 500, 1000, host.FLB_RETRY, 0, "retry budget spent"},
		{"413_split", 413, 1, host.FLB_OK, 10, ""},
		{"400_dropped", 400, 1, host.FLB_OK, 0, "HTTP 400"},
		{"403_dropped", 403, 1, host.FLB_OK, 0, "HTTP 403"},
		{"401_dropped", 401, 1, host.FLB_OK, 0, "HTTP 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := intake(t)
			proxy, url := faulty(t, s)
			h := ddHost(t, s, host.Instance{"url": url})
			if err := proxy.Set(faultinject.Mode{Status: tt.status}, tt.count); err != nil {
				t.Fatal(err)
			}
			rc := h.Flush(0, p.Tag(), podChunk(p, 10, func(i int) string { return fmt.Sprintf("line %d", i) }))
			if rc != tt.wantRC {
				t.Fatalf("rc %d, want %d\n%s", rc, tt.wantRC, h.Logs())
			}
			if got := len(s.Entries()); got != tt.arrived {
				t.Errorf("%d entries arrived, want %d", got, tt.arrived)
			}
			if tt.wantLogs != "" && !strings.Contains(h.Logs(), tt.wantLogs) {
				t.Errorf("logs lack %q:\n%s", tt.wantLogs, h.Logs())
			}
			if strings.Contains(h.Logs(), apiKey) {
				t.Errorf("the API key appears in the plugin's log")
			}
		})
	}
}

// A wrong API key is answered 403 and never retried; the key never shows.
func TestDatadogWrongAPIKey(t *testing.T) {
	s := intake(t)
	h := ddHost(t, s, host.Instance{"apikey": "wrong-key-wrong-key"})
	p := fg.Pods()[0]
	for range 2 {
		if rc := h.Flush(0, p.Tag(), podChunk(p, 3, func(i int) string { return "x" })); rc != host.FLB_OK {
			t.Fatalf("rc %d\n%s", rc, h.Logs())
		}
	}
	if n := s.Requests()[403]; n != 2 {
		t.Errorf("%d requests answered 403, want exactly 2 (one per flush, never retried)", n)
	}
	h.Close()
	if strings.Contains(h.Logs(), "wrong-key-wrong-key") {
		t.Errorf("the API key appears in the plugin's log:\n%s", h.Logs())
	}
	if n := strings.Count(h.Logs(), "Datadog rejected the API key"); n != 1 {
		t.Errorf("the rejected key is logged %d times, want once:\n%s", n, h.Logs())
	}
	if !strings.Contains(h.Logs(), "records_dropped_status_403=6") {
		t.Errorf("dropped records not counted at exit:\n%s", h.Logs())
	}
}

// A damaged chunk is delivered up to the damage and answered FLB_ERROR
// with one clear line; the next chunk goes through.
func TestDatadogMalformedChunkThenGood(t *testing.T) {
	s := intake(t)
	h := ddHost(t, s, nil)
	p := fg.Pods()[0]
	good := podChunk(p, 1, func(int) string { return "before damage" })
	damaged := append(append([]byte{}, good...), 0x92, 0xc1) // a second event cut short
	if rc := h.Flush(0, p.Tag(), damaged); rc != host.FLB_ERROR {
		t.Errorf("damaged chunk rc %d, want FLB_ERROR", rc)
	}
	if !strings.Contains(h.Logs(), "malformed chunk, 1 readable records delivered") {
		t.Errorf("no clear line:\n%s", h.Logs())
	}
	if rc := h.Flush(0, p.Tag(), podChunk(p, 1, func(int) string { return "after" })); rc != host.FLB_OK {
		t.Errorf("next chunk rc %d", rc)
	}
	entries, err := s.WaitEntries(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if entries[0].Message != "before damage" || entries[1].Message != "after" {
		t.Errorf("messages %q, %q", entries[0].Message, entries[1].Message)
	}
}
