// Package integration pushes records through the C test host and the real
// out_kubeship.so into a real Loki, and reads them back with LogQL.
package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/test/host"
	"github.com/kubeship/kubeship/test/lokiserver"
)

var (
	ctx        = context.Background()
	queryLimit = 30 * time.Second
)

// loki is the Loki the package's tests share (auth_enabled: false).
func loki(t *testing.T) *lokiserver.Server { return lokiserver.Shared(t, lokiserver.Options{}) }

func TestMain(m *testing.M) {
	code := m.Run()
	lokiserver.StopShared()
	os.Exit(code)
}

// fargate returns n Fargate-shaped events timestamped just before now,
// each tagged with the test's name so queries see only this test's records.
func fargate(test string, n int) []eventtest.Event {
	now := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	events := make([]eventtest.Event, n)
	for i := range events {
		body := eventtest.FargateBody(i)
		body["kubernetes"].(map[string]any)["labels"].(map[string]any)["test"] = test
		events[i] = eventtest.Event{Time: now.Add(time.Duration(i)*time.Millisecond + time.Duration(i)), Body: body}
	}
	return events
}

const tag = "kube.var.log.containers.web_shop_app-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log"

func TestRegistersAsKubeship(t *testing.T) {
	s := loki(t)
	h := host.Start(t, host.Instance{"url": s.PushURL()})
	if !strings.Contains(h.Registration(), "name=kubeship") {
		t.Errorf("registration: %s", h.Registration())
	}
}

// Every record arrives once with its line, labels, structured metadata and
// nanosecond timestamp, from v1 and v2 chunks alike.
func TestFargateRecordsArriveExactly(t *testing.T) {
	s := loki(t)
	h := host.Start(t, host.Instance{"url": s.PushURL(), "labels": "cluster=it,test=$kubernetes['labels']['test']"})
	events := fargate(t.Name(), 60)
	if rc := h.Flush(0, tag, eventtest.Chunk(true, events[:30]...)); rc != host.FLB_OK {
		t.Fatalf("v2 chunk: rc %d\n%s", rc, h.Logs())
	}
	if rc := h.Flush(0, tag, eventtest.Chunk(false, events[30:]...)); rc != host.FLB_OK {
		t.Fatalf("v1 chunk: rc %d\n%s", rc, h.Logs())
	}
	streams, err := s.WaitFor(ctx, "", fmt.Sprintf(`{test=%q}`, t.Name()), len(events), queryLimit)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]lokiserver.Entry{}
	labelsOf := map[string]map[string]string{}
	for _, st := range streams {
		for _, e := range st.Entries {
			if _, dup := got[e.Line]; dup {
				t.Errorf("line arrived twice: %s", e.Line)
			}
			got[e.Line] = e
			labelsOf[e.Line] = st.Labels
		}
	}
	for i, ev := range events {
		body := ev.Body.(map[string]any)
		k := body["kubernetes"].(map[string]any)
		line := body["log"].(string)
		e, ok := got[line]
		if !ok {
			t.Errorf("record %d missing: %s", i, line)
			continue
		}
		if !e.Time.Equal(ev.Time) {
			t.Errorf("record %d: time %s, want %s", i, e.Time.Format(time.RFC3339Nano), ev.Time.Format(time.RFC3339Nano))
		}
		app := k["labels"].(map[string]any)["app"].(string)
		wantLabels := map[string]string{"namespace": k["namespace_name"].(string), "container": k["container_name"].(string),
			"app": app, "cluster": "it", "test": t.Name(), "service_name": app}
		if fmt.Sprint(labelsOf[line]) != fmt.Sprint(wantLabels) {
			t.Errorf("record %d labels %v, want %v", i, labelsOf[line], wantLabels)
		}
		wantMeta := map[string]string{"pod": k["pod_name"].(string), "pod_id": k["pod_id"].(string), "container_id": k["docker_id"].(string),
			"node": k["host"].(string), "image": k["container_image"].(string), "stream": body["stream"].(string)}
		var appLine struct {
			Level   string
			TraceID string `json:"trace_id"`
		}
		if json.Unmarshal([]byte(line), &appLine) == nil {
			wantMeta["level"] = appLine.Level // JSON application lines name their level
			if appLine.TraceID != "" {
				wantMeta["trace_id"] = appLine.TraceID // and their trace
			}
		}
		for name, want := range wantMeta {
			if e.Metadata[name] != want {
				t.Errorf("record %d metadata %s = %q, want %q", i, name, e.Metadata[name], want)
			}
		}
		for name := range e.Metadata {
			if _, ours := wantMeta[name]; !ours && name != "detected_level" {
				t.Errorf("record %d: unexpected metadata %s", i, name)
			}
		}
	}
}

