package integration

import (
	"strings"
	"testing"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/test/host"
)

// Fluent Bit's hot reload exits every instance and starts new ones: the
// new ones deliver, the old ones are forgotten (their sinks can be freed),
// and a flush that names an instance kubeship does not know hands the chunk
// back (FLB_RETRY) instead of dropping it.
func TestHotReloadRetiresOldInstances(t *testing.T) {
	s := loki(t)
	h := host.Start(t, host.Instance{"url": s.PushURL(), "labels": "test=reload"})
	events := fargate("reload", 10)
	if rc := h.Flush(0, tag, eventtest.Chunk(true, events[:5]...)); rc != host.FLB_OK {
		t.Fatalf("before reload: rc %d\n%s", rc, h.Logs())
	}
	h.Reload()
	if rc := h.Flush(0, tag, eventtest.Chunk(true, events[5:]...)); rc != host.FLB_OK {
		t.Fatalf("after reload: rc %d\n%s", rc, h.Logs())
	}
	if _, err := s.WaitFor(ctx, "", `{test="reload"}`, 10, queryLimit); err != nil {
		t.Fatal(err)
	}
	if rc := h.FlushStale(0, tag, eventtest.Chunk(true, events[:1]...)); rc != host.FLB_RETRY {
		t.Errorf("flush with the retired instance's context: rc %d, want FLB_RETRY (%d)", rc, host.FLB_RETRY)
	}
	if !strings.Contains(h.Logs(), "[error] [output:kubeship] flush for an unknown instance") {
		t.Errorf("want one line about the unknown instance:\n%s", h.Logs())
	}
}
