package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/test/host"
	"github.com/kubeship/kubeship/test/proc"
)

// rssMB reads a process's resident memory in whole MB.
func rssMB(t *testing.T, pid int) int {
	t.Helper()
	mb, err := proc.MemoryMB(pid, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	return int(mb)
}

// One 32 MB record (its line cut to 256 KB) grows buffers to its size;
// they are not kept, so the process's memory returns to about its level
// before it while ordinary chunks keep flowing.
func TestHugeRecordMemoryReturns(t *testing.T) {
	s := loki(t)
	h := host.Start(t, host.Instance{"url": s.PushURL(), "labels": "test=huge"})
	small := func() {
		if rc := h.Flush(0, tag, eventtest.Chunk(true, fargate("huge", 200)...)); rc != host.FLB_OK {
			t.Fatalf("rc %d\n%s", rc, h.Logs())
		}
	}
	for range 20 {
		small()
	}
	before := rssMB(t, h.PID())
	body := fargate("huge", 1)[0]
	body.Body.(map[string]any)["log"] = strings.Repeat("x", 32<<20)
	if rc := h.Flush(0, tag, eventtest.Chunk(true, body)); rc != host.FLB_OK {
		t.Fatalf("rc %d\n%s", rc, h.Logs())
	}
	peak := rssMB(t, h.PID())
	after := peak
	for end := time.Now().Add(90 * time.Second); time.Now().Before(end); {
		small()
		if after = rssMB(t, h.PID()); after <= before+16 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("RSS %d MB before the 32 MB record, %d MB after it, %d MB later", before, peak, after)
	if after > before+16 {
		t.Errorf("RSS stays at %d MB, %d MB before the huge record", after, before)
	}
}