// Instances keep their own configuration: each tenant sees only its records.
func TestTenantsAreSeparate(t *testing.T) {
	m := lokiserver.Shared(t, lokiserver.Options{MultiTenant: true})
	h := host.Start(t,
		host.Instance{"url": m.PushURL(), "tenant_id": "team-a", "labels": "test=tenants"},
		host.Instance{"url": m.PushURL(), "tenant_id_key": "$team", "tenant_id": "fallback", "labels": "test=tenants"},
	)
	now := time.Now()
	ev := func(i int, team string) eventtest.Event {
		b := map[string]any{"log": fmt.Sprintf("line %d", i)}
		if team != "" {
			b["team"] = team
		}
		return eventtest.Event{Time: now.Add(time.Duration(i) * time.Millisecond), Body: b}
	}
	if rc := h.Flush(0, "app", eventtest.Chunk(true, ev(1, ""))); rc != host.FLB_OK {
		t.Fatalf("rc %d\n%s", rc, h.Logs())
	}
	if rc := h.Flush(1, "app", eventtest.Chunk(true, ev(2, "team-b"), ev(3, "team-c"), ev(4, ""))); rc != host.FLB_OK {
		t.Fatalf("rc %d\n%s", rc, h.Logs())
	}
	for tenant, want := range map[string]string{"team-a": "line 1", "team-b": `{"log":"line 2","team":"team-b"}`, "team-c": `{"log":"line 3","team":"team-c"}`, "fallback": "line 4"} {
		streams, err := m.WaitFor(ctx, tenant, `{test="tenants"}`, 1, queryLimit)
		if err != nil {
			t.Fatalf("tenant %s: %v", tenant, err)
		}
		var lines []string
		for _, st := range streams {
			for _, e := range st.Entries {
				lines = append(lines, e.Line)
			}
		}
		if strings.Join(lines, "|") != want {
			t.Errorf("tenant %s sees %q, want %q", tenant, lines, want)
		}
	}
}

// A down Loki gives FLB_RETRY within the budget; once it is up, the same
// chunk is delivered, once.
func TestUnreachableLokiThenBack(t *testing.T) {
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/loki/api/v1/push", port)
	h := host.Start(t, host.Instance{"url": url, "retry_budget": "1s", "timeout": "1s", "labels": "test=unreachable"})
	chunk := eventtest.Chunk(true, fargate("unreachable", 5)...)
	start := time.Now()
	if rc := h.Flush(0, tag, chunk); rc != host.FLB_RETRY {
		t.Fatalf("rc %d, want FLB_RETRY", rc)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("flush took %s with retry_budget 1s", d)
	}
	if !strings.Contains(h.Logs(), "connection refused; retry budget spent") {
		t.Errorf("no clear log line:\n%s", h.Logs())
	}
	s, err := lokiserver.Start(lokiserver.Options{HTTPPort: port})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if rc := h.Flush(0, tag, chunk); rc != host.FLB_OK {
		t.Fatalf("after Loki is up: rc %d\n%s", rc, h.Logs())
	}
	streams, err := s.WaitFor(ctx, "", `{test="unreachable"}`, 5, queryLimit)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(streams); n != 5 {
		t.Errorf("%d entries, want 5", n)
	}
}

