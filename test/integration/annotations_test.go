package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	fg "github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/host"
)

// annotatedChunk is the annotated pod's lines as the router makes them,
// each tagged with the test so queries see only its records.
func annotatedChunk(test string) []byte {
	p := fg.AnnotatedPod()
	p.Labels["test"] = test
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	var events []eventtest.Event
	for i, text := range fg.AnnotatedLines {
		l := fg.Line{Time: base.Add(time.Duration(i) * time.Millisecond), Stream: "stdout", Text: text}
		events = append(events, eventtest.Event{Time: l.Time, Body: fg.Record(p, l)})
	}
	return eventtest.Chunk(true, events...)
}

// What the pod's annotations ask arrives in Datadog as the Agent would send
// it: the excluded line never, the secret masked, the tags of its labels
// and annotations, and the trace ids in Datadog's form.
func TestDatadogHonoursPodAnnotations(t *testing.T) {
	s := intake(t)
	h := ddHost(t, s, host.Instance{"cluster_name": "it"})
	p := fg.AnnotatedPod()
	if rc := h.Flush(0, p.Tag(), annotatedChunk(t.Name())); rc != host.FLB_OK {
		t.Fatalf("rc %d\n%s", rc, h.Logs())
	}
	entries, err := s.WaitEntries(2, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // nothing more may arrive
	if got := s.Entries(); len(got) != 2 {
		t.Fatalf("%d logs arrived, want 2 (the health check excluded)", len(got))
	}
	for _, e := range entries {
		raw, _ := json.Marshal(e.Attrs)
		t.Logf("arrived: %s", raw)
		if strings.Contains(string(raw), "s3cr3tT0ken") || strings.Contains(string(raw), "healthz") {
			t.Errorf("an excluded line or a masked secret arrived: %s", raw)
		}
		for _, tag := range []string{"kube_cluster_name:it", "env:prod", "service:cart", "version:2.0.1", "team:checkout",
			"tier:web", "tier:critical", "cost-center:cc-42", "display_container_name:cart_" + p.Name, "eks_fargate_node:" + p.Node} {
			if !slices.Contains(e.DDTags, tag) {
				t.Errorf("tag %s missing: %v", tag, e.DDTags)
			}
		}
		if e.DDSource != "java" || e.Service != "cart-api" {
			t.Errorf("ddsource %q service %q, want the annotation's java, cart-api", e.DDSource, e.Service)
		}
	}
	if m := entries[0].Message; m != "login ok for user 42 token=[masked]" {
		t.Errorf("message %q, want the token masked", m)
	}
	if tr, sp := entries[1].Attrs["dd.trace_id"], entries[1].Attrs["dd.span_id"]; tr != "11803532876627986230" || sp != "67667974448284343" {
		t.Errorf("dd.trace_id %v dd.span_id %v, want the OpenTelemetry ids' lower 64 bits in decimal", tr, sp)
	}
	h.Close()
	logs := h.Logs()
	for _, want := range []string{"records_filtered=1", `rule "broken"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// With pod_log_rules on, the same annotation protects Loki, and the trace
// ids arrive as structured metadata.
func TestLokiHonoursPodLogRules(t *testing.T) {
	s := loki(t)
	h := host.Start(t, host.Instance{"url": s.PushURL(), "pod_log_rules": "on", "labels": "test=$kubernetes['labels']['test']"})
	p := fg.AnnotatedPod()
	if rc := h.Flush(0, p.Tag(), annotatedChunk(t.Name())); rc != host.FLB_OK {
		t.Fatalf("rc %d\n%s", rc, h.Logs())
	}
	streams, err := s.WaitFor(ctx, "", fmt.Sprintf(`{test=%q}`, t.Name()), 2, queryLimit)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, st := range streams {
		for _, e := range st.Entries {
			t.Logf("arrived: %v %q %v", st.Labels, e.Line, e.Metadata)
			lines = append(lines, e.Line)
			if strings.HasPrefix(e.Line, "{") && (e.Metadata["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || e.Metadata["span_id"] != "00f067aa0ba902b7") {
				t.Errorf("trace metadata %v", e.Metadata)
			}
		}
	}
	want := []string{"login ok for user 42 token=[masked]", fg.AnnotatedLines[2]}
	if !slices.Equal(lines, want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
}
