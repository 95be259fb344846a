package chart

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/lokiserver"
)

// A rolling restart of the aggregator while lines flow: the router sends
// to aggregator A (the rendered Loki example); A gets SIGTERM, drains
// within its Grace and exits; its replacement B, a new pod with a new
// emptyDir, starts on the same address. The router retries what A refused
// (Retry_Limit False), so with Loki reachable every line written arrives:
// this is the worst case of a rollout, with no other replica to take the
// hop meanwhile. Duplicates are counted and reported.
func TestRollingRestartLosesNothing(t *testing.T) {
	eachRouter(t, func(t *testing.T, r router) {
		e := newEnv(t)
		s := lokiserver.Shared(t, lokiserver.Options{})
		port, err := lokiserver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		dirA, dirB := filepath.Join(e.dir, "aggregator-a"), filepath.Join(e.dir, "aggregator-b")
		confA := e.aggregatorConfig("fargate-loki", dirA, port, s.PushURL(), "", "")
		grace := graceOf(t, confA)
		a := e.startAggregator("aggregator-a", confA)
		e.startRouter(r, "fargate-loki", port)

		const perTick = 5 // lines per pod every 100ms: 50 lines/s per pod
		tick := func(d time.Duration) {
			for end := time.Now().Add(d); time.Now().Before(end); {
				e.write(perTick)
				time.Sleep(100 * time.Millisecond)
			}
		}
		tick(5 * time.Second)

		// SIGTERM, as the kubelet sends it after the preStop sleep; lines
		// keep coming while A drains.
		stopped := make(chan struct{})
		var took time.Duration
		var killed bool
		go func() {
			start := time.Now()
			killed = a.Process.Stop(syscall.SIGTERM, time.Duration(grace+5)*time.Second)
			took = time.Since(start)
			close(stopped)
		}()
		for waiting := true; waiting; {
			select {
			case <-stopped:
				waiting = false
			default:
				tick(100 * time.Millisecond)
			}
		}
		if killed {
			t.Errorf("aggregator A did not exit within Grace %ds + 5s of SIGTERM: the kubelet would have killed it", grace)
		}
		t.Logf("aggregator A exited %s after SIGTERM (Grace %ds)", took.Round(10*time.Millisecond), grace)

		confB := e.aggregatorConfig("fargate-loki", dirB, port, s.PushURL(), "", "")
		e.startAggregator("aggregator-b", confB)
		tick(5 * time.Second)

		written := len(e.lines)
		counts := e.waitLoki(t, s, 180*time.Second)
		stored, dups := 0, 0
		for text := range e.lines {
			if n := counts[text]; n > 0 {
				stored++
				dups += n - 1
			}
		}
		t.Logf("rolling restart, router %s: %d lines written, %d stored, %d lost, %d duplicates", r.version, written, stored, written-stored, dups)
		if stored != written {
			t.Errorf("%d of %d lines lost across the restart", written-stored, written)
		}
		e.noSelfLines(s)
	})
}

// graceOf reads [SERVICE] Grace of a rendered configuration.
func graceOf(t *testing.T, conf string) int {
	t.Helper()
	for _, l := range strings.Split(conf, "\n") {
		if f := strings.Fields(l); len(f) == 2 && strings.EqualFold(f[0], "grace") {
			var n int
			if _, err := fmt.Sscan(f[1], &n); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no Grace in the rendered configuration:\n%s", conf)
	return 0
}

// waitLoki reads back each pod's lines of this run (one query per pod,
// within Loki's 5,000-entry limit) until every line written is there or
// the timeout passes, and returns how often each line arrived.
func (e *env) waitLoki(t *testing.T, s *lokiserver.Server, timeout time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		counts := map[string]int{}
		for _, p := range e.pods {
			streams, err := s.Query(ctx, "", fmt.Sprintf(`{run=%q, container=%q}`, e.run, p.Container))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, st := range streams {
				for _, en := range st.Entries {
					counts[en.Line]++
					n++
				}
			}
			if n >= 5000 {
				t.Fatalf("%s: 5,000 entries or more: Loki's query limit hides the rest; write fewer", p.Name)
			}
		}
		missing := 0
		for text := range e.lines {
			if counts[text] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return counts
		}
		time.Sleep(time.Second)
	}
}