// Loki rejects records older than a week with 400 but stores the rest: the
// flush is acknowledged, the rejection logged with Loki's reason.
func TestLoki400IsLoggedNotRetried(t *testing.T) {
	s := loki(t)
	h := host.Start(t, host.Instance{"url": s.PushURL(), "labels": "test=reject400"})
	now := time.Now()
	chunk := eventtest.Chunk(true,
		eventtest.Event{Time: now.Add(-30 * 24 * time.Hour), Body: map[string]any{"log": "ancient"}},
		eventtest.Event{Time: now, Body: map[string]any{"log": "fresh"}},
	)
	if rc := h.Flush(0, "app", chunk); rc != host.FLB_OK {
		t.Fatalf("rc %d\n%s", rc, h.Logs())
	}
	if !strings.Contains(h.Logs(), "HTTP 400") || !strings.Contains(h.Logs(), "too far behind") && !strings.Contains(h.Logs(), "too old") {
		t.Errorf("400 not logged with Loki's reason:\n%s", h.Logs())
	}
	streams, err := s.WaitFor(ctx, "", `{test="reject400"}`, 1, queryLimit)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(streams); n != 1 || streams[0].Entries[0].Line != "fresh" {
		t.Errorf("got %+v", streams)
	}
	// Loki's answer says which it refused: the stored one counts as sent.
	h.Close()
	if logs := h.Logs(); !strings.Contains(logs, "1 of 2 records refused (the rest were stored)") ||
		!strings.Contains(logs, "records_dropped_status_400=1") || !strings.Contains(logs, "records_sent=1") {
		t.Errorf("want 1 of 2 counted as refused:\n%s", logs)
	}
}

// Hostile values cannot add or change labels; an oversized line is cut to
// Loki's limit instead of being rejected.
func TestHostileValuesAndLongLines(t *testing.T) {
	s := loki(t)
	h := host.Start(t, host.Instance{"url": s.PushURL(), "labels": "test=hostile,x=$x"})
	hostile := "a\", evil=\"1\"} {b=\"c\n\x00é\xff"
	long := strings.Repeat("z", 300<<10)
	chunk := eventtest.Chunk(true,
		eventtest.Event{Time: time.Now(), Body: map[string]any{"log": "one", "x": hostile}},
		eventtest.Event{Time: time.Now(), Body: map[string]any{"log": long}},
	)
	if rc := h.Flush(0, "app", chunk); rc != host.FLB_OK {
		t.Fatalf("rc %d\n%s", rc, h.Logs())
	}
	streams, err := s.WaitFor(ctx, "", `{test="hostile"}`, 2, queryLimit)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range streams {
		switch st.Entries[0].Line {
		case "one":
			want := map[string]string{"test": "hostile", "x": "a\", evil=\"1\"} {b=\"c\n\x00é?", "service_name": "unknown_service"}
			if fmt.Sprint(st.Labels) != fmt.Sprint(want) {
				t.Errorf("labels %q, want %q", st.Labels, want)
			}
		default:
			if len(st.Entries[0].Line) != 256<<10 {
				t.Errorf("long line arrived with %d bytes, want %d", len(st.Entries[0].Line), 256<<10)
			}
		}
	}
	if !strings.Contains(h.Logs(), "lines longer than max_line_size") {
		t.Errorf("truncation not logged:\n%s", h.Logs())
	}
}

// Concurrent flushes (Workers N) into one instance are safe.
func TestConcurrentFlushes(t *testing.T) {
	s := loki(t)
	h := host.Start(t, host.Instance{"url": s.PushURL(), "labels": "test=$kubernetes['labels']['test']"})
	chunk := eventtest.Chunk(true, fargate("concurrent", 40)...)
	for i, rc := range h.FlushConcurrent(0, tag, chunk, 4) {
		if rc != host.FLB_OK {
			t.Errorf("flush %d: rc %d", i, rc)
		}
	}
	// The same chunk four times: Loki keeps one copy of identical entries.
	streams, err := s.WaitFor(ctx, "", `{test="concurrent"}`, 40, queryLimit)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(streams); n != 40 {
		t.Errorf("%d entries, want 40", n)
	}
}

func TestBadConfigurationFailsInitWithOneClearLine(t *testing.T) {
	tests := []struct {
		name string
		keys host.Instance
		want string
	}{
		{"no_url", host.Instance{}, "url: required"},
		{"bad_value", host.Instance{"url": "http://x/push", "line_format": "xml"}, `line_format: invalid value "xml": want json or key_value`},
		{"typo", host.Instance{"url": "http://x/push", "lable_keys": "$a"}, `unknown key "lable_keys": did you mean "label_keys"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := host.StartOpts(t, host.Options{}, tt.keys)
			if err == nil || !strings.Contains(err.Error(), "[error] [output:kubeship:kubeship.0] configuration: "+tt.want) {
				t.Errorf("err = %v\nwant the line %q", err, tt.want)
			}
		})
	}
}

// A chunk that is not msgpack gets FLB_ERROR and one log line; the next works.
func TestMalformedChunkThenGood(t *testing.T) {
	s := loki(t)
	h := host.Start(t, host.Instance{"url": s.PushURL(), "labels": "test=malformed"})
	good := eventtest.Chunk(true, eventtest.Event{Time: time.Now(), Body: map[string]any{"log": "before damage"}})
	damaged := append(append([]byte{}, good...), 0x92, 0xc1) // a second event cut short
	if rc := h.Flush(0, "app", damaged); rc != host.FLB_ERROR {
		t.Errorf("damaged chunk rc %d, want FLB_ERROR", rc)
	}
	if !strings.Contains(h.Logs(), "malformed chunk, 1 readable records delivered") {
		t.Errorf("no clear line:\n%s", h.Logs())
	}
	if rc := h.Flush(0, "app", eventtest.Chunk(true, eventtest.Event{Time: time.Now(), Body: map[string]any{"log": "after"}})); rc != host.FLB_OK {
		t.Errorf("next chunk rc %d", rc)
	}
	if _, err := s.WaitFor(ctx, "", `{test="malformed"}`, 2, queryLimit); err != nil {
		t.Error(err)
	}
}

func count(streams []lokiserver.Stream) int {
	n := 0
	for _, st := range streams {
		n += len(st.Entries)
	}
	return n
}

func freePort(t *testing.T) int {
	port, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// While Loki blocks ingestion it answers 260 (block_ingestion_status_code)
// and stores nothing: the records are counted as dropped ("blocked") and
// the answer is logged, never taken for a delivery.
func TestBlockedIngestionIsNotDelivery(t *testing.T) {
	s, err := lokiserver.Start(lokiserver.Options{Limits: []string{"block_ingestion_until: 2099-01-01T00:00:00Z"}})
	if err != nil {
		t.Fatalf("real Loki: %v", err)
	}
	defer s.Stop()
	h := host.Start(t, host.Instance{"url": s.PushURL(), "labels": "test=blocked"})
	if rc := h.Flush(0, tag, eventtest.Chunk(true, fargate("blocked", 3)...)); rc != host.FLB_OK {
		t.Fatalf("rc %d\n%s", rc, h.Logs())
	}
	h.Close()
	logs := h.Logs()
	if !strings.Contains(logs, "HTTP 260") || !strings.Contains(logs, "3 records not retried (the server answered success but stored nothing; logged once") ||
		!strings.Contains(logs, "records_dropped_blocked=3") || strings.Contains(logs, "records_sent=3") {
		t.Errorf("want the 260 logged and 3 records counted as dropped (blocked):\n%s", logs)
	}
}

// A Loki that refuses structured metadata answers 400 to every push that
// carries it: the log line names the key that fixes it, and with that key
// the same records arrive with their labels.
func TestLokiWithoutStructuredMetadata(t *testing.T) {
	s, err := lokiserver.Start(lokiserver.Options{Limits: []string{"allow_structured_metadata: false"}})
	if err != nil {
		t.Fatalf("real Loki: %v", err)
	}
	defer s.Stop()
	h := host.Start(t,
		host.Instance{"url": s.PushURL(), "labels": "test=nosm"},
		host.Instance{"url": s.PushURL(), "labels": "test=nosm_off", "structured_metadata_defaults": "off"})
	if rc := h.Flush(0, tag, eventtest.Chunk(true, fargate("nosm", 3)...)); rc != host.FLB_OK {
		t.Fatalf("rc %d\n%s", rc, h.Logs())
	}
	if !strings.Contains(h.Logs(), "set structured_metadata_defaults off") {
		t.Errorf("want the fix named in the 400's line:\n%s", h.Logs())
	}
	if rc := h.Flush(1, tag, eventtest.Chunk(true, fargate("nosm_off", 3)...)); rc != host.FLB_OK {
		t.Fatalf("rc %d\n%s", rc, h.Logs())
	}
	streams, err := s.WaitFor(ctx, "", `{test="nosm_off"}`, 3, queryLimit)
	if err != nil {
		t.Fatalf("%v\n%s", err, h.Logs())
	}
	for _, st := range streams {
		if st.Labels["namespace"] == "" || st.Labels["container"] == "" {
			t.Errorf("labels %v: want the Kubernetes labels kept", st.Labels)
		}
	}
}
